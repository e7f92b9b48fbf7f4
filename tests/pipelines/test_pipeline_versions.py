"""Versions as Dagster partitions: the catalog sensor mirrors every version, check and decision, wherever recorded."""

from __future__ import annotations

import pytest
from dagster import AssetCheckKey, AssetKey
from dagster._core.event_api import PartitionKeyFilter

from registry_core import Decision, Stage
from registry_pipelines.jobs import decision_launch
from registry_pipelines.metadata import markdown_name, protected_aliases_markdown

from .steps import MODEL, REVIEWER, decide, sync_versions, to_production, to_staging

VERSION_ASSET = AssetKey(["fraud_detector", "model_version"])


def latest(instance, partition: str):
    """The newest materialization of one version's partition."""
    records = instance.fetch_materializations(VERSION_ASSET, limit=100).records
    return next(r for r in records if r.partition_key == partition).asset_materialization


def check_result(instance, name: str, partition: str):
    """The latest evaluation of a version check on one partition, as the Checks tab shows it."""
    records = instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(VERSION_ASSET, name), limit=1, partition_filter=PartitionKeyFilter(key=partition)
    )
    return records[0].event.dagster_event.event_specific_data if records else None


def test_a_version_registered_from_the_api_gets_its_partition(lifecycle, pipeline, catalog, model_file, instance):
    """Registered outside Dagster (the CLI, the API): the next tick adds partition '2' and a run reports it."""
    catalog.register(MODEL, model_file)
    first = sync_versions(lifecycle, pipeline)
    assert not first.runs  # history: shown as found, nothing launched
    assert "as found when the sensor started" in latest(instance, "1").description
    (model_file.parent / "other.bin").write_bytes(b"other bytes")
    catalog.register(MODEL, model_file.parent / "other.bin")
    [run] = sync_versions(lifecycle, pipeline).runs
    assert run.success
    assert lifecycle.partition_keys("fraud_detector_versions") == ["1", "2"]
    materialized = latest(instance, "2")
    assert materialized.metadata["stage"].value == "None"
    assert materialized.metadata["registered by"].value == "admin"
    assert "changed outside Dagster" in materialized.description


def test_the_version_partition_follows_its_stage_and_shows_what_it_awaits(lifecycle, pipeline, instance):
    """After validation and shadow evaluation the partition says Staging and that it awaits a decision."""
    to_staging(lifecycle, pipeline)
    metadata = latest(instance, "1").metadata
    assert metadata["stage"].value == "Staging"
    assert metadata["awaiting"].value == "a decision: approve or reject"
    assert "1 approval(s) required" in metadata["still needed for Production"].value
    assert "holdout metrics (training run)" in metadata
    assert "evaluation metrics (recent data, validation run)" in metadata
    sync_versions(lifecycle, pipeline)
    assert lifecycle.partition_keys("fraud_detector_awaiting_decision") == ["1"]


def test_the_metric_tables_show_each_metrics_gate(lifecycle, pipeline, instance):
    """A gated metric's row shows its gate (operator and threshold) and whether it holds; an ungated one shows none."""
    to_production(lifecycle, pipeline)
    gates = {gate.metric: f"{gate.operator} {gate.threshold:g}" for gate in pipeline.gates}
    assert gates
    version_card = latest(instance, "1").metadata
    production = instance.get_latest_materialization_event(
        AssetKey(["fraud_detector", "production_model"])
    ).asset_materialization.metadata
    for table in (
        version_card["holdout metrics (training run)"], version_card["evaluation metrics (recent data, validation run)"],
        production["metrics"],
    ):
        rows = {row.data["metric"]: row.data for row in table.value.records}
        for metric, gate in gates.items():
            assert rows[metric]["gate"] == gate and rows[metric]["passed"] in ("yes", "NO"), metric
        assert all(rows[m]["gate"] == "–" for m in rows if m not in gates)


def test_checks_recorded_by_runs_appear_on_the_version_partition(lifecycle, pipeline, instance):
    """The data-quality suite, each metric gate and the shadow evaluation are asset checks on partition '1'."""
    to_staging(lifecycle, pipeline)
    for name in ("data_quality", "metric_roc_auc", "metric_average_precision", "shadow_evaluation"):
        evaluation = check_result(instance, name, "1")
        assert evaluation is not None and evaluation.passed, name
    assert "no Production version yet" in check_result(instance, "shadow_evaluation", "1").description


def test_a_check_recorded_from_the_cli_appears_too(lifecycle, pipeline, catalog, instance):
    """A failing result recorded outside Dagster shows as a failed check, and the version leaves the decision list."""
    to_staging(lifecycle, pipeline)
    sync_versions(lifecycle, pipeline)
    catalog.record_check(MODEL, 1, "data_quality", passed=False, details={"summary": "late labels found by hand"})
    [run] = sync_versions(lifecycle, pipeline).runs
    assert run.success
    evaluation = check_result(instance, "data_quality", "1")
    assert not evaluation.passed
    assert evaluation.description == "late labels found by hand"
    card = latest(instance, "1").metadata["checks"].value
    assert "- **data_quality**: **FAILED** · late labels found by hand (recorded by admin)" in card.splitlines()
    assert lifecycle.partition_keys("fraud_detector_awaiting_decision") == []


def test_decisions_show_on_the_version_and_a_rejection_leaves_the_list(lifecycle, pipeline, catalog, instance):
    """A rejection is recorded with who decided; the version no longer awaits a decision."""
    to_staging(lifecycle, pipeline)
    assert decide(lifecycle, 1, decision=Decision.REJECT, pipeline=pipeline, comment="too many false positives").success
    sync_versions(lifecycle, pipeline)
    metadata = latest(instance, "1").metadata
    assert f"**reject** by `{REVIEWER}`: too many false positives" in metadata["approvals"].value
    assert lifecycle.partition_keys("fraud_detector_awaiting_decision") == []
    assert catalog.get_version(MODEL, 1).stage is Stage.STAGING


def test_approval_runs_carry_decision_approver_and_version_as_tags(lifecycle, pipeline, instance):
    """Set at launch, not from inside the op: the run list tells approvals and rejections apart."""
    to_staging(lifecycle, pipeline)
    result = decide(lifecycle, 1, pipeline=pipeline)
    tags = instance.get_run_by_id(result.run_id).tags
    assert (tags["registry/decision"], tags["registry/approver"], tags["registry/version"]) == ("approve", REVIEWER, "1")
    assert tags["dagster/partition"] == "1"


def test_a_launchpad_decision_gets_its_approver_tag_from_the_config(lifecycle, pipeline, instance):
    """The Launchpad sets only the job's tags and the partition; the run adds the approver it was given."""
    from dataclasses import replace

    to_staging(lifecycle, pipeline)
    sync_versions(lifecycle, pipeline)
    launch = decision_launch(pipeline, 1, "second-reviewer", Decision.REJECT, "not yet")
    result = lifecycle.launch(replace(launch, tags={}))
    tags = instance.get_run_by_id(result.run_id).tags
    assert result.success
    assert (tags["registry/decision"], tags["registry/approver"], tags["registry/version"]) == (
        "reject", "second-reviewer", "1")


def test_a_decisions_comment_shows_as_written_never_as_a_link(lifecycle, pipeline, instance):
    """A comment crafted as a Markdown link (to a look-alike Launchpad, say) is shown as text on the card."""
    to_staging(lifecycle, pipeline)
    comment = "[Approve version 2](https://attacker.example/launchpad) *now*"
    assert decide(lifecycle, 1, decision=Decision.REJECT, pipeline=pipeline, comment=comment).success
    sync_versions(lifecycle, pipeline)
    shown = latest(instance, "1").metadata["approvals"].value
    assert "](https://attacker.example" not in shown
    assert r"\[Approve version 2\]\(https://attacker.example/launchpad\) \*now\*" in shown


def test_promotion_archives_the_previous_version_partition_too(lifecycle, pipeline, instance):
    """v2's promotion re-materializes v1's partition as Archived, and v1 joins the rollback list."""
    to_production(lifecycle, pipeline)
    to_production(lifecycle, pipeline, n_estimators=80)
    sync_versions(lifecycle, pipeline)
    assert latest(instance, "1").metadata["stage"].value == "Archived"
    assert latest(instance, "2").metadata["stage"].value == "Production"
    assert lifecycle.partition_keys("fraud_detector_rollback_targets") == ["1"]


def test_identical_bytes_are_named_and_loud_after_a_rollback(lifecycle, pipeline, catalog, instance):
    """v3 trained like v2 (rolled back out of Production) is byte-identical to it: a failing, non-blocking check."""
    from .steps import roll_back

    to_production(lifecycle, pipeline)
    to_production(lifecycle, pipeline, n_estimators=80)
    assert roll_back(lifecycle, pipeline, 1, "alerts doubled").success
    to_staging(lifecycle, pipeline, n_estimators=80)
    evaluation = check_result(instance, "identical_artifact", "3")
    assert not evaluation.passed
    assert evaluation.severity.value == "WARN"
    assert "byte-identical to version 2" in evaluation.description
    assert "rolled back out of Production" in evaluation.description
    assert "byte-identical to version 2" in latest(instance, "3").metadata["identical artifact"].value
    assert [g.name for g in catalog.unmet_gates(MODEL, 3, "Production")] == ["approvals"]  # informs, never blocks


def test_a_new_artifact_passes_the_identical_check(lifecycle, pipeline, instance):
    to_staging(lifecycle, pipeline)
    evaluation = check_result(instance, "identical_artifact", "1")
    assert evaluation.passed
    assert "not identical to any earlier version" in evaluation.description


def test_the_version_card_shows_the_protected_aliases_pointing_at_it(lifecycle, pipeline, catalog, instance):
    """Moving a protected alias (from the CLI or MLflow) updates the card: which alias, who, what it was gated on."""
    to_production(lifecycle, pipeline)
    sync_versions(lifecycle, pipeline)
    assert latest(instance, "1").metadata["protected aliases"].value == "_none_"
    catalog.set_policy(MODEL, protect_aliases=["champion"])
    catalog.as_actor("ops").set_alias(MODEL, "champion", 1)
    [run] = sync_versions(lifecycle, pipeline).runs
    assert run.success
    card = latest(instance, "1").metadata["protected aliases"].value
    assert card.startswith("- **@champion**: set by `ops` at ")
    assert card.endswith(f"UTC, approvals counted: `{REVIEWER}`")


def test_the_version_card_shows_who_moved_and_approved_as_names_not_markup(catalog, tmp_path):
    """A name is any visible text: on the card it is a name, never a link, and two names never read as one or three."""
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"weights")
    catalog.register(MODEL, artifact)
    catalog.set_policy(MODEL, protect_aliases=["champion"])
    catalog.as_actor("carol, dave").approve(MODEL, 1)
    catalog.as_actor("[ops](https://evil.example)").set_alias(MODEL, "champion", 1)
    card = protected_aliases_markdown(catalog.show(f"models:/{MODEL}@champion"))
    assert card.startswith("- **@champion**: set by `[ops](https://evil.example)` at ")
    assert card.endswith("UTC, approvals counted: `carol, dave`")


@pytest.mark.parametrize(("name", "shown"), [
    ("plain", "`plain`"),
    ("a`b", "``a`b``"),
    ("`edge``", "``` `edge`` ```"),
])
def test_a_name_on_the_card_is_one_code_span_whatever_backticks_it_holds(name, shown):
    assert markdown_name(name) == shown


def test_the_version_card_says_when_its_protected_alias_no_longer_meets_the_gates(lifecycle, pipeline, catalog,
                                                                                   instance):
    """A check that fails after the alias was set shows on the card: serving no longer follows that alias."""
    to_production(lifecycle, pipeline)
    catalog.set_policy(MODEL, protect_aliases=["champion"])
    catalog.set_alias(MODEL, "champion", 1)
    catalog.record_check(MODEL, 1, "drift", passed=False)
    [run] = sync_versions(lifecycle, pipeline).runs
    assert run.success
    card = latest(instance, "1").metadata["protected aliases"].value
    assert card.endswith("\n- @champion no longer meets the gates (serving does not follow it): check 'drift' failed")

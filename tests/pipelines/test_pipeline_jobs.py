"""Each lifecycle job on its own: what it records in the catalog, and what a refusal looks like in the run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, MarkdownMetadataValue, TableMetadataValue
from hostile_estimators import CodeOnUnpickle

from registry_core import Decision, Stage
from registry_pipelines.jobs import promotion_run_config, redeploy_run_config
from registry_pipelines.model_pipeline import DATA_QUALITY_CHECK, SHADOW_CHECK
from registry_pipelines.testing import InProcessLifecycle, failure_message

from .steps import MODEL, REVIEWER, decide, retrain, roll_back, sync_versions, tick, to_production, to_staging


def checks_of(catalog, version: int) -> dict[str, bool]:
    return {check.name: check.passed for check in catalog.show(f"models:/{MODEL}/{version}").checks}


# --- retrain ----------------------------------------------------------------------------------


def test_retrain_registers_candidate_with_lineage(lifecycle, pipeline, catalog, instance):
    """A retraining run registers version 1 in stage None with run id, asset key, code version, digest, params, metrics, signature."""
    result = retrain(lifecycle, pipeline, n_estimators=30)
    assert result.success
    version = catalog.get_version(MODEL, 1)
    assert version.stage is Stage.NONE
    assert version.registered_by == "dagster"
    assert version.run_id == result.run_id
    assert version.tags["dagster/asset_key"] == "fraud_detector/candidate_model"
    assert version.tags["dagster/code_version"] == pipeline.training_code_version
    assert version.dataset_digest.startswith("sha256:")
    assert version.params["n_estimators"] == "30"
    assert version.metrics["roc_auc"] > 0.85
    assert [column["name"] for column in version.signature["inputs"]][-1] == "amount"
    assert version.model_card.startswith("# fraud-detector")
    assert catalog.get_policy(MODEL).staging_checks == pipeline.staging_checks


def test_retrain_materialization_uses_rich_metadata(lifecycle, pipeline, instance):
    """The candidate's materialization carries a metrics table, the model card as Markdown and a link to its run."""
    result = retrain(lifecycle, pipeline)
    event = instance.get_latest_materialization_event(AssetKey(["fraud_detector", "candidate_model"]))
    metadata = event.asset_materialization.metadata
    assert isinstance(metadata["holdout metrics (training run)"], TableMetadataValue)
    assert isinstance(metadata["model card"], MarkdownMetadataValue)
    assert metadata["training run"].value == result.run_id
    assert metadata["version"].value == "1"


def test_the_candidates_card_says_how_the_model_is_stored(lifecycle, pipeline, instance):
    """The version card in the Dagster UI shows the serialization: skops, needing no type beyond scikit-learn's."""
    retrain(lifecycle, pipeline)
    event = instance.get_latest_materialization_event(AssetKey(["fraud_detector", "candidate_model"]))
    assert event.asset_materialization.metadata["serialization"].value == "skops"


def test_retrain_on_data_failing_its_expectations_registers_nothing(
    lifecycle, pipeline, training_data, catalog_snapshot, registry_resource
):
    """The blocking expectation check fails the run before training: no version, no blob, no audit event."""
    retrain(lifecycle, pipeline)  # version 1, so that the catalog exists
    before = catalog_snapshot()
    broken = training_data.frame.copy()
    broken.loc[broken.index[:25], "amount"] = None
    training_data.frame = broken
    result = retrain(lifecycle, pipeline)
    assert not result.success
    assert "blocking asset check" in failure_message(result)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert "expect_column_values_to_not_be_null on amount: FAILED" in evaluation.description
    assert catalog_snapshot() == before


# --- validation -------------------------------------------------------------------------------


def test_validation_moves_passing_candidate_to_staging(lifecycle, pipeline, catalog):
    """The suite and every metric gate pass: each recorded as a check, then Staging and, in the same run, the shadow evaluation."""
    retrain(lifecycle, pipeline)
    outcome = tick(lifecycle, pipeline, "on_new_candidate")
    assert outcome.succeeded
    assert catalog.get_version(MODEL, 1).stage is Stage.STAGING
    assert checks_of(catalog, 1) == {
        DATA_QUALITY_CHECK: True, "metric.roc_auc": True, "metric.average_precision": True, SHADOW_CHECK: True,
    }


def test_validation_keeps_candidate_out_when_evaluation_data_fails_expectations(make_pipeline, registry_resource, instance, catalog):
    """Evaluation data failing the suite: data_quality recorded as failed, the version stays a candidate, the run says why."""
    from registry_pipelines import build_registry_definitions
    from registry_pipelines.fraud import load_recent_transactions

    def broken_recent() -> pd.DataFrame:
        frame = load_recent_transactions()
        frame.loc[frame.index[:10], "amount"] = -5.0
        return frame

    pipeline = make_pipeline(load_evaluation_data=broken_recent)
    lifecycle = InProcessLifecycle(build_registry_definitions(pipeline, registry=registry_resource), instance, log_level="CRITICAL")
    retrain(lifecycle, pipeline)
    [run] = tick(lifecycle, pipeline, "on_new_candidate").runs
    assert not run.success
    message = failure_message(run)
    assert message.startswith("models:/fraud-detector/1 stays out of Staging: data_quality failed")
    assert "expect_column_values_to_be_between on amount: FAILED" in message
    assert catalog.get_version(MODEL, 1).stage is Stage.NONE
    assert checks_of(catalog, 1) == {DATA_QUALITY_CHECK: False}


def test_validation_keeps_candidate_out_when_a_metric_gate_fails(make_pipeline, registry_resource, instance, catalog):
    """A metric below its gate: recorded as a failed check, named in the run's failure, the version stays a candidate."""
    from registry_pipelines import build_registry_definitions

    pipeline = make_pipeline(metric_gates={"roc_auc": (">=", 0.999)})
    lifecycle = InProcessLifecycle(build_registry_definitions(pipeline, registry=registry_resource), instance, log_level="CRITICAL")
    retrain(lifecycle, pipeline)
    [run] = tick(lifecycle, pipeline, "on_new_candidate").runs
    assert "metric.roc_auc failed: roc_auc = 0.9" in failure_message(run)
    assert catalog.get_version(MODEL, 1).stage is Stage.NONE
    assert checks_of(catalog, 1) == {DATA_QUALITY_CHECK: True, "metric.roc_auc": False}


# --- shadow evaluation ------------------------------------------------------------------------


def test_shadow_evaluation_without_production_passes_and_says_so(lifecycle, pipeline, catalog):
    """The first version has nothing to be compared with: the check passes and its details say so."""
    to_staging(lifecycle, pipeline)
    [shadow] = [c for c in catalog.show(f"models:/{MODEL}/1").checks if c.name == SHADOW_CHECK]
    assert shadow.passed
    assert shadow.details["summary"].startswith("no Production version yet")
    assert shadow.details["production_version"] is None


def test_shadow_evaluation_compares_with_production(lifecycle, pipeline, catalog):
    """A second version is scored beside the Production one: deltas, prediction agreement and latency recorded."""
    to_production(lifecycle, pipeline)
    to_staging(lifecycle, pipeline, n_estimators=80, max_depth=7)
    [shadow] = [c for c in catalog.show(f"models:/{MODEL}/2").checks if c.name == SHADOW_CHECK]
    assert shadow.passed
    assert shadow.details["production_version"] == 1
    assert set(shadow.details["deltas"]) >= {"roc_auc", "average_precision"}
    assert 0.5 < shadow.details["agreement"] <= 1.0
    assert shadow.details["candidate_latency_ms"] > 0


def test_shadow_evaluation_fails_a_candidate_worse_than_production(make_pipeline, registry_resource, instance, catalog):
    """A candidate worse than Production beyond the tolerance fails its shadow check and cannot be promoted."""
    from registry_pipelines import build_registry_definitions

    pipeline = make_pipeline(metric_gates={"roc_auc": (">=", 0.5)}, shadow_tolerance=0.0)
    lifecycle = InProcessLifecycle(build_registry_definitions(pipeline, registry=registry_resource), instance, log_level="CRITICAL")
    to_production(lifecycle, pipeline)
    retrain(lifecycle, pipeline, n_estimators=1, max_depth=1)
    [run] = tick(lifecycle, pipeline, "on_new_candidate").runs
    assert "failed shadow evaluation" in failure_message(run)
    assert "roc_auc" in failure_message(run)
    assert SHADOW_CHECK in [g.name for g in catalog.unmet_gates(MODEL, 2, "Production")]


def test_shadow_evaluation_refuses_a_pickle_the_policy_does_not_allow_and_runs_none_of_its_code(
    lifecycle, pipeline, catalog, tmp_path: Path
):
    """A pickled Staging version whose model no longer allows pickle fails the run with the registry's reason, unloaded."""
    marker = tmp_path / "code-ran"
    catalog.create_model(MODEL)
    catalog.set_policy(MODEL, allow_pickle=True)
    catalog.register(MODEL, CodeOnUnpickle(str(marker)).fit([[0.0], [1.0]], [0, 1]), serialization="pickle")
    catalog.set_policy(MODEL, allow_pickle=False)
    catalog.transition(MODEL, 1, "Staging")
    [run] = tick(lifecycle, pipeline, "on_staging").runs
    assert not run.success
    assert failure_message(run) == (
        "cannot load the models to shadow-evaluate models:/fraud-detector/1: models:/fraud-detector/1 is a pickle, "
        "and loading a pickle runs whatever code it holds; the policy of 'fraud-detector' does not allow pickle. "
        "If you trust whoever registered it: registry policy fraud-detector --allow-pickle"
    )
    assert SHADOW_CHECK not in checks_of(catalog, 1)
    assert not marker.exists()


# --- approval and promotion -------------------------------------------------------------------


def test_promotion_without_approval_is_refused_and_changes_nothing(lifecycle, pipeline, catalog_snapshot):
    """The promote job on an unapproved version fails naming the unmet gate; the catalog is exactly as before."""
    to_staging(lifecycle, pipeline)
    before = catalog_snapshot()
    result = lifecycle.run(pipeline.job_name("promote"), promotion_run_config(pipeline, 1))
    assert not result.success
    assert failure_message(result) == (
        "fraud-detector version 1 was not promoted: cannot move fraud-detector version 1 to Production: "
        "1 gate(s) unmet: 1 approval(s) required, 0 eligible recorded"
    )
    assert catalog_snapshot() == before


def test_approval_by_the_registrant_is_refused(lifecycle, pipeline, catalog):
    """The pipeline registered the version, so it cannot approve it (default policy: no self-approval)."""
    to_staging(lifecycle, pipeline)
    result = decide(lifecycle, 1, approver="dagster", pipeline=pipeline)
    assert "may not approve it" in failure_message(result)
    assert catalog.show(f"models:/{MODEL}/1").decisions == []


def test_approval_by_someone_off_the_approvers_list_is_refused(lifecycle, pipeline, catalog):
    """With an approvers list, anyone else typing their name into the Launchpad is refused."""
    to_staging(lifecycle, pipeline)
    catalog.set_policy(MODEL, approvers=[REVIEWER])
    result = decide(lifecycle, 1, approver="mallory", pipeline=pipeline)
    assert not result.success
    assert "approval of fraud-detector version 1 by 'mallory' refused" in failure_message(result)
    assert not tick(lifecycle, pipeline, "on_approval").runs


def test_approval_without_an_approver_is_refused(lifecycle, pipeline, catalog):
    """A blank approver never falls back to the pipeline's own identity."""
    to_staging(lifecycle, pipeline)
    result = decide(lifecycle, 1, approver="  ", pipeline=pipeline)
    assert failure_message(result) == "approval of fraud-detector version 1 refused: name the approver"
    assert catalog.show(f"models:/{MODEL}/1").decisions == []


def test_approval_is_recorded_with_its_dagster_run(lifecycle, pipeline, catalog):
    """The approver's comment keeps a reference to the run it was submitted through."""
    to_staging(lifecycle, pipeline)
    result = decide(lifecycle, 1, pipeline=pipeline)
    [decision] = catalog.show(f"models:/{MODEL}/1").decisions
    assert (decision.approver, decision.decision) == (REVIEWER, "approve")
    assert result.run_id in decision.comment


def test_rejection_launches_no_promotion(lifecycle, pipeline, catalog):
    """A rejection is recorded; the approval sensor launches nothing and the version stays in Staging."""
    to_staging(lifecycle, pipeline)
    assert decide(lifecycle, 1, decision=Decision.REJECT, pipeline=pipeline).success
    assert not tick(lifecycle, pipeline, "on_approval").runs
    assert catalog.get_version(MODEL, 1).stage is Stage.STAGING


# --- rollback and redeploy --------------------------------------------------------------------


def test_rollback_returns_previous_version_and_redeploys_it(lifecycle, pipeline, catalog, deploy_endpoint):
    """The rollback job archives the current version; the Production sensor redeploys the previous one."""
    to_production(lifecycle, pipeline)
    to_production(lifecycle, pipeline, n_estimators=80)
    result = roll_back(lifecycle, pipeline, 1, "alerts doubled", requested_by="oncall")
    assert result.success
    assert catalog.resolve(f"models:/{MODEL}/Production").version == 1
    assert catalog.get_version(MODEL, 2).stage is Stage.ARCHIVED
    assert deploy_endpoint.received[-1]["version"] == 1
    assert deploy_endpoint.received[-1]["change"] == "rollback"
    assert deploy_endpoint.received[-1]["changed_by"] == "oncall"


def test_rollback_needs_a_reason_and_who_asks(lifecycle, pipeline, catalog):
    """A rollback without a reason, or without who asks, is refused before the catalog is touched."""
    to_production(lifecycle, pipeline)
    to_production(lifecycle, pipeline, n_estimators=80)
    result = roll_back(lifecycle, pipeline, 1, "  ")
    assert failure_message(result) == "rollback of fraud-detector to version 1 refused: it needs a reason"
    result = roll_back(lifecycle, pipeline, 1, "alerts doubled", requested_by=" ")
    assert failure_message(result) == "rollback of fraud-detector to version 1 refused: it needs who asks (requested_by)"
    assert catalog.resolve(f"models:/{MODEL}/Production").version == 2


def test_rollback_offers_only_formerly_production_versions(lifecycle, pipeline):
    """The rollback job's partitions are the archived versions that were in Production; nothing else can be picked."""
    to_production(lifecycle, pipeline)
    to_staging(lifecycle, pipeline, n_estimators=80)
    assert lifecycle.partition_keys("fraud_detector_rollback_targets") == []
    decide(lifecycle, 2, pipeline=pipeline)
    roll_back(lifecycle, pipeline, 1, "alerts doubled")
    sync_versions(lifecycle, pipeline)
    assert lifecycle.partition_keys("fraud_detector_rollback_targets") == ["2"]


def test_redeploy_retries_with_backoff_until_the_target_answers(lifecycle, pipeline, catalog, deploy_endpoint):
    """Two refusals, then success: deployed on the third attempt, recorded once as succeeded."""
    to_staging(lifecycle, pipeline)
    deploy_endpoint.fail_next = 2
    assert decide(lifecycle, 1, pipeline=pipeline).success
    [deployment] = [e for e in catalog.audit_events(MODEL) if e.action == "deployment.record"]
    assert deployment.after["succeeded"] is True
    assert deployment.after["details"]["attempts"] == 3
    assert deploy_endpoint.received[-1]["version"] == 1


def test_redeploy_fails_visibly_when_a_target_stays_down(lifecycle, pipeline, catalog, deploy_endpoint, instance):
    """A target down through every attempt: the run fails naming it, the failure is in the audit log, Production stands."""
    to_staging(lifecycle, pipeline)
    deploy_endpoint.down = True
    run = decide(lifecycle, 1, pipeline=pipeline)
    assert not run.success
    assert "deploy target(s) stayed down after 3 attempt(s)" in failure_message(run)
    assert "HTTP 503" in failure_message(run)
    [deployment] = [e for e in catalog.audit_events(MODEL) if e.action == "deployment.record"]
    assert deployment.after["succeeded"] is False
    assert catalog.resolve(f"models:/{MODEL}/Production").version == 1
    materialized = instance.get_latest_materialization_event(AssetKey(["fraud_detector", "production_model"]))
    assert materialized.asset_materialization.metadata["version"].value == "1"


def test_redeploy_of_a_superseded_version_deploys_nothing(lifecycle, pipeline, deploy_endpoint):
    """A redeploy for a version no longer in Production (a newer change won the race) notifies no one."""
    to_production(lifecycle, pipeline)
    to_production(lifecycle, pipeline, n_estimators=80)
    received = len(deploy_endpoint.received)
    result = lifecycle.run(pipeline.job_name("redeploy"), redeploy_run_config(pipeline, version=1))
    assert result.success
    assert len(deploy_endpoint.received) == received


@pytest.mark.parametrize("version", [None, 1])
def test_redeploy_by_hand_deploys_the_production_version(lifecycle, pipeline, deploy_endpoint, version):
    """Launched from the Launchpad, with or without a version, redeploy re-sends what is in Production."""
    to_production(lifecycle, pipeline)
    result = lifecycle.run(pipeline.job_name("redeploy"), redeploy_run_config(pipeline, version=version))
    assert result.success
    assert (deploy_endpoint.received[-1]["version"], deploy_endpoint.received[-1]["change"]) == (1, "redeploy")

"""The whole lifecycle in one deterministic test: every job executed and every sensor ticked for real, in order."""

from __future__ import annotations

from dagster import AssetKey

from registry_core import Stage
from registry_pipelines.jobs import promotion_run_config
from registry_pipelines.testing import failure_message

from .steps import MODEL, REVIEWER, decide, retrain, roll_back, sync_versions, tick


def test_candidate_to_production_to_rollback(
    lifecycle, pipeline, catalog, training_data, catalog_snapshot, deploy_endpoint, instance
):
    """blocked candidate -> v1 validated, shadowed, refused, approved, promoted, deployed -> v2 the same -> rollback."""
    # A candidate trained on data that fails its expectation suite never reaches the catalog.
    good = training_data.frame
    training_data.frame = good.assign(is_fraud=good["is_fraud"].where(good.index % 50 != 0, 2))
    before = catalog_snapshot()
    blocked = retrain(lifecycle, pipeline)
    assert not blocked.success
    [evaluation] = blocked.get_asset_check_evaluations()
    assert not evaluation.passed
    assert "expect_column_values_to_be_in_set on is_fraud: FAILED" in evaluation.description
    assert catalog_snapshot() == before
    assert not tick(lifecycle, pipeline, "on_new_candidate").run_requests

    # Version 1: materialize -> tick -> validation -> tick -> shadow evaluation.
    training_data.frame = good
    assert retrain(lifecycle, pipeline).success
    catalog.set_policy(MODEL, approvers=[REVIEWER])
    validated = tick(lifecycle, pipeline, "on_new_candidate")
    assert [r.tags["registry/version"] for r in validated.run_requests] == ["1"]
    assert validated.succeeded
    assert catalog.get_version(MODEL, 1).stage is Stage.STAGING
    shadowed = tick(lifecycle, pipeline, "on_staging")
    assert not shadowed.runs and "shadow-evaluated by its validation run" in shadowed.skip_reason
    assert [g.message for g in catalog.show(f"models:/{MODEL}/1").unmet_gates] == ["1 approval(s) required, 0 eligible recorded"]
    waiting = tick(lifecycle, pipeline, "on_approval")
    assert not waiting.run_requests
    assert "version 1 awaits: 1 approval(s) required" in waiting.skip_reason

    # Promotion without approval is refused, visibly, and writes nothing.
    before = catalog_snapshot()
    refused = lifecycle.run(pipeline.job_name("promote"), promotion_run_config(pipeline, 1))
    assert not refused.success
    assert "1 approval(s) required, 0 eligible recorded" in failure_message(refused)
    assert catalog_snapshot() == before

    # The approve run, chosen from the versions awaiting a decision, promotes and redeploys in the same run;
    # the promotion and Production-change sensors see it was done and launch nothing.
    sync_versions(lifecycle, pipeline)
    assert lifecycle.partition_keys("fraud_detector_awaiting_decision") == ["1"]
    assert decide(lifecycle, 1, pipeline=pipeline).success
    assert catalog.resolve(f"models:/{MODEL}/Production").version == 1
    assert [(c["version"], c["change"]) for c in deploy_endpoint.received] == [(1, "promotion")]
    assert not tick(lifecycle, pipeline, "on_approval").runs
    assert not tick(lifecycle, pipeline, "on_production_change").runs
    sync_versions(lifecycle, pipeline)
    assert lifecycle.partition_keys("fraud_detector_awaiting_decision") == []

    # Version 2 takes the same path; v1 is archived on promotion.
    assert retrain(lifecycle, pipeline, n_estimators=120, max_depth=8).success
    assert tick(lifecycle, pipeline, "on_new_candidate").succeeded
    assert not tick(lifecycle, pipeline, "on_staging").runs
    shadow = {c.name: c for c in catalog.show(f"models:/{MODEL}/2").checks}["shadow_evaluation"]
    assert shadow.passed and shadow.details["production_version"] == 1
    assert decide(lifecycle, 2, pipeline=pipeline).success
    assert catalog.get_version(MODEL, 1).stage is Stage.ARCHIVED
    assert catalog.get_version(MODEL, 2).stage is Stage.PRODUCTION

    # Roll back, to v1 picked from the formerly-Production versions: it returns to Production, redeployed in the run.
    sync_versions(lifecycle, pipeline)
    assert lifecycle.partition_keys("fraud_detector_rollback_targets") == ["1"]
    assert roll_back(lifecycle, pipeline, 1, "false positives doubled").success
    assert not tick(lifecycle, pipeline, "on_production_change").runs
    assert catalog.resolve(f"models:/{MODEL}/Production").version == 1
    assert [(c["version"], c["change"]) for c in deploy_endpoint.received] == [
        (1, "promotion"), (2, "promotion"), (1, "rollback"),
    ]

    # Dagster's asset history is the serving history, with who approved each version.
    history = instance.fetch_materializations(AssetKey(["fraud_detector", "production_model"]), limit=10).records
    changes = [
        (r.asset_materialization.metadata["version"].value, r.asset_materialization.metadata["change"].value)
        for r in reversed(history)
    ]
    assert changes == [("1", "promotion"), ("2", "promotion"), ("1", "rollback")]
    assert [r.asset_materialization.metadata["approved by"].value for r in history[1:]] == [REVIEWER, REVIEWER]
    rollback = history[0].asset_materialization.metadata
    assert "approved by" not in rollback  # the restored version's approval is history, not this change's
    assert rollback["originally approved by"].value == REVIEWER
    assert (rollback["changed by"].value, rollback["reason"].value.split(" (")[0]) == ("oncall", "false positives doubled")
    deployments = [e for e in catalog.audit_events(MODEL, limit=200) if e.action == "deployment.record"]
    assert [e.after["succeeded"] for e in deployments] == [True, True, True]

    # Nothing new: every sensor is idle, and the audit chain is intact.
    for sensor in ("on_new_candidate", "on_staging", "on_approval", "on_production_change"):
        assert not tick(lifecycle, pipeline, sensor).run_requests
    assert catalog.verify_audit().intact

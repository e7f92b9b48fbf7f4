"""Runs carry the tags of the request that launched them; no op adds tags to its own run."""

from __future__ import annotations

from dagster import AssetKey

from registry_core import Stage

from .steps import MODEL, REVIEWER, tick, to_staging


def test_a_sensor_launched_promotion_runs_with_its_request_tags_only(lifecycle, pipeline, catalog, instance):
    """The promotion run's tags are its request's and its job's: the op adds none while it runs."""
    version = to_staging(lifecycle, pipeline)
    catalog.as_actor(REVIEWER).approve(MODEL, version)  # outside Dagster: the approval sensor promotes
    promoted = tick(lifecycle, pipeline, "on_approval")
    [request], [result] = promoted.run_requests, promoted.runs
    assert result.success
    assert catalog.get_version(MODEL, version).stage is Stage.PRODUCTION
    assert request.tags["registry/model"] == MODEL
    assert request.tags["registry/version"] == str(version)
    assert request.tags["registry/trigger"] == "approval.record"
    run = instance.get_run_by_id(result.run_id)
    job_tags = lifecycle.defs.resolve_job_def(pipeline.job_name("promote")).tags
    added = set(run.tags) - set(request.tags) - set(job_tags)
    assert {tag for tag in added if not tag.startswith("dagster/")} == set()


def test_the_production_model_links_to_the_promotion_run_that_made_the_change(lifecycle, pipeline, catalog, instance):
    """The redeploy finds the run that promoted from the change's own audit event, not from a tag that run added."""
    version = to_staging(lifecycle, pipeline)
    catalog.as_actor(REVIEWER).approve(MODEL, version)
    [promotion] = tick(lifecycle, pipeline, "on_approval").runs
    [redeploy] = tick(lifecycle, pipeline, "on_production_change").runs
    assert redeploy.success
    event = instance.get_latest_materialization_event(AssetKey(["fraud_detector", "production_model"]))
    assert event.asset_materialization.metadata["change run"].value == promotion.run_id

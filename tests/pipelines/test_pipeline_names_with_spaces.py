"""A model named as MLflow allows ("Fraud Model (EU)") gets valid Dagster names and goes through the whole chain."""

from __future__ import annotations

import re

import pytest
from dagster import AssetKey, Definitions

from registry_core import Stage
from registry_pipelines import RegistryResource, build_registry_definitions
from registry_pipelines.model_pipeline import dagster_prefix
from registry_pipelines.testing import InProcessLifecycle

from .steps import REVIEWER, decide, retrain, roll_back, sync_versions, tick, to_staging

NAME = "Fraud Model (EU)"
DAGSTER_NAME = re.compile(r"[A-Za-z0-9_]+")


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("fraud-detector", "fraud_detector"),  # letters, digits, - and _ map as they always have
        ("churn_eu", "churn_eu"),
        ("Fraud Model (EU)", "Fraud_Model_EU_c1a616b9"),
        ("Fraud Model [EU]", "Fraud_Model_EU_6e0a8693"),
        ("fraud.detector", "fraud_detector_9fcb7f76"),
        ("a + b, c", "a_b_c_f80adedf"),
        ("(x)", "x_ec84ac67"),
    ],
)
def test_model_names_map_to_fixed_dagster_prefixes(name: str, prefix: str):
    """The prefix depends on the name alone (the same in every process and release) and is a valid Dagster name."""
    assert dagster_prefix(name) == prefix
    assert DAGSTER_NAME.fullmatch(prefix)


def test_names_differing_only_in_punctuation_live_side_by_side(make_pipeline, registry_resource):
    """"Fraud Model (EU)", "Fraud Model [EU]" and "Fraud.Model.EU" get distinct prefixes, so one location holds all three."""
    names = ["Fraud Model (EU)", "Fraud Model [EU]", "Fraud.Model.EU"]
    pipelines = [make_pipeline(name=name) for name in names]
    assert len({p.prefix for p in pipelines}) == 3
    defs = build_registry_definitions(*pipelines, registry=registry_resource)
    Definitions.validate_loadable(defs)
    for pipeline in pipelines:
        assert defs.resolve_job_def(pipeline.job_name("approve")).name == f"{pipeline.prefix}_approve"


def test_model_with_spaces_and_brackets_goes_from_candidate_to_production_and_back(
    make_pipeline, registry_resource: RegistryResource, instance, deploy_endpoint
):
    """retrain, validate, shadow, approve (promote + redeploy in the run), then promote and redeploy by the sensors, roll back."""
    pipeline = make_pipeline(name=NAME)
    defs = build_registry_definitions(pipeline, registry=registry_resource)
    Definitions.validate_loadable(defs)
    lifecycle = InProcessLifecycle(defs, instance, log_level="CRITICAL")
    prefix = pipeline.prefix
    assert prefix == "Fraud_Model_EU_c1a616b9"
    for job in defs.get_repository_def().get_all_jobs():
        assert DAGSTER_NAME.fullmatch(job.name), job.name
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        assert all(DAGSTER_NAME.fullmatch(part) for part in key.path), key
    # Shown as given: descriptions carry the model's own name.
    assert NAME in defs.resolve_job_def(pipeline.job_name("redeploy")).description
    assert NAME in defs.resolve_assets_def(AssetKey([prefix, "candidate_model"])).descriptions_by_key[
        AssetKey([prefix, "candidate_model"])]

    with registry_resource.open(actor="admin") as catalog:
        # Version 1: retrain, the sensor's validation run (which shadow-evaluates), then the approve run from the UI.
        assert to_staging(lifecycle, pipeline) == 1
        assert {c.name for c in catalog.show(f"models:/{NAME}/1").checks} >= {"data_quality", "shadow_evaluation"}
        sync_versions(lifecycle, pipeline)
        assert lifecycle.partition_keys(f"{prefix}_versions") == ["1"]
        assert lifecycle.partition_keys(f"{prefix}_awaiting_decision") == ["1"]
        assert decide(lifecycle, 1, pipeline=pipeline).success
        assert catalog.resolve(f"models:/{NAME}/Production").version == 1

        # Version 2: approved outside Dagster (the CLI), so the approval sensor promotes and the Production sensor redeploys.
        assert retrain(lifecycle, pipeline, n_estimators=60).success
        assert tick(lifecycle, pipeline, "on_new_candidate").succeeded
        assert catalog.get_version(NAME, 2).stage is Stage.STAGING
        with registry_resource.open(actor=REVIEWER) as reviewer:
            reviewer.approve(NAME, 2, comment="reviewed")
        promoted = tick(lifecycle, pipeline, "on_approval")
        assert [r.job_name for r in promoted.run_requests] == [f"{prefix}_promote"] and promoted.succeeded
        assert catalog.resolve(f"models:/{NAME}/Production").version == 2
        redeployed = tick(lifecycle, pipeline, "on_production_change")
        assert [r.job_name for r in redeployed.run_requests] == [f"{prefix}_redeploy"] and redeployed.succeeded

        # Roll back to version 1, picked from the formerly-Production versions.
        sync_versions(lifecycle, pipeline)
        assert lifecycle.partition_keys(f"{prefix}_rollback_targets") == ["1"]
        assert roll_back(lifecycle, pipeline, 1, "precision dropped").success
        assert catalog.resolve(f"models:/{NAME}/Production").version == 1

        assert [(c["model"], c["version"], c["change"]) for c in deploy_endpoint.received] == [
            (NAME, 1, "promotion"), (NAME, 2, "promotion"), (NAME, 1, "rollback"),
        ]
        deployments = [e for e in catalog.audit_events(NAME, limit=200) if e.action == "deployment.record"]
        assert [(e.version, e.after["succeeded"]) for e in deployments] == [(1, True), (2, True), (1, True)]
        assert catalog.verify_audit().intact

    # Dagster's history of the production model names the model as given.
    history = instance.fetch_materializations(AssetKey([prefix, "production_model"]), limit=10).records
    assert [r.asset_materialization.metadata["version"].value for r in reversed(history)] == ["1", "2", "1"]
    assert all(r.asset_materialization.partition is None for r in history)

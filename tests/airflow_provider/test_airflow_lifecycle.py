"""The fraud detector's lifecycle run by Airflow itself (``dag.test()``, a real metadata database) on real catalogs."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_core import AuditAction, Registry, Stage

from .conftest import AirflowDags, airflow_or_skip, asset_events

airflow_or_skip()

MODEL = "fraud-detector"
ASSET_URI = "model-registry://models/fraud-detector/production"


@pytest.fixture
def catalog(database_url: str, artifact_root: Path, registry_connection: str):
    with Registry(database_url, artifact_root, actor="alice") as registry:
        yield registry


def test_lifecycle_registers_validates_and_shadow_evaluates_with_its_dag_run_as_lineage(
    airflow_dags: AirflowDags, catalog: Registry,
):
    """Retrain, validate and shadow-evaluate run in Airflow; the version carries its DAG run, task and data digest."""
    states = airflow_dags.run_until_approval("fraud_detector_lifecycle")
    assert states == {"retrain": "success", "validate": "success", "shadow_evaluate": "success"}
    version = catalog.get_version(MODEL, 1)
    assert version.stage is Stage.STAGING
    assert version.registered_by == "airflow-pipeline"
    assert version.tags["airflow/dag_id"] == "fraud_detector_lifecycle"
    assert version.tags["airflow/task_id"] == "retrain"
    assert version.run_id == version.tags["airflow/run_id"]
    assert version.dataset_digest.startswith("sha256:")
    details = catalog.show(version.uri)
    assert {check.name: check.passed for check in details.checks} == {
        "data_quality": True, "metric.roc_auc": True, "metric.average_precision": True, "shadow_evaluation": True,
    }
    assert catalog.get_policy(MODEL).production_checks == ("shadow_evaluation",)
    assert catalog.verify_audit().intact


def test_promotion_after_an_approval_updates_the_production_asset(airflow_dags: AirflowDags, catalog: Registry):
    """A promotion by Airflow moves the version to Production and records an event on the model's asset."""
    airflow_dags.run_until_approval("fraud_detector_lifecycle")
    before = len(asset_events(ASSET_URI))
    catalog.as_actor("bob").approve(MODEL, 1, comment="looks right")
    assert airflow_dags.run("registry_promote", version=1) == {"promote": "success"}
    assert catalog.resolve(f"models:/{MODEL}/Production").version == 1
    (promoted,) = catalog.audit_events(MODEL, actions=[AuditAction.VERSION_PROMOTE])
    assert promoted.actor == "airflow-pipeline"
    assert "Airflow DAG registry_promote" in promoted.after["reason"]
    events = asset_events(ASSET_URI)
    assert len(events) == before + 1
    assert events[-1] == {"model": MODEL, "version": 1, "previous": None, "audit_seq": promoted.seq}


def test_promotion_without_an_approval_fails_the_task_and_changes_nothing(
    airflow_dags: AirflowDags, catalog: Registry,
):
    """The registry's gates hold for Airflow: an unapproved version stays in Staging and no asset event is sent."""
    airflow_dags.run_until_approval("fraud_detector_lifecycle")
    before_events, before_seq = len(asset_events(ASSET_URI)), catalog.audit_events(limit=1)[-1].seq
    assert airflow_dags.run("registry_promote", version=1) == {"promote": "failed"}
    assert catalog.get_version(MODEL, 1).stage is Stage.STAGING
    assert catalog.audit_events(limit=1)[-1].seq == before_seq
    assert len(asset_events(ASSET_URI)) == before_events

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


def production_history(catalog: Registry, model_file: Path) -> None:
    """Versions 1 and 2 of the model, each approved by bob and promoted in turn: 2 is in Production."""
    for number in (1, 2):
        catalog.register(MODEL, model_file)
        catalog.transition(MODEL, number, Stage.STAGING)
        catalog.as_actor("bob").approve(MODEL, number)
        catalog.promote(MODEL, number)


def test_rollback_dag_restores_the_previous_version_as_the_user_who_triggered_it(
    airflow_dags: AirflowDags, catalog: Registry, model_file: Path,
):
    """The rollback DAG's reason and its triggering user (dag.test's) are in the audit log; the asset says 2 → 1."""
    production_history(catalog, model_file)
    before = len(asset_events(ASSET_URI))
    assert airflow_dags.run("fraud_detector_rollback", reason="canary errors") == {"rollback": "success"}
    assert catalog.resolve(f"models:/{MODEL}/Production").version == 1
    (rolled_back,) = catalog.audit_events(MODEL, actions=[AuditAction.VERSION_ROLLBACK])
    assert rolled_back.actor == "dag_test"
    assert rolled_back.after["reason"].startswith("canary errors (Airflow DAG fraud_detector_rollback, run ")
    assert asset_events(ASSET_URI)[before:] == [
        {"model": MODEL, "version": 1, "previous": 2, "audit_seq": rolled_back.seq},
    ]
    assert catalog.verify_audit().intact


def test_a_promotion_queues_the_redeploy_dag_on_the_production_asset(
    airflow_dags: AirflowDags, catalog: Registry, model_file: Path,
):
    """The asset event of a promotion is what schedules fraud_detector_redeploy (once unpaused, as in production)."""
    from airflow.models.asset import AssetDagRunQueue
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select, update

    production_history(catalog, model_file)
    with create_session() as session:
        session.execute(delete(AssetDagRunQueue))
        session.execute(update(DagModel).where(DagModel.dag_id == "fraud_detector_redeploy").values(is_paused=False))
    catalog.register(MODEL, model_file)
    catalog.transition(MODEL, 3, Stage.STAGING)
    catalog.as_actor("bob").approve(MODEL, 3)
    assert airflow_dags.run("registry_promote", version=3) == {"promote": "success"}
    with create_session() as session:
        queued = session.scalars(select(AssetDagRunQueue.target_dag_id)).all()
        session.execute(delete(AssetDagRunQueue))
        session.execute(update(DagModel).where(DagModel.dag_id == "fraud_detector_redeploy").values(is_paused=True))
    assert queued == ["fraud_detector_redeploy"]


def test_a_connection_without_a_catalog_fails_the_task_with_one_line(
    airflow_dags: AirflowDags, catalog: Registry, model_file: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
):
    """A connection whose extra names no database fails the step with the connection's name, and changes nothing."""
    production_history(catalog, model_file)
    monkeypatch.setenv("AIRFLOW_CONN_MODEL_REGISTRY_DEFAULT", '{"conn_type": "model_registry", "extra": {}}')
    assert airflow_dags.run("fraud_detector_rollback", reason="canary errors") == {"rollback": "failed"}
    assert "connection 'model_registry_default' has no database_url in its extra" in capfd.readouterr().out
    assert catalog.resolve(f"models:/{MODEL}/Production").version == 2


def test_the_example_gates_are_the_dagster_examples(airflow_dags: AirflowDags):
    """The Airflow example's metric gates are the fraud detector's, as the Dagster example has them."""
    import importlib.util

    from registry_lifecycle.fraud import FRAUD_METRIC_GATES

    from .conftest import DAGS

    spec = importlib.util.spec_from_file_location("fraud_detector_example", DAGS / "fraud_detector.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.METRIC_GATES == FRAUD_METRIC_GATES


def test_the_redeploy_dag_deploys_the_catalogs_production_version(
    airflow_dags: AirflowDags, catalog: Registry, model_file: Path,
):
    """The redeploy DAG's task deploys what the catalog has in Production (2), and after a rollback, that (1)."""
    production_history(catalog, model_file)
    assert airflow_dags.run("fraud_detector_redeploy") == {"deploy_production": "success"}
    deployed = airflow_dags.last_result("fraud_detector_redeploy", "deploy_production")
    assert deployed == {"model": MODEL, "version": 2, "uri": f"models:/{MODEL}/2", "announced": []}
    catalog.rollback(MODEL, reason="canary errors")
    assert airflow_dags.run("fraud_detector_redeploy") == {"deploy_production": "success"}
    assert airflow_dags.last_result("fraud_detector_redeploy", "deploy_production")["version"] == 1


def test_the_redeploy_dag_without_a_production_version_fails_with_one_line(
    airflow_dags: AirflowDags, catalog: Registry, model_file: Path, capfd: pytest.CaptureFixture[str],
):
    """Nothing in Production: the redeploy task fails with the registry's reason, deploying nothing."""
    catalog.register(MODEL, model_file)
    assert airflow_dags.run("fraud_detector_redeploy") == {"deploy_production": "failed"}
    assert "model 'fraud-detector' has no version in Production" in capfd.readouterr().out

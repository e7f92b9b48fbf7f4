"""One catalog, two orchestrators: a version Airflow registered, decided and promoted the way Dagster does, is one history."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from registry_core import AuditAction, Registry, Stage

from .conftest import AirflowDags, airflow_or_skip

airflow_or_skip()

MODEL = "fraud-detector"
#: The registry's command line, beside this interpreter (the environment's own console script).
REGISTRY_CLI = str(Path(sys.executable).parent / "registry")


@pytest.fixture
def catalog(database_url: str, artifact_root: Path, registry_connection: str):
    with Registry(database_url, artifact_root, actor="alice") as registry:
        yield registry


def registry_cli(database_url: str, artifact_root: Path, actor: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [REGISTRY_CLI, "--db", database_url, "--artifacts", str(artifact_root), "--actor", actor, *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


# The catalog two teams share is a server; one dialect keeps the slow lifecycle run to one.
@pytest.mark.parametrize("dialect", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_version_airflow_registered_and_the_cli_approved_and_promoted_is_one_history(
    airflow_dags: AirflowDags, catalog: Registry, database_url: str, artifact_root: Path,
):
    """Airflow registers and validates; bob approves and the Dagster pipeline's actor promotes from outside Airflow."""
    assert airflow_dags.run_until_approval("fraud_detector_lifecycle") == {
        "retrain": "success", "validate": "success", "shadow_evaluate": "success"}
    approved = registry_cli(database_url, artifact_root, "bob", "approve", MODEL, "1", "--comment", "looks right")
    assert approved.returncode == 0, approved.stderr
    # What Dagster's decision job does once every gate holds: promote as the pipeline, in the same catalog.
    with Registry(database_url, artifact_root, actor="dagster-pipeline") as dagster:
        dagster.promote(MODEL, 1, reason="every gate holds (approved by bob)")
    assert catalog.resolve(f"models:/{MODEL}/Production").version == 1
    history = [(str(event.action), event.actor) for event in catalog.audit_events(MODEL, version=1)]
    assert history[0] == (str(AuditAction.VERSION_REGISTER), "airflow-pipeline")
    assert (str(AuditAction.VERSION_TRANSITION), "airflow-pipeline") in history
    assert history[-2:] == [(str(AuditAction.APPROVAL_RECORD), "bob"),
                            (str(AuditAction.VERSION_PROMOTE), "dagster-pipeline")]
    assert catalog.get_version(MODEL, 1).stage is Stage.PRODUCTION
    verified = registry_cli(database_url, artifact_root, "carol", "audit", "--verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

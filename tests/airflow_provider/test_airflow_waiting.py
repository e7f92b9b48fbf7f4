"""Deferrable sensors on the catalog's audit log, run by Airflow with its triggerer: they wait without a worker slot."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_core import Registry, Stage

from .conftest import AirflowDags, airflow_or_skip

airflow_or_skip()

MODEL = "fraud-detector"
#: What dag.test() logs when a task defers and it runs the trigger in line, as the triggerer would.
DEFERRED = "running trigger in line"


@pytest.fixture
def catalog(database_url: str, artifact_root: Path, registry_connection: str):
    with Registry(database_url, artifact_root, actor="alice") as registry:
        yield registry


def test_decision_sensor_defers_until_a_reviewer_decides(
    airflow_dags: AirflowDags, catalog: Registry, model_file: Path, caplog: pytest.LogCaptureFixture,
):
    """With no decision yet the sensor defers to its trigger, which fires on bob's approval made while it waits."""
    catalog.register(MODEL, model_file)
    catalog.transition(MODEL, 1, Stage.STAGING)
    assert airflow_dags.run("registry_wait_for_decision", version=1) == {"decision": "success"}
    assert DEFERRED in caplog.text
    assert airflow_dags.last_result("registry_wait_for_decision", "decision")["actor"] == "bob"


def test_decision_sensor_returns_at_once_when_a_decision_exists(
    airflow_dags: AirflowDags, catalog: Registry, model_file: Path, caplog: pytest.LogCaptureFixture,
):
    """A decision made before the sensor starts is found without deferring."""
    catalog.register(MODEL, model_file)
    catalog.transition(MODEL, 1, Stage.STAGING)
    catalog.as_actor("bob").reject(MODEL, 1, comment="not yet")
    assert airflow_dags.run("registry_wait_for_decision", version=1) == {"decision": "success"}
    assert DEFERRED not in caplog.text
    result = airflow_dags.last_result("registry_wait_for_decision", "decision")
    assert (result["actor"], result["after"]["decision"]) == ("bob", "reject")


def test_production_change_sensor_waits_for_the_next_promotion(
    airflow_dags: AirflowDags, catalog: Registry, model_file: Path, caplog: pytest.LogCaptureFixture,
):
    """The sensor ignores what happened before it started (the approval) and fires on the promotion made while it waits."""
    catalog.register(MODEL, model_file)
    catalog.transition(MODEL, 1, Stage.STAGING)
    catalog.as_actor("bob").approve(MODEL, 1)
    assert airflow_dags.run("registry_wait_for_production_change", version=1) == {"production_change": "success"}
    assert DEFERRED in caplog.text
    result = airflow_dags.last_result("registry_wait_for_production_change", "production_change")
    assert (result["action"], result["version"], result["actor"]) == ("version.promote", 1, "alice")

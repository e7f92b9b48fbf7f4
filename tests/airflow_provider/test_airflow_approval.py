"""The approval step answered in Airflow by a logged-in reviewer (its REST API, as the Required Actions page does)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from registry_core import AuditAction, Registry, Stage

from .conftest import AirflowApi, AirflowDags, airflow_or_skip, asset_events

airflow_or_skip()

MODEL = "fraud-detector"
LIFECYCLE = "fraud_detector_lifecycle"
ASSET_URI = "model-registry://models/fraud-detector/production"


@pytest.fixture
def catalog(database_url: str, artifact_root: Path, registry_connection: str):
    with Registry(database_url, artifact_root, actor="alice") as registry:
        yield registry


def test_an_approval_in_airflow_is_recorded_under_the_reviewers_name_and_promotes(
    airflow_dags: AirflowDags, airflow_api: AirflowApi, catalog: Registry,
):
    """Bob approves in Airflow: the catalog records bob's approval with the DAG run, and the version is promoted."""
    before = len(asset_events(ASSET_URI))
    answering = airflow_api.answer_when_asked("bob", LIFECYCLE, "Approve", "ready for traffic")
    states = airflow_dags.run(LIFECYCLE)
    answering.join(timeout=60)
    assert airflow_api.answers[0]["responded_by"]["name"] == "bob"
    assert states == {"retrain": "success", "validate": "success", "shadow_evaluate": "success",
                      "approve": "success", "promote": "success"}
    (decision,) = catalog.show(f"models:/{MODEL}/1").decisions
    assert (decision.approver, decision.decision) == ("bob", "approve")
    assert decision.comment.startswith("ready for traffic (Airflow DAG fraud_detector_lifecycle, run ")
    assert catalog.resolve(f"models:/{MODEL}/Production").version == 1
    assert asset_events(ASSET_URI)[before:] == [
        {"model": MODEL, "version": 1, "previous": None,
         "audit_seq": catalog.audit_events(MODEL, actions=[AuditAction.VERSION_PROMOTE])[-1].seq},
    ]
    assert catalog.verify_audit().intact


def test_a_reviewer_the_policy_does_not_list_is_refused_and_nothing_is_recorded(
    airflow_dags: AirflowDags, airflow_api: AirflowApi, catalog: Registry, capfd: pytest.CaptureFixture[str],
):
    """Only carol may approve: bob's approval in Airflow fails the step with the registry's reason and records nothing."""
    catalog.create_model(MODEL)
    catalog.set_policy(MODEL, approvers=["carol"])
    answering = airflow_api.answer_when_asked("bob", LIFECYCLE, "Approve", "let me")
    states = airflow_dags.run(LIFECYCLE)
    answering.join(timeout=60)
    assert (states["approve"], states["promote"]) == ("failed", "upstream_failed")
    assert "bob is not an allowed approver of fraud-detector version 1 (allowed: carol)" in capfd.readouterr().out
    assert catalog.show(f"models:/{MODEL}/1").decisions == []
    assert catalog.get_version(MODEL, 1).stage is Stage.STAGING
    assert catalog.audit_events(MODEL, actions=[AuditAction.APPROVAL_RECORD]) == []


def test_a_rejection_in_airflow_is_recorded_and_skips_the_promotion(
    airflow_dags: AirflowDags, airflow_api: AirflowApi, catalog: Registry,
):
    """Carol rejects in Airflow: her rejection is in the catalog, and the version stays in Staging."""
    answering = airflow_api.answer_when_asked("carol", LIFECYCLE, "Reject", "precision too low")
    states = airflow_dags.run(LIFECYCLE)
    answering.join(timeout=60)
    assert (states["approve"], states["promote"]) == ("success", "skipped")
    (decision,) = catalog.show(f"models:/{MODEL}/1").decisions
    assert (decision.approver, decision.decision) == ("carol", "reject")
    assert catalog.get_version(MODEL, 1).stage is Stage.STAGING


def answer_from(responder: dict[str, str] | None) -> dict:
    """The event Airflow resumes the approval step with once ``responder`` has approved (as its REST API records it)."""
    from datetime import UTC, datetime

    return {"chosen_options": ["Approve"], "params_input": {"comment": "fine"},
            "responded_at": datetime.now(UTC), "responded_by_user": responder}


def approval_step() -> tuple[object, dict]:
    """The lifecycle's approval operator and the context of a run of it."""
    from types import SimpleNamespace

    from registry_airflow import RegistryApprovalOperator

    operator = RegistryApprovalOperator(task_id="approve", model_name=MODEL, version=1)
    return operator, {"ti": SimpleNamespace(dag_id=LIFECYCLE, run_id="manual__fab", task_id="approve")}


def staged_version(catalog: Registry, model_file: Path) -> None:
    catalog.register(MODEL, model_file)
    catalog.transition(MODEL, 1, Stage.STAGING)


def test_a_fab_user_is_recorded_under_their_username_not_their_row_id(catalog: Registry, model_file: Path):
    """FAB answers as {id: str(row id), name: get_name() = username}: the decision is bob's, not "7"'s."""
    staged_version(catalog, model_file)
    operator, context = approval_step()
    operator.execute_complete(context, answer_from({"id": "7", "name": "bob"}))
    (decision,) = catalog.show(f"models:/{MODEL}/1").decisions
    assert (decision.approver, decision.decision) == ("bob", "approve")


@pytest.mark.parametrize("responder", [{"id": "7", "name": ""}, {"id": "7"}, None])
def test_an_answer_without_a_user_name_records_nothing(catalog: Registry, model_file: Path, responder):
    """An answer with no user name (an id alone, or a default taken at a timeout) is nobody's decision."""
    from registry_airflow.refusals import RegistryRefusal

    staged_version(catalog, model_file)
    operator, context = approval_step()
    with pytest.raises(RegistryRefusal, match="no reviewer answered for fraud-detector version 1: nothing recorded"):
        operator.execute_complete(context, answer_from(responder))
    assert catalog.show(f"models:/{MODEL}/1").decisions == []


def sweep_timed_out_approvals_when_due(dag_id: str) -> threading.Thread:
    """From a thread: once the DAG's approval is parked and past its deadline, run the scheduler's timeout sweep.

    dag.test() runs no scheduler; this is the scheduler's own check (``check_awaiting_input_timeouts``),
    which writes the defaults as the answer of nobody and resumes the task.
    """
    from datetime import UTC, datetime

    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    def sweep() -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with create_session() as session:
                due = session.scalar(select(TaskInstance.id).where(
                    TaskInstance.dag_id == dag_id, TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
                    TaskInstance.trigger_timeout < datetime.now(UTC)))
            if due is not None:
                SchedulerJobRunner(job=Job(), executors=[]).check_awaiting_input_timeouts()
                return
            time.sleep(0.5)

    thread = threading.Thread(target=sweep, daemon=True)
    thread.start()
    return thread


def test_an_approval_nobody_answers_before_its_timeout_records_nothing_and_fails(
    airflow_dags: AirflowDags, catalog: Registry, model_file: Path, capfd: pytest.CaptureFixture[str],
):
    """The timeout's default (Approve) is nobody's decision: the step fails, nothing is recorded, nothing is promoted."""
    staged_version(catalog, model_file)
    before_seq = catalog.audit_events(limit=1)[-1].seq
    before_events = len(asset_events(ASSET_URI))
    sweeping = sweep_timed_out_approvals_when_due("registry_approval_timeout")
    states = airflow_dags.run("registry_approval_timeout", version=1)
    sweeping.join(timeout=60)
    assert states == {"approve": "failed", "promote": "upstream_failed"}
    assert "no reviewer answered for fraud-detector version 1: nothing recorded" in capfd.readouterr().out
    assert catalog.show(f"models:/{MODEL}/1").decisions == []
    assert catalog.get_version(MODEL, 1).stage is Stage.STAGING
    assert catalog.audit_events(limit=1)[-1].seq == before_seq
    assert len(asset_events(ASSET_URI)) == before_events

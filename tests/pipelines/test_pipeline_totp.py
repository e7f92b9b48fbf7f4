"""Approvals proven by a TOTP code typed in the Launchpad, under a policy that requires proof; stale tabs record nothing."""

from __future__ import annotations

import logging

import pytest
from dagster import DagsterEventType

from registry_core import Decision, Stage
from registry_pipelines.jobs import decision_launch
from registry_pipelines.testing import failure_message
from tests.proof_keys import SECRET_KEY, totp_code

from .steps import MODEL, REVIEWER, decide, sync_versions, to_staging


@pytest.fixture
def reviewer_uri(lifecycle, pipeline, catalog, monkeypatch: pytest.MonkeyPatch) -> str:
    """Version 1 in Staging under a policy that requires proof; the reviewer's TOTP enrolment (their app's URI)."""
    monkeypatch.setenv("REGISTRY_SECRET_KEY", SECRET_KEY)
    uri = catalog.enrol_totp(REVIEWER).uri
    to_staging(lifecycle, pipeline)
    catalog.set_policy(MODEL, require_proof=True, owners=[REVIEWER])
    return uri


def test_an_approval_with_the_reviewers_code_is_proven_and_promotes(lifecycle, pipeline, catalog, reviewer_uri):
    sync_versions(lifecycle, pipeline)
    launch = decision_launch(pipeline, 1, REVIEWER, Decision.APPROVE, "looks right", totp=totp_code(reviewer_uri))
    result = lifecycle.launch(launch)
    assert result.success, failure_message(result)
    proof = catalog.audit_events(MODEL, version=1, actions=["approval.record"])[-1].after["proof"]
    assert proof["kind"] == "totp" and '"version":1' in proof["statement"]
    assert catalog.get_version(MODEL, 1).stage is Stage.PRODUCTION
    assert catalog.verify_audit().intact


def test_a_stale_tab_without_the_code_records_nothing(lifecycle, pipeline, catalog, reviewer_uri, catalog_snapshot):
    """The reviewer's name left in a Launchpad tab, launched by someone else without the code: refused, nothing kept."""
    before = catalog_snapshot()
    result = decide(lifecycle, 1, approver=REVIEWER, pipeline=pipeline)
    assert not result.success
    message = failure_message(result)
    assert message is not None and message.startswith(f"approval of {MODEL} version 1 by '{REVIEWER}' refused: ")
    assert "proof" in message and "\n" not in message
    assert catalog.show(f"models:/{MODEL}/1").decisions == []
    assert catalog_snapshot() == before


@pytest.mark.parametrize("code", ["000000x", "12345", "not-a-code"])
def test_a_wrong_code_records_nothing(lifecycle, pipeline, catalog, reviewer_uri, code):
    sync_versions(lifecycle, pipeline)
    result = lifecycle.launch(decision_launch(pipeline, 1, REVIEWER, Decision.APPROVE, totp=code))
    assert not result.success
    assert "refused" in (failure_message(result) or "")
    assert catalog.show(f"models:/{MODEL}/1").decisions == []


def test_a_refusal_is_logged_as_its_reason_before_the_step_failure(lifecycle, pipeline, instance):
    """The registrant approving its own version: the run's first error line is the registry's reason, not a trace."""
    to_staging(lifecycle, pipeline)
    result = decide(lifecycle, 1, approver="dagster", pipeline=pipeline)
    reason = failure_message(result)
    assert reason is not None and "may not approve it" in reason
    errors = [entry for entry in instance.all_logs(result.run_id) if entry.level >= logging.ERROR]
    assert errors[0].user_message == reason
    assert errors[0].dagster_event is None  # a plain log line, ahead of the step failure and its stack trace
    assert any(e.dagster_event and e.dagster_event.event_type is DagsterEventType.STEP_FAILURE for e in errors[1:])

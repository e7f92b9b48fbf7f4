"""Approvals proven by a TOTP code typed in the Launchpad, under a policy that requires proof; stale tabs record nothing."""

from __future__ import annotations

import logging

import pytest
from dagster import DagsterEventType

from registry_core import Decision, Stage
from registry_pipelines.jobs import decision_launch
from registry_pipelines.testing import failure_message
from tests.proof_keys import SECRET_KEY, a_code_that_is_not_current, totp_code

from .steps import MODEL, REVIEWER, decide, sync_versions, to_staging


@pytest.fixture
def reviewer_uri(lifecycle, pipeline, catalog, monkeypatch: pytest.MonkeyPatch) -> str:
    """Version 1 in Staging under a policy that requires proof; the reviewer's TOTP enrolment (their app's URI)."""
    monkeypatch.setenv("REGISTRY_SECRET_KEY", SECRET_KEY)
    uri = catalog.enrol_totp(REVIEWER).uri
    to_staging(lifecycle, pipeline)
    catalog.set_policy(MODEL, require_proof=True, owners=[REVIEWER])
    return uri


def approve_with(lifecycle, pipeline, code: str):
    """The approve run for version 1 as the Launchpad launches it, with ``code`` typed in."""
    sync_versions(lifecycle, pipeline)
    return lifecycle.launch(decision_launch(pipeline, 1, REVIEWER, Decision.APPROVE, "looks right", totp=code))


def test_an_approval_with_the_reviewers_code_is_proven_and_promotes(lifecycle, pipeline, catalog, reviewer_uri):
    result = approve_with(lifecycle, pipeline, totp_code(reviewer_uri))
    assert result.success, failure_message(result)
    (approval,) = catalog.show(f"models:/{MODEL}/1").decisions
    assert approval.approver == REVIEWER
    proof = catalog.audit_events(MODEL, version=1, actions=["approval.record"])[-1].after["proof"]
    assert proof["kind"] == "totp" and '"version":1' in proof["statement"]
    assert catalog.get_version(MODEL, 1).stage is Stage.PRODUCTION
    report = catalog.verify_audit()
    assert report.intact and not report.divergences


def test_the_code_stays_out_of_the_run_tags(lifecycle, pipeline, catalog, reviewer_uri):
    code = totp_code(reviewer_uri)
    result = approve_with(lifecycle, pipeline, code)
    assert result.success, failure_message(result)
    assert code not in " ".join(f"{key}={value}" for key, value in result.dagster_run.tags.items())


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
    result = approve_with(lifecycle, pipeline, code)
    assert not result.success
    assert "refused" in (failure_message(result) or "")
    assert catalog.show(f"models:/{MODEL}/1").decisions == []


@pytest.mark.parametrize("code", ["wrong", "expired", "replayed"])
def test_a_wrong_expired_or_replayed_code_is_refused(lifecycle, pipeline, catalog, reviewer_uri, catalog_snapshot,
                                                   code):
    if code == "replayed":
        given = totp_code(reviewer_uri)  # spent by the reviewer on a policy change a moment ago
        catalog.as_actor(REVIEWER).set_policy(MODEL, owners=[REVIEWER, "auditor"], totp=given)
    else:
        given = totp_code(reviewer_uri, seconds_ago=600) if code == "expired" else a_code_that_is_not_current(reviewer_uri)
    before = catalog_snapshot()
    result = approve_with(lifecycle, pipeline, given)
    assert not result.success
    assert f"by '{REVIEWER}' refused: " in (failure_message(result) or "")
    assert catalog_snapshot() == before
    assert catalog.get_version(MODEL, 1).stage is not Stage.PRODUCTION


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

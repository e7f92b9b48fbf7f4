"""Proven decisions from the Launchpad: under a policy that requires proof, the approve run counts only with a code.

The reviewer types their name, a comment and the code their authenticator app shows; the run hands the code to the
registry, which checks it against the name's enrolment and spends it. A stale tab holding someone else's name records
nothing without that person's code.
"""

from __future__ import annotations

import pytest

from registry_core import Decision, Stage
from registry_pipelines.jobs.governance import decision_launch
from registry_pipelines.testing import failure_message
from tests.proof_keys import SECRET_KEY, totp_code

from .steps import MODEL, REVIEWER, decide, sync_versions, to_staging


@pytest.fixture
def reviewer_uri(catalog, monkeypatch: pytest.MonkeyPatch) -> str:
    """The reviewer's TOTP enrolment, as their authenticator app scanned it."""
    monkeypatch.setenv("REGISTRY_SECRET_KEY", SECRET_KEY)
    return catalog.enrol_totp(REVIEWER).uri


@pytest.fixture
def version(lifecycle, pipeline, catalog, reviewer_uri) -> int:
    """A candidate through validation and shadow evaluation, awaiting a decision under a policy requiring proof."""
    number = to_staging(lifecycle, pipeline)
    catalog.set_policy(MODEL, require_proof=True, owners=[REVIEWER])
    return number


def launch_with_code(lifecycle, pipeline, number: int, approver: str, code: str):
    sync_versions(lifecycle, pipeline)
    return lifecycle.launch(decision_launch(pipeline, number, approver, Decision.APPROVE, "reviewed", totp=code))


def test_an_approval_with_the_reviewers_code_counts_and_promotes(lifecycle, pipeline, catalog, reviewer_uri, version):
    result = launch_with_code(lifecycle, pipeline, version, REVIEWER, totp_code(reviewer_uri))
    assert result.success
    (approval,) = catalog.show(f"models:/{MODEL}/{version}").decisions
    assert approval.approver == REVIEWER
    proof = catalog.audit_events(MODEL, version=version, actions=["approval.record"])[-1].after["proof"]
    assert proof["kind"] == "totp" and f'"version":{version}' in proof["statement"]
    assert catalog.get_version(MODEL, version).stage is Stage.PRODUCTION
    report = catalog.verify_audit()
    assert report.intact and not report.divergences


def test_a_stale_tab_without_the_code_records_nothing(lifecycle, pipeline, catalog, reviewer_uri, version, catalog_snapshot):
    """The previous reviewer's name is still in the Launchpad: relaunched without their code, the run is refused."""
    before = catalog_snapshot()
    result = decide(lifecycle, version, approver=REVIEWER, pipeline=pipeline)
    assert not result.success
    message = failure_message(result)
    assert message.startswith(f"approval of {MODEL} version {version} by '{REVIEWER}' refused: ")
    assert "proof" in message and "\n" not in message
    assert catalog_snapshot() == before


@pytest.mark.parametrize("code", ["wrong", "expired", "replayed"])
def test_a_wrong_expired_or_replayed_code_is_refused(lifecycle, pipeline, catalog, reviewer_uri, version, catalog_snapshot,
                                                   code):
    if code == "replayed":
        given = totp_code(reviewer_uri)  # spent by the reviewer on a policy change a moment ago
        catalog.as_actor(REVIEWER).set_policy(MODEL, owners=[REVIEWER, "auditor"], totp=given)
    else:
        given = totp_code(reviewer_uri, seconds_ago=600) if code == "expired" else "000000"
        if given == totp_code(reviewer_uri):  # one chance in a million: the guess is today's code
            given = "000001"
    before = catalog_snapshot()
    result = launch_with_code(lifecycle, pipeline, version, REVIEWER, given)
    assert not result.success
    assert f"by '{REVIEWER}' refused: " in failure_message(result)
    assert catalog_snapshot() == before
    assert catalog.get_version(MODEL, version).stage is not Stage.PRODUCTION


def test_the_code_stays_out_of_the_run_tags(lifecycle, pipeline, catalog, reviewer_uri, version):
    code = totp_code(reviewer_uri)
    result = launch_with_code(lifecycle, pipeline, version, REVIEWER, code)
    assert result.success
    assert code not in " ".join(f"{key}={value}" for key, value in result.dagster_run.tags.items())

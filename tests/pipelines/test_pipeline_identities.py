"""The approve job, launched as the UI launches it, against look-alike and invisible approver names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from registry_core import AuditEntry, Stage, VersionDetails, VersionInfo
from registry_pipelines.metadata import protected_aliases_markdown
from registry_pipelines.testing import failure_message

from .steps import MODEL, REVIEWER, decide, to_staging


def test_look_alikes_of_the_pipeline_are_not_two_other_approvers(lifecycle, pipeline, catalog, catalog_snapshot):
    """'dаgster' (Cyrillic а), 'dagster' plus a Hangul filler and 'DAGSTER' with Greek capitals are the registrant: refused."""
    to_staging(lifecycle, pipeline)
    catalog.set_policy(MODEL, approvals_required=2)
    before = catalog_snapshot()
    for look_alike in ("d\u0430gster", "dagster\u3164", "D\u0391GST\u0395R", "DAGST\u0395R"):
        result = decide(lifecycle, 1, approver=look_alike, pipeline=pipeline)
        assert not result.success
        assert "refused" in failure_message(result)
    assert catalog.show(f"models:/{MODEL}/1").decisions == []
    assert catalog.get_version(MODEL, 1).stage is Stage.STAGING
    assert catalog_snapshot() == before


@pytest.mark.parametrize("blank", ["\u3164", "\u2800", "\u115f", "\u200b"])
def test_an_invisible_approver_is_refused_in_one_line(lifecycle, pipeline, catalog, blank):
    to_staging(lifecycle, pipeline)
    result = decide(lifecycle, 1, approver=blank, pipeline=pipeline)
    assert not result.success
    message = failure_message(result)
    assert "\n" not in message and "invalid actor" in message
    assert blank not in message  # the name is shown escaped, never as a blank
    assert catalog.show(f"models:/{MODEL}/1").decisions == []


def test_a_look_alike_of_a_listed_approver_counts_as_that_approver_once(lifecycle, pipeline, catalog):
    """Two approvals required, one person under two spellings: the version stays in Staging."""
    to_staging(lifecycle, pipeline)
    catalog.set_policy(MODEL, approvals_required=2)
    assert decide(lifecycle, 1, approver=REVIEWER, pipeline=pipeline).success
    assert decide(lifecycle, 1, approver=REVIEWER.replace("e", "\u0435"), pipeline=pipeline).success
    assert catalog.get_version(MODEL, 1).stage is Stage.STAGING


def test_a_capital_i_for_an_l_in_a_listed_approver_counts_once(lifecycle, pipeline, catalog):
    """'aIice' with a capital I reads as 'alice': two approvals required, the version stays in Staging."""
    to_staging(lifecycle, pipeline)
    catalog.set_policy(MODEL, approvals_required=2)
    assert decide(lifecycle, 1, approver="alice", pipeline=pipeline).success
    assert decide(lifecycle, 1, approver="aIice", pipeline=pipeline).success
    assert catalog.get_version(MODEL, 1).stage is Stage.STAGING


def test_an_invisible_name_shows_escaped_on_the_version_card_beside_a_protected_alias():
    """Who moved @champion (U+3164) and whose approval counted (U+2800), recorded before such names were refused."""
    moment = datetime(2025, 1, 2, tzinfo=UTC)
    version = VersionInfo(
        model=MODEL, version=1, stage=Stage.PRODUCTION, artifact_uri="file:///blobs/ab", artifact_sha256="ab" * 32,
        artifact_size=10, artifact_kind="file", artifact_format={}, run_id=None, dataset_digest=None, params={},
        metrics={}, signature=None, model_card=None, description=None, tags={}, registered_by="dagster",
        created_at=moment, stage_changed_at=moment, updated_at=moment, was_production=True,
    )
    event = AuditEntry(
        seq=9, recorded_at="2025-01-02T03:04:05Z", actor="\u3164", action="alias.set", model=MODEL, version=1,
        hash="00", before={}, after={"alias": "champion", "protected": True, "approved_by": ["\u2800"]},
    )
    shown = protected_aliases_markdown(VersionDetails(
        version=version, checks=[], decisions=[], aliases=["champion"], next_stage=None,
        protected_aliases=["champion"], alias_events={"champion": event},
    ))
    assert "\u3164" not in shown and "\u2800" not in shown
    assert "set by `\\u3164`" in shown and "approvals counted: `\\u2800`" in shown

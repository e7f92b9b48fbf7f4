"""The approve job, launched as the UI launches it, against look-alike and invisible approver names."""

from __future__ import annotations

import pytest

from registry_core import Stage
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

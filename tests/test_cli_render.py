"""The human-readable views of `registry show`, whether enum-valued fields arrive as plain strings or str-enums."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from registry_core.cli import render
from registry_core.records import ApprovalRecord, AuditEntry, VersionDetails, VersionInfo
from registry_core.stages import Stage

MOMENT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


class Decision(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class AuditAction(enum.StrEnum):
    REGISTER = "version.register"
    TRANSITION = "version.transition"


@dataclass(frozen=True)
class UnmetGate:
    kind: str
    name: str
    message: str

    def __str__(self) -> str:
        return self.message


def version(stage: Stage = Stage.STAGING) -> VersionInfo:
    return VersionInfo(
        model="fraud", version=1, stage=stage, artifact_uri="file:///blobs/ab", artifact_sha256="ab" * 32,
        artifact_size=10, artifact_kind="file", artifact_format={}, run_id=None, dataset_digest=None, params={},
        metrics={}, signature=None, model_card=None, description=None, tags={}, registered_by="alice",
        created_at=MOMENT, stage_changed_at=MOMENT, updated_at=MOMENT, was_production=False,
    )


def details(**fields: object) -> VersionDetails:
    values: dict[str, object] = {
        "version": version(), "checks": [], "decisions": [], "aliases": [], "next_stage": Stage.PRODUCTION,
    }
    return VersionDetails(**{**values, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("decision", "shown"),
    [("approve", "approved by bob"), ("reject", "rejected by bob"),
     (Decision.APPROVE, "approved by bob"), (Decision.REJECT, "rejected by bob")],
)
def test_a_decision_reads_in_the_past_tense(decision: str, shown: str):
    """An approval shows as "approved by", a rejection as "rejected by"."""
    record = ApprovalRecord(model="fraud", version=1, approver="bob", decision=decision, comment="no", recorded_at=MOMENT)
    lines = render.details_lines(details(decisions=[record]))
    assert f"    {shown} at 2025-01-02 03:04:05 UTC: no" in lines


@pytest.mark.parametrize(
    "gates",
    [["1 approval(s) required, 0 given"],
     [UnmetGate(kind="approval", name="approvals", message="1 approval(s) required, 0 given")]],
    ids=["strings", "records"],
)
def test_unmet_gates_are_listed_by_their_messages(gates: list[object]):
    lines = render.details_lines(details(unmet_gates=gates))
    assert lines[-2:] == ["  before Production:", "    - 1 approval(s) required, 0 given"]


@pytest.mark.parametrize("action", ["version.register", AuditAction.REGISTER])
def test_registration_in_the_stage_history_names_its_stage(action: str):
    event = AuditEntry(
        seq=2, recorded_at="2025-01-02T03:04:05Z", actor="alice", action=action, model="fraud", version=1,
        before={}, after={"stage": "None"}, hash="0" * 64,
    )
    assert render.stage_change(event) == "registered in None"
    header, row = render.audit_lines([event])
    assert header.split() == ["SEQ", "TIME", "ACTOR", "ACTION", "VERSION", "CHANGE"]
    assert row.split()[:8] == ["#2", "2025-01-02", "03:04:05", "UTC", "alice", "version.register", "fraud", "v1"]

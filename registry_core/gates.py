"""Unmet gates as records: what stands between a version and its next stage, for people and for programs."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["GateKind", "UnmetGate"]


class GateKind(enum.StrEnum):
    """What kind of gate stands between a version and its next stage."""

    #: A required check has no recorded result.
    CHECK_MISSING = "check_missing"
    #: A check's latest result is a failure.
    CHECK_FAILED = "check_failed"
    #: Not enough eligible approvals (since the latest rejection, if any).
    APPROVAL = "approval"
    #: The version is Archived: out of service, so no protected alias may point at it.
    ARCHIVED = "archived"
    #: The version is a reference to a source whose bytes the registry has not verified (attach them first).
    NO_BYTES = "no_bytes"


@dataclass(frozen=True)
class UnmetGate:
    """One unmet gate: its kind, what it names (a check, or ``approvals``) and a sentence for people."""

    kind: GateKind
    name: str
    message: str

    def __str__(self) -> str:
        return self.message

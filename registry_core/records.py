"""What the registry returns: plain, immutable records that outlive their transaction."""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .actions import AuditAction
from .policy import Decision, GatePolicy, UnmetGate
from .stages import Stage

__all__ = [
    "ApprovalRecord",
    "AuditEntry",
    "CheckRecord",
    "GarbageReport",
    "ModelInfo",
    "StageChange",
    "VersionDetails",
    "VersionInfo",
    "to_jsonable",
]


@dataclass(frozen=True)
class ModelInfo:
    """A registered model and its policy."""

    name: str
    description: str | None
    tags: dict[str, str]
    policy: GatePolicy
    latest_version: int
    production_version: int | None
    aliases: dict[str, int]
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class VersionInfo:
    """One immutable version of a model, with its current stage."""

    model: str
    version: int
    stage: Stage
    artifact_uri: str
    artifact_sha256: str
    artifact_size: int
    artifact_kind: str
    artifact_format: dict[str, Any]
    run_id: str | None
    dataset_digest: str | None
    params: dict[str, str]
    metrics: dict[str, float]
    signature: dict[str, Any] | None
    model_card: str | None
    description: str | None
    tags: dict[str, str]
    registered_by: str
    created_at: datetime
    stage_changed_at: datetime
    #: The latest change of the version's own record (registration, stage, description, attached bytes).
    updated_at: datetime
    was_production: bool

    @property
    def uri(self) -> str:
        return f"models:/{self.model}/{self.version}"

    @property
    def serialization(self) -> str | None:
        """How an estimator version was serialized (``skops`` or ``pickle``); None for files and folders."""
        return self.artifact_format.get("serializer") if self.artifact_kind == "sklearn" else None


@dataclass(frozen=True)
class CheckRecord:
    """One recorded result of a named check on a version."""

    model: str
    version: int
    name: str
    passed: bool
    details: dict[str, Any] | None
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class ApprovalRecord:
    """One approval or rejection of a version."""

    model: str
    version: int
    approver: str
    decision: Decision
    comment: str | None
    recorded_at: datetime


@dataclass(frozen=True)
class VersionDetails:
    """A version with everything a reviewer asks about it."""

    version: VersionInfo
    checks: list[CheckRecord]
    decisions: list[ApprovalRecord]
    aliases: list[str]
    #: Unmet gates for the version's next step (Staging or Production); empty when none remain.
    next_stage: Stage | None
    unmet_gates: list[UnmetGate] = field(default_factory=list)
    #: Registration and every stage change of this version, oldest first.
    stage_history: list[AuditEntry] = field(default_factory=list)
    #: The aliases (of ``aliases``) that the model's policy protects.
    protected_aliases: list[str] = field(default_factory=list)
    #: For each alias pointing here, the event that pointed it here: who, when, and what a protected one was gated on.
    alias_events: dict[str, AuditEntry] = field(default_factory=dict)
    #: When a protected alias points here: the gates the version no longer meets (serving will not follow it).
    alias_unmet_gates: list[UnmetGate] = field(default_factory=list)


@dataclass(frozen=True)
class StageChange:
    """The outcome of a transition, promotion or rollback."""

    version: VersionInfo
    previous_stage: Stage
    archived: VersionInfo | None
    audit_seq: int


@dataclass(frozen=True)
class GarbageReport:
    """Blobs that no version references and stale temporary uploads (and whether they were deleted)."""

    blobs: list[str]
    bytes: int
    deleted: bool
    skipped_recent: int
    referenced: int
    #: Temporary uploads older than the grace period (left by a crash mid-registration), by file name.
    partials: list[str] = field(default_factory=list)
    partial_bytes: int = 0
    #: Temporary uploads younger than the grace period (a registration may still be writing them).
    skipped_recent_partials: int = 0


@dataclass(frozen=True)
class AuditEntry:
    """One event of the audit log."""

    seq: int
    recorded_at: str
    actor: str
    action: AuditAction
    model: str | None
    version: int | None
    before: Any
    after: Any
    hash: str


def to_jsonable(value: Any) -> Any:
    """Records, enums and datetimes as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        result = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, VersionInfo):
            result["uri"] = value.uri
        return result
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """One JSON document for the CLI's ``--json`` output."""
    return json.dumps(to_jsonable(value), sort_keys=True)

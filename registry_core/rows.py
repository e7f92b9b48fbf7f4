"""Catalog rows as records: the columns each read selects, and the records built from them.

Reads run in SQLAlchemy Core: one statement returns a version together with its
tags (aggregated as JSON by the database), so returning a version costs one
round trip whatever its number of tags.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, func, select

from .actions import AuditAction
from .policy import GatePolicy
from .records import ApprovalRecord, AuditEntry, CheckRecord, ModelInfo, VersionInfo
from .schema import (
    Alias,
    Approval,
    AuditEvent,
    CheckResult,
    ModelTag,
    ModelVersion,
    RegisteredModel,
    VersionTag,
)
from .stages import Stage

__all__ = [
    "ALIASES",
    "APPROVALS",
    "AUDIT",
    "CHECKS",
    "MODELS",
    "MODEL_TAGS",
    "VERSIONS",
    "VERSION_TAGS",
    "approval_record",
    "audit_entry",
    "check_record",
    "json_object_agg",
    "model_info",
    "model_tags_json",
    "parse_tags",
    "version_info",
    "version_tags_json",
]

MODELS = RegisteredModel.__table__
VERSIONS = ModelVersion.__table__
MODEL_TAGS = ModelTag.__table__
VERSION_TAGS = VersionTag.__table__
ALIASES = Alias.__table__
CHECKS = CheckResult.__table__
APPROVALS = Approval.__table__
AUDIT = AuditEvent.__table__


def json_object_agg(dialect: str, key: Any, value: Any) -> ColumnElement[Any]:
    """One JSON object from key and value columns: the aggregate each dialect calls it by."""
    if dialect == "postgresql":
        return func.json_object_agg(key, value)
    return func.json_group_object(key, value)


def version_tags_json(dialect: str, versions: Any = VERSIONS) -> ColumnElement[Any]:
    """A version's tags as one JSON object column (a correlated subquery; NULL or ``{}`` when none)."""
    return (
        select(json_object_agg(dialect, VERSION_TAGS.c.key, VERSION_TAGS.c.value))
        .where(VERSION_TAGS.c.version_id == versions.c.id)
        .scalar_subquery()
        .label("tags_json")
    )


def model_tags_json(dialect: str) -> ColumnElement[Any]:
    """A model's tags as one JSON object column."""
    return (
        select(json_object_agg(dialect, MODEL_TAGS.c.key, MODEL_TAGS.c.value))
        .where(MODEL_TAGS.c.model_id == MODELS.c.id)
        .scalar_subquery()
        .label("tags_json")
    )


def parse_tags(value: Any) -> dict[str, str]:
    """Tags from the aggregated JSON column (text on SQLite, decoded already on PostgreSQL), sorted by key."""
    if value is None:
        return {}
    tags = json.loads(value) if isinstance(value, str) else value
    return dict(sorted(tags.items()))


def version_info(name: str, row: Any, *, tags: dict[str, str] | None = None) -> VersionInfo:
    """A record from a row of ``model_versions`` columns plus ``tags_json`` (or explicit ``tags``)."""
    if tags is None:
        tags = parse_tags(row.tags_json)
    return VersionInfo(
        model=name,
        version=row.version,
        stage=row.stage,
        artifact_uri=row.artifact_uri,
        artifact_sha256=row.artifact_sha256,
        artifact_size=row.artifact_size,
        artifact_kind=row.artifact_kind,
        artifact_format=dict(row.artifact_format or {}),
        run_id=row.run_id,
        dataset_digest=row.dataset_digest,
        params=dict(row.params or {}),
        metrics=dict(row.metrics or {}),
        signature=row.signature,
        model_card=row.model_card,
        description=row.description,
        tags=tags,
        registered_by=row.registered_by,
        created_at=row.created_at,
        stage_changed_at=row.stage_changed_at,
        updated_at=row.updated_at,
        was_production=row.left_production_seq is not None or row.stage is Stage.PRODUCTION,
    )


def model_info(row: Any, *, production: int | None, aliases: dict[str, int]) -> ModelInfo:
    """A record from a row of ``registered_models`` columns plus ``tags_json``."""
    return ModelInfo(
        name=row.name,
        description=row.description,
        tags=parse_tags(row.tags_json),
        policy=GatePolicy.from_dict(row.policy),
        latest_version=row.last_version,
        production_version=production,
        aliases=aliases,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def check_record(name: str, number: int, row: Any) -> CheckRecord:
    """A record from a row of ``check_results``."""
    return CheckRecord(
        model=name, version=number, name=row.name, passed=row.passed, details=row.details,
        recorded_by=row.recorded_by, recorded_at=row.recorded_at,
    )


def approval_record(name: str, number: int, row: Any) -> ApprovalRecord:
    """A record from a row of ``approvals``."""
    return ApprovalRecord(
        model=name, version=number, approver=row.approver, decision=row.decision,
        comment=row.comment, recorded_at=row.recorded_at,
    )


def audit_entry(row: Any) -> AuditEntry:
    """A record from a row of ``audit_events``."""
    return AuditEntry(
        seq=row.seq, recorded_at=row.recorded_at, actor=row.actor, action=AuditAction(row.action),
        model=row.model, version=row.version, before=json.loads(row.before), after=json.loads(row.after),
        hash=row.hash,
    )

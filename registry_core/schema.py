"""The catalog's tables as SQLAlchemy 2.0 typed models.

The database enforces the invariants: unique (model, version), at most one
Production version per model (a partial unique index), stage and decision
values (check constraints), foreign keys, and an append-only audit table
(triggers installed by the migrations).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .orm_base import NAMING_CONVENTION, Base, StrEnumColumn, UTCDateTime
from .policy import Decision
from .stages import Stage

__all__ = [
    "Alias",
    "Approval",
    "AuditEvent",
    "AuditHead",
    "Base",
    "CheckResult",
    "Credential",
    "NAMING_CONVENTION",
    "ModelTag",
    "Rendition",
    "ModelVersion",
    "RegisteredModel",
    "StrEnumColumn",
    "UTCDateTime",
    "VersionTag",
    "WebhookAttempt",
    "WebhookOutbox",
    "WebhookSubscription",
]

STAGE_VALUES = "('None', 'Staging', 'Production', 'Archived')"
ARTIFACT_KIND_VALUES = "('file', 'directory', 'sklearn', 'reference')"
#: A reference holds no bytes: an empty digest and size 0; every other kind has a digest.
REFERENCE_HAS_NO_BYTES = (
    "(artifact_kind = 'reference' AND artifact_sha256 = '' AND artifact_size = 0) "
    "OR (artifact_kind <> 'reference' AND artifact_sha256 <> '')"
)
WEBHOOK_EVENT_VALUES = (
    "('version_created', 'stage_changed', 'check_recorded', 'approval_recorded', 'promoted', 'rolled_back', "
    "'deployed', 'registered_model.created', 'model_version.created', 'model_version_tag.set', "
    "'model_version_tag.deleted', 'model_version_alias.created', 'model_version_alias.deleted', "
    "'version_deleted', 'model_deleted', 'artifact_attached')"
)


class RegisteredModel(Base):
    __tablename__ = "registered_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    #: The highest version number ever given out; the next one is this plus one.
    last_version: Mapped[int] = mapped_column(Integer, default=0)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    tags: Mapped[list[ModelTag]] = relationship(
        cascade="all, delete-orphan", order_by="ModelTag.key"
    )

    __table_args__ = (CheckConstraint("last_version >= 0", name="last_version_non_negative"),)


class ModelTag(Base):
    __tablename__ = "model_tags"

    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id"))
    version: Mapped[int] = mapped_column(Integer)
    stage: Mapped[Stage] = mapped_column(StrEnumColumn(Stage, 16), default=Stage.NONE)
    artifact_uri: Mapped[str] = mapped_column(Text)
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    artifact_size: Mapped[int] = mapped_column(BigInteger)
    #: ``file``, ``directory`` (the digest is its manifest's), ``sklearn`` (serialized by the registry) or
    #: ``reference`` (only the source's location, in ``artifact_format``: no bytes, an empty digest, size 0).
    artifact_kind: Mapped[str] = mapped_column(String(16), server_default="file")
    #: How the artifact was serialized: library versions, file name, file count.
    artifact_format: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    run_id: Mapped[str | None] = mapped_column(String(512))
    dataset_digest: Mapped[str | None] = mapped_column(String(512))
    params: Mapped[dict[str, str]] = mapped_column(JSON)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON)
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    model_card: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    registered_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stage_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The latest change of the version's own record: registration, a stage, its description or attached bytes
    #: (MLflow's ``last_updated_timestamp``; tags, aliases and decisions are records of their own).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Audit sequence number of the event that last took this version out of
    #: Production; set only on versions that were in Production, so it both
    #: allows a rollback and orders rollback candidates.
    left_production_seq: Mapped[int | None] = mapped_column(BigInteger)

    tags: Mapped[list[VersionTag]] = relationship(
        cascade="all, delete-orphan", order_by="VersionTag.key"
    )

    __table_args__ = (
        CheckConstraint(f"stage IN {STAGE_VALUES}", name="stage_known"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("artifact_size >= 0", name="artifact_size_non_negative"),
        CheckConstraint(f"artifact_kind IN {ARTIFACT_KIND_VALUES}", name="artifact_kind_known"),
        CheckConstraint(REFERENCE_HAS_NO_BYTES, name="reference_has_no_bytes"),
        Index("uq_model_versions_model_id_version", "model_id", "version", unique=True),
        Index("ix_model_versions_model_id_stage_version", "model_id", "stage", "version"),
        Index(
            "uq_model_versions_one_production",
            "model_id",
            unique=True,
            sqlite_where=text("stage = 'Production'"),
            postgresql_where=text("stage = 'Production'"),
        ),
        Index(
            "ix_model_versions_rollback",
            "model_id",
            "left_production_seq",
            sqlite_where=text("left_production_seq IS NOT NULL"),
            postgresql_where=text("left_production_seq IS NOT NULL"),
        ),
        Index("ix_model_versions_run_id", "run_id"),
        Index("ix_model_versions_dataset_digest", "dataset_digest"),
        Index("ix_model_versions_artifact_sha256", "artifact_sha256"),
        # Searches ordered by time, over every version or one model's (MLflow's default order is the latest change).
        Index("ix_model_versions_updated_at", "updated_at"),
        Index("ix_model_versions_created_at", "created_at"),
        Index("ix_model_versions_model_id_updated_at", "model_id", "updated_at"),
        Index("ix_model_versions_model_id_created_at", "model_id", "created_at"),
    )


class VersionTag(Base):
    __tablename__ = "version_tags"

    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


#: Leading characters of a tag value held by the tag indexes (a value may exceed a PostgreSQL b-tree entry).
TAG_VALUE_INDEXED = 200
# A search for ``tags.k = 'v'`` finds the owners through these instead of probing every model or version.
Index("ix_model_tags_key_value", ModelTag.key, func.substr(ModelTag.value, 1, TAG_VALUE_INDEXED))
Index("ix_version_tags_key_value", VersionTag.key, func.substr(VersionTag.value, 1, TAG_VALUE_INDEXED))


class Alias(Base):
    __tablename__ = "aliases"

    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))

    __table_args__ = (Index("ix_aliases_version_id", "version_id"),)


class CheckResult(Base):
    __tablename__ = "check_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    name: Mapped[str] = mapped_column(String(128))
    passed: Mapped[bool] = mapped_column(Boolean)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    recorded_by: Mapped[str] = mapped_column(String(256))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The audit event that recorded this result; a result without a matching event is never counted.
    audit_seq: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_check_results_version_id_name_id", "version_id", "name", "id"),)


class Approval(Base):
    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    approver: Mapped[str] = mapped_column(String(256))
    decision: Mapped[Decision] = mapped_column(StrEnumColumn(Decision, 16))
    comment: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The audit event that recorded this decision; a decision without a matching event is never counted.
    audit_seq: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("decision IN ('approve', 'reject')", name="decision_known"),
        Index("ix_approvals_version_id_id", "version_id", "id"),
    )


class AuditEvent(Base):
    """One link of the audit hash chain. Written once, never updated or deleted."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: ISO 8601 UTC text, exactly as hashed.
    recorded_at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(128))
    version: Mapped[int | None] = mapped_column(Integer)
    #: Canonical JSON text, exactly as hashed.
    before: Mapped[str] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("seq >= 1", name="seq_positive"),
        Index("ix_audit_events_model_seq", "model", "seq"),
        Index("ix_audit_events_model_version_seq", "model", "version", "seq"),
        Index("ix_audit_events_action_seq", "action", "seq"),
    )


class AuditHead(Base):
    """The newest link of the chain, kept apart so that deleting the newest events is caught."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class WebhookSubscription(Base):
    """A receiver of registry events: where to send them, which ones, and the secret that signs them."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(Text)
    #: Event type names, sorted.
    events: Mapped[list[str]] = mapped_column(JSON)
    #: Only this model's events; None means every model.
    model: Mapped[str | None] = mapped_column(String(128))
    secret: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Set when the subscription is removed; the row stays so that its deliveries keep their history.
    removed_by: Mapped[str | None] = mapped_column(String(256))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: One delivery worker at a time per subscription, so that its events go out in order.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: "mlflow" for a subscription made through MLflow's webhooks API (its events and signature); None otherwise.
    flavor: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    #: MLflow's ACTIVE or DISABLED; None (always active) for the registry's own subscriptions.
    status: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("url LIKE 'http://%' OR url LIKE 'https://%'", name="url_http"),
        Index("ix_webhook_subscriptions_removed_at", "removed_at"),
    )


class WebhookOutbox(Base):
    """One event owed to one subscription, written in the same transaction as the change it reports."""

    __tablename__ = "webhook_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    audit_seq: Mapped[int] = mapped_column(ForeignKey("audit_events.seq"))
    #: Unique per delivery, so that receivers can deduplicate retries.
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(32))
    #: The exact JSON text that is sent and signed.
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(f"event_type IN {WEBHOOK_EVENT_VALUES}", name="event_type_known"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index(
            "ix_webhook_outbox_pending",
            "subscription_id",
            "audit_seq",
            "id",
            sqlite_where=text("delivered_at IS NULL"),
            postgresql_where=text("delivered_at IS NULL"),
        ),
        Index("ix_webhook_outbox_subscription_id_id", "subscription_id", "id"),
    )


class WebhookAttempt(Base):
    """One try at delivering an outbox event, successful or not."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("webhook_outbox.id"))
    number: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float] = mapped_column(Float)
    #: The receiver's HTTP status, or None when no response came back.
    status_code: Mapped[int | None] = mapped_column(Integer)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("number >= 1", name="number_positive"),
        Index("ix_webhook_attempts_outbox_id_id", "outbox_id", "id"),
    )


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, read from ``time.time()``: the clock MLflow's store reads, so a
    test that fixes ``time.time`` sees the same creation and update times from both."""
    return datetime.fromtimestamp(time.time(), UTC)


from .credential_table import Credential  # noqa: E402  (the table lives apart; importing it registers it on Base)
from .rendition_table import Rendition  # noqa: E402  (likewise)

"""registry_core: a governed model registry, independent of any orchestrator.

Open a catalog with :class:`Registry` and ask it the questions a team needs
answered: which version is in Production, who approved it, what trained it.
"""

from __future__ import annotations

from .actions import AuditAction
from .artifacts import ModelVersionWarning
from .audit import AuditReport
from .blobstore import BlobStore, FsspecBlobStore, LocalBlobStore, open_store
from .errors import (
    AuditLogError,
    ConflictError,
    DatabaseUnavailable,
    GateUnmet,
    IntegrityFailure,
    InvalidInput,
    InvalidTransition,
    MissingExtra,
    NotFound,
    NotPermitted,
    RegistryError,
    SchemaMismatch,
    StoreUnavailable,
)
from .policy import Decision, GateKind, GatePolicy, UnmetGate
from .records import (
    ApprovalRecord,
    AuditEntry,
    CheckRecord,
    GarbageReport,
    ModelInfo,
    StageChange,
    VersionDetails,
    VersionInfo,
)
from .registry import Registry
from .stages import ALLOWED_TRANSITIONS, Stage, parse_stage
from .uris import ModelRef, parse_model_uri
from .webhooks import EventType, WebhookAttemptRecord, WebhookDeliveryRecord, WebhookInfo, verify_signature

__version__ = "0.1.0"

__all__ = [
    "ALLOWED_TRANSITIONS",
    "ApprovalRecord",
    "AuditAction",
    "AuditEntry",
    "AuditLogError",
    "AuditReport",
    "BlobStore",
    "CheckRecord",
    "ConflictError",
    "DatabaseUnavailable",
    "Decision",
    "EventType",
    "FsspecBlobStore",
    "GarbageReport",
    "GateKind",
    "GatePolicy",
    "GateUnmet",
    "IntegrityFailure",
    "InvalidInput",
    "InvalidTransition",
    "LocalBlobStore",
    "MissingExtra",
    "ModelInfo",
    "ModelRef",
    "ModelVersionWarning",
    "NotFound",
    "NotPermitted",
    "Registry",
    "RegistryError",
    "SchemaMismatch",
    "Stage",
    "StageChange",
    "StoreUnavailable",
    "UnmetGate",
    "VersionDetails",
    "VersionInfo",
    "WebhookAttemptRecord",
    "WebhookDeliveryRecord",
    "WebhookInfo",
    "open_store",
    "parse_model_uri",
    "parse_stage",
    "verify_signature",
]

"""registry_core: a governed model registry, independent of any orchestrator.

Open a catalog with :class:`Registry` and ask it the questions a team needs
answered: which version is in Production, who approved it, what trained it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy_exports import lazy_getattr

if TYPE_CHECKING:
    from .actions import AuditAction
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
        PickleNotAllowed,
        ProofRefused,
        RegistryError,
        SchemaMismatch,
        StoreUnavailable,
        UntrustedType,
    )
    from .estimators import LegacyPickleWarning, ModelVersionWarning, Serialization
    from .gates import GateKind, UnmetGate
    from .policy import Decision, GatePolicy
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
    from .references import ArtifactReference
    from .registry import Registry
    from .stages import ALLOWED_TRANSITIONS, Stage, parse_stage
    from .uris import ModelRef, parse_model_uri
    from .webhooks import EventType, WebhookAttemptRecord, WebhookDeliveryRecord, WebhookInfo, verify_signature

__version__ = "0.1.0"

__all__ = [
    "ALLOWED_TRANSITIONS",
    "ApprovalRecord",
    "ArtifactReference",
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
    "LegacyPickleWarning",
    "LocalBlobStore",
    "MissingExtra",
    "ModelInfo",
    "ModelRef",
    "ModelVersionWarning",
    "NotFound",
    "NotPermitted",
    "PickleNotAllowed",
    "ProofRefused",
    "Registry",
    "RegistryError",
    "SchemaMismatch",
    "SearchPage",
    "Serialization",
    "Stage",
    "StageChange",
    "StoreUnavailable",
    "UnmetGate",
    "UntrustedType",
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

# The public names resolve on first use (PEP 562): ``import registry_core`` or
# ``from registry_core.errors import ...`` must not pay for SQLAlchemy, Alembic
# and the artifact stores, which the ``registry --help`` path never touches.
_EXPORTS: dict[str, str] = {
    "AuditAction": "actions",
    "AuditReport": "audit",
    "BlobStore": "blobstore",
    "FsspecBlobStore": "blobstore",
    "LocalBlobStore": "blobstore",
    "open_store": "blobstore",
    "AuditLogError": "errors",
    "ConflictError": "errors",
    "DatabaseUnavailable": "errors",
    "GateUnmet": "errors",
    "IntegrityFailure": "errors",
    "InvalidInput": "errors",
    "InvalidTransition": "errors",
    "MissingExtra": "errors",
    "NotFound": "errors",
    "NotPermitted": "errors",
    "PickleNotAllowed": "errors",
    "ProofRefused": "errors",
    "RegistryError": "errors",
    "SchemaMismatch": "errors",
    "StoreUnavailable": "errors",
    "UntrustedType": "errors",
    "LegacyPickleWarning": "estimators",
    "ModelVersionWarning": "estimators",
    "Serialization": "estimators",
    "GateKind": "gates",
    "UnmetGate": "gates",
    "Decision": "policy",
    "GatePolicy": "policy",
    "ApprovalRecord": "records",
    "AuditEntry": "records",
    "CheckRecord": "records",
    "GarbageReport": "records",
    "ModelInfo": "records",
    "StageChange": "records",
    "VersionDetails": "records",
    "VersionInfo": "records",
    "ArtifactReference": "references",
    "Registry": "registry",
    "ALLOWED_TRANSITIONS": "stages",
    "SearchPage": "search",
    "Stage": "stages",
    "parse_stage": "stages",
    "ModelRef": "uris",
    "parse_model_uri": "uris",
    "EventType": "webhooks",
    "WebhookAttemptRecord": "webhooks",
    "WebhookDeliveryRecord": "webhooks",
    "WebhookInfo": "webhooks",
    "verify_signature": "webhooks",
}


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

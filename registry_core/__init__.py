"""registry_core: a governed model registry, independent of any orchestrator.

Open a catalog with :class:`Registry` and ask it the questions a team needs
answered: which version is in Production, who approved it, what trained it.
"""

from __future__ import annotations

from .audit import AuditReport
from .errors import (
    AuditLogError,
    ConflictError,
    DatabaseUnavailable,
    GateUnmet,
    IntegrityFailure,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
    RegistryError,
    SchemaMismatch,
)
from .policy import GatePolicy
from .records import ApprovalRecord, AuditEntry, CheckRecord, ModelInfo, StageChange, VersionDetails, VersionInfo
from .registry import Registry
from .stages import ALLOWED_TRANSITIONS, Stage, parse_stage
from .uris import ModelRef, parse_model_uri

__version__ = "0.1.0"

__all__ = [
    "ALLOWED_TRANSITIONS",
    "ApprovalRecord",
    "AuditEntry",
    "AuditLogError",
    "AuditReport",
    "CheckRecord",
    "ConflictError",
    "DatabaseUnavailable",
    "GatePolicy",
    "GateUnmet",
    "IntegrityFailure",
    "InvalidInput",
    "InvalidTransition",
    "ModelInfo",
    "ModelRef",
    "NotFound",
    "NotPermitted",
    "Registry",
    "RegistryError",
    "SchemaMismatch",
    "Stage",
    "StageChange",
    "VersionDetails",
    "VersionInfo",
    "parse_model_uri",
    "parse_stage",
]

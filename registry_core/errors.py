"""The registry's typed errors.

Every error the registry raises on purpose derives from :class:`RegistryError`
and carries a message a person can act on. The CLI turns them into exit code 1
and one line on stderr.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .gates import UnmetGate

__all__ = [
    "AuditLogError",
    "ConflictError",
    "DatabaseUnavailable",
    "GateUnmet",
    "IntegrityFailure",
    "InvalidInput",
    "InvalidTransition",
    "MissingExtra",
    "NotFound",
    "NotPermitted",
    "PickleNotAllowed",
    "ProofRefused",
    "RegistryError",
    "SchemaMismatch",
    "StoreUnavailable",
    "UntrustedType",
]

#: The name this package is installed by, for the install command in :class:`MissingExtra`.
DISTRIBUTION = "dagster-model-registry"


class RegistryError(Exception):
    """Base class of every error the registry raises on purpose."""

    kind = "registry_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        """The error as a JSON-ready object."""
        return {"error": self.kind, "message": self.message}


class InvalidInput(RegistryError):
    """A name, value or document the registry does not accept."""

    kind = "invalid_input"


class NotFound(RegistryError):
    """A model, version, alias or stage that does not exist (``model`` and ``version`` name what, when known)."""

    kind = "not_found"

    def __init__(self, message: str, *, model: str | None = None, version: int | None = None) -> None:
        super().__init__(message)
        self.model = model
        self.version = version


class InvalidTransition(RegistryError):
    """A stage change the workflow does not allow."""

    kind = "invalid_transition"

    def __init__(self, message: str, current: str, target: str) -> None:
        super().__init__(message)
        self.current = current
        self.target = target

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "current": self.current, "target": self.target}


class GateUnmet(RegistryError):
    """A stage change refused because one or more gates are not met."""

    kind = "gate_unmet"

    def __init__(self, message: str, unmet: list[UnmetGate]) -> None:
        super().__init__(message)
        #: The unmet gates as records (kind, name, message), in the order the message lists them.
        self.unmet = unmet

    def to_dict(self) -> dict[str, object]:
        return {
            **super().to_dict(),
            "unmet": [{"kind": str(g.kind), "name": g.name, "message": g.message} for g in self.unmet],
        }


class NotPermitted(RegistryError):
    """An actor the model's policy does not allow to do this."""

    kind = "not_permitted"


class UntrustedType(RegistryError):
    """A model that would construct types neither scikit-learn's own nor trusted by its model's policy."""

    kind = "untrusted_type"

    def __init__(self, message: str, types: list[str]) -> None:
        super().__init__(message)
        #: The fully qualified names of the types refused, sorted.
        self.types = types

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "types": self.types}


class ProofRefused(NotPermitted):
    """A decision or policy change that needs a proof came without one, or with one that does not verify."""

    kind = "proof_refused"


class PickleNotAllowed(RegistryError):
    """A pickled model whose model's policy does not allow pickle: unpickling runs whatever code the pickle holds."""

    kind = "pickle_not_allowed"


class ConflictError(RegistryError):
    """A change that collides with the catalog's current state."""

    kind = "conflict"


class IntegrityFailure(RegistryError):
    """Stored bytes that do not match the digest the catalog recorded."""

    kind = "integrity_failure"


class AuditLogError(RegistryError):
    """The audit log cannot be read or appended to as a chain."""

    kind = "audit_log_error"


class SchemaMismatch(RegistryError):
    """A database whose schema is not the one this registry needs."""

    kind = "schema_mismatch"


class DatabaseUnavailable(RegistryError):
    """A database that cannot be reached or opened."""

    kind = "database_unavailable"


class StoreUnavailable(RegistryError):
    """An artifact store that cannot be reached, read or written."""

    kind = "store_unavailable"


class MissingExtra(RegistryError, ImportError):
    """A feature whose optional dependencies are not installed: the message names the pip extra that adds them.

    Also an :class:`ImportError`, which is what it replaces.
    """

    kind = "missing_extra"

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs the [{extra}] extra: pip install '{DISTRIBUTION}[{extra}]'")
        self.feature = feature
        self.extra = extra

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "extra": self.extra}

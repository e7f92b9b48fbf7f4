"""Versions registered as a reference: a source the registry could not read, kept with no bytes and no digest.

A team moving an MLflow registry over registers versions whose source is an
artifact URI this registry cannot read now (``s3://…`` without credentials,
``dbfs:/…``, ``runs:/…`` on another tracking server). Refusing them would
protect nothing but the registry's convenience, so such a version is
registered as a ``reference``: the source text is recorded (and audited),
nothing is copied, and the version has no digest. Everything the registry
vouches for needs verified bytes, so until they are attached
(:meth:`~registry_core.Registry.attach`, ``registry attach``) a reference is
never loaded, downloaded or served (:class:`~registry_core.errors.NotPermitted`),
and never reaches Production or a protected alias (an unmet gate).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import InvalidInput, NotPermitted
from .gates import GateKind, UnmetGate

if TYPE_CHECKING:
    from .artifacts import PackedArtifact

__all__ = [
    "MAX_SOURCE",
    "REFERENCE",
    "ArtifactReference",
    "missing_bytes_gate",
    "referenced_source",
    "require_bytes",
]

#: The artifact kind of a version that holds only its source's location.
REFERENCE = "reference"
#: The longest source recorded (MLflow's own column is 500 characters; URIs of object stores can be longer).
MAX_SOURCE = 4096


@dataclass(frozen=True)
class ArtifactReference:
    """Register this as a version to record ``source`` without reading it: a version with no bytes yet."""

    source: str

    def __post_init__(self) -> None:
        source = self.source
        if not isinstance(source, str) or not source.strip():
            raise InvalidInput("a referenced source is a non-empty text (a URI or a path)")
        if len(source) > MAX_SOURCE:
            raise InvalidInput(f"a referenced source is at most {MAX_SOURCE} characters, not {len(source)}")
        if any(unicodedata.category(char) == "Cc" for char in source):
            raise InvalidInput(f"referenced source {source[:80]!r} holds a control character")

    def packed(self) -> PackedArtifact:
        """What the catalog records of a reference: its source, no bytes, an empty digest."""
        from .artifacts import PackedArtifact

        return PackedArtifact(kind=REFERENCE, sha256="", size=0, location=self.source, format={"source": self.source})


def referenced_source(version: Any) -> str | None:
    """The source a reference version records (its row, record or replayed state), else None."""
    if getattr(version, "artifact_kind", None) != REFERENCE:
        return None
    recorded = getattr(version, "artifact_format", None) or {}
    return str(recorded.get("source") or getattr(version, "artifact_uri", "") or "")


def _label(version: Any) -> str:
    model = getattr(version, "model", None) or getattr(version, "model_name", None)
    return f"version {version.version} of {model!r}" if model else f"version {version.version}"


def require_bytes(version: Any, *, doing: str) -> None:
    """Raise :class:`NotPermitted` when ``version`` is a reference: nothing the registry vouches for reads it."""
    source = referenced_source(version)
    if source is not None:
        raise NotPermitted(
            f"cannot {doing} {_label(version)}: it references {source!r} and holds no bytes the registry verified; "
            "attach them first (registry attach NAME VERSION PATH)"
        )


def missing_bytes_gate(version: Any) -> UnmetGate | None:
    """The gate a reference version fails before Production and protected aliases, else None."""
    source = referenced_source(version)
    if source is None:
        return None
    return UnmetGate(
        GateKind.NO_BYTES, "artifact",
        f"version {version.version} holds no bytes: it references {source!r} (attach them first)",
    )

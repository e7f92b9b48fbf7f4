"""Registry refusals as Dagster failures: the run fails and its page says why, in the registry's words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import Failure, MetadataValue

from registry_core import GateUnmet, RegistryError

__all__ = ["refused"]


def refused(what: str, error: RegistryError, metadata: Mapping[str, Any] | None = None) -> Failure:
    """A :class:`Failure` whose description is ``what`` followed by the registry's message, naming every unmet gate."""
    extra: dict[str, Any] = dict(metadata or {})
    extra["registry error"] = MetadataValue.text(error.kind)
    if isinstance(error, GateUnmet):
        rows = "".join(f"| {gate.kind} | {gate.name} | {gate.message} |\n" for gate in error.unmet)
        extra["unmet gates"] = MetadataValue.md("| kind | gate | what is missing |\n|---|---|---|\n" + rows)
    # A refusal is the registry's answer, not a glitch: retrying the run would only repeat it.
    return Failure(description=f"{what}: {error.message}", metadata=extra, allow_retries=False)

"""The part of a model's governance policy its lifecycle depends on: the checks it records."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry_core import GatePolicy, Registry

__all__ = ["require_checks"]


def require_checks(
    registry: Registry, name: str, *, description: str | None,
    staging_checks: Sequence[str], production_checks: Sequence[str],
) -> GatePolicy:
    """Create the model if needed and make its policy require these checks.

    Only adds: checks someone else required stay required, and approvals,
    approvers and self-approval are left to whoever governs the model (``registry policy``).
    """
    from registry_core import ConflictError, NotFound

    try:
        policy = registry.get_policy(name)
    except NotFound:
        # A concurrent run may create it first: that is what we wanted anyway.
        with contextlib.suppress(ConflictError):
            registry.create_model(name, description=description)
        policy = registry.get_policy(name)
    staging = _union(policy.staging_checks, tuple(staging_checks))
    production = _union(policy.production_checks, tuple(production_checks))
    if staging == policy.staging_checks and production == policy.production_checks:
        return policy
    return registry.set_policy(name, staging_checks=staging, production_checks=production)


def _union(current: tuple[str, ...], required: tuple[str, ...]) -> tuple[str, ...]:
    return current + tuple(name for name in required if name not in current)

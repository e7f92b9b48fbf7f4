"""The part of a model's governance policy its pipeline depends on."""

from __future__ import annotations

import contextlib

from registry_core import ConflictError, GatePolicy, NotFound, Registry

from .model_pipeline import ModelPipeline

__all__ = ["ensure_pipeline_policy"]


def ensure_pipeline_policy(registry: Registry, pipeline: ModelPipeline) -> GatePolicy:
    """Create the model if needed and make its policy require the pipeline's checks.

    Only adds: checks someone else required stay required, and approvals,
    approvers and self-approval are left to whoever governs the model (``registry policy``).
    """
    try:
        policy = registry.get_policy(pipeline.name)
    except NotFound:
        # A concurrent run may create it first: that is what we wanted anyway.
        with contextlib.suppress(ConflictError):
            registry.create_model(pipeline.name, description=pipeline.description)
        policy = registry.get_policy(pipeline.name)
    staging = _union(policy.staging_checks, pipeline.staging_checks)
    production = _union(policy.production_checks, pipeline.production_checks)
    if staging == policy.staging_checks and production == policy.production_checks:
        return policy
    return registry.set_policy(pipeline.name, staging_checks=staging, production_checks=production)


def _union(current: tuple[str, ...], required: tuple[str, ...]) -> tuple[str, ...]:
    return current + tuple(name for name in required if name not in current)

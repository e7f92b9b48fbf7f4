"""The part of a model's governance policy its pipeline depends on."""

from __future__ import annotations

from registry_core import GatePolicy, Registry
from registry_lifecycle.required_checks import require_checks

from .model_pipeline import ModelPipeline

__all__ = ["ensure_pipeline_policy"]


def ensure_pipeline_policy(registry: Registry, pipeline: ModelPipeline) -> GatePolicy:
    """Create the model if needed and make its policy require the pipeline's checks (see :func:`require_checks`)."""
    return require_checks(
        registry, pipeline.name, description=pipeline.description,
        staging_checks=pipeline.staging_checks, production_checks=pipeline.production_checks,
    )

"""From a declared :class:`ModelPipeline` to Dagster definitions, one model or several side by side."""

from __future__ import annotations

from collections import Counter

from dagster import Definitions

from .assets import (
    build_candidate_model_asset,
    build_production_model_spec,
    build_training_data_asset,
    build_training_data_check,
)
from .jobs import (
    build_approval_job,
    build_promotion_job,
    build_redeploy_job,
    build_retrain_job,
    build_rollback_job,
    build_shadow_job,
    build_validation_job,
)
from .model_pipeline import ModelPipeline
from .resources import RegistryResource
from .schedules import build_retrain_schedule
from .sensors import build_approval_sensor, build_candidate_sensor, build_production_sensor, build_staging_sensor

__all__ = ["build_governance_definitions", "build_model_definitions", "build_registry_definitions"]


def build_model_definitions(pipeline: ModelPipeline, *, registry: RegistryResource | None = None) -> Definitions:
    """One model's assets, blocking data check, jobs, sensors and retraining schedule, named after the model."""
    retrain = build_retrain_job(pipeline)
    validate = build_validation_job(pipeline)
    shadow = build_shadow_job(pipeline)
    promote = build_promotion_job(pipeline)
    redeploy = build_redeploy_job(pipeline)
    return Definitions(
        assets=[
            build_training_data_asset(pipeline),
            build_candidate_model_asset(pipeline),
            build_production_model_spec(pipeline),
        ],
        asset_checks=[build_training_data_check(pipeline)],
        jobs=[retrain, validate, shadow, promote, redeploy],
        sensors=[
            build_candidate_sensor(pipeline, validate),
            build_staging_sensor(pipeline, shadow),
            build_approval_sensor(pipeline, promote),
            build_production_sensor(pipeline, redeploy),
        ],
        schedules=[build_retrain_schedule(pipeline, retrain)],
        resources={"registry": registry or RegistryResource.from_env()},
    )


def build_governance_definitions(*, registry: RegistryResource | None = None) -> Definitions:
    """The Launchpad jobs shared by every model: approve or reject a version, roll a model back."""
    return Definitions(
        jobs=[build_approval_job(), build_rollback_job()],
        resources={"registry": registry or RegistryResource.from_env()},
    )


def build_registry_definitions(*pipelines: ModelPipeline, registry: RegistryResource | None = None) -> Definitions:
    """Every pipeline's definitions plus the shared governance jobs, on one registry resource."""
    prefixes = Counter(pipeline.prefix for pipeline in pipelines)
    clashes = sorted(prefix for prefix, count in prefixes.items() if count > 1)
    if clashes:
        names = sorted(p.name for p in pipelines if p.prefix in clashes)
        raise ValueError(f"model names {names} map to the same Dagster prefix {clashes}: rename one of them")
    shared = registry or RegistryResource.from_env()
    return Definitions.merge(
        build_governance_definitions(registry=shared),
        *(build_model_definitions(pipeline, registry=shared) for pipeline in pipelines),
    )

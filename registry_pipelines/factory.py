"""From a declared :class:`ModelPipeline` to Dagster definitions, one model or several side by side."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from dagster import Definitions, EnvVar, ResourceDefinition

from .assets import (
    awaiting_decision_spec,
    build_candidate_model_asset,
    build_model_version_checks,
    build_model_version_spec,
    build_production_model_spec,
    build_training_data_asset,
    build_training_data_check,
    build_version_sync_job,
)
from .jobs import (
    build_decision_jobs,
    build_promotion_job,
    build_redeploy_job,
    build_retrain_job,
    build_rollback_job,
    build_shadow_job,
    build_validation_job,
)
from .jobs.governance import locked_registry
from .model_pipeline import ModelPipeline
from .partitions import VersionPartitions
from .resources import RegistryResource
from .schedules import build_retrain_schedule
from .sensors import (
    build_approval_sensor,
    build_candidate_sensor,
    build_production_sensor,
    build_review_sensor,
    build_staging_sensor,
    build_version_sensor,
)

__all__ = ["build_model_definitions", "build_registry_definitions", "build_review_definitions", "with_review"]


def build_model_definitions(pipeline: ModelPipeline, *, registry: RegistryResource | None = None) -> Definitions:
    """One model's assets, checks, jobs, sensors and retraining schedule, named after the model."""
    return Definitions.merge(_model_definitions(pipeline), _registry_definitions(registry))


def _registry_definitions(registry: RegistryResource | None) -> Definitions:
    return Definitions(resources={"registry": _shared_registry(registry or RegistryResource.from_env())})


# Definitions.merge accepts one resource key twice only when both are the same object: every model built on the
# same catalog settings (several YAML-declared models in one code location, say) gets the one resource definition.
_shared_registries: dict[tuple[tuple[str, str], ...], ResourceDefinition] = {}


def _shared_registry(registry: RegistryResource) -> ResourceDefinition:
    settings = (registry.database_url, registry.artifact_root, registry.actor)
    # An EnvVar is a str subclass equal to its variable's name: keep it apart from the same text given literally.
    key = tuple(("env", value.env_var_name) if isinstance(value, EnvVar) else ("value", value) for value in settings)
    if key not in _shared_registries:
        _shared_registries[key] = locked_registry(registry)
    return _shared_registries[key]


def _model_definitions(pipeline: ModelPipeline) -> Definitions:
    partitions = VersionPartitions.of(pipeline)
    retrain = build_retrain_job(pipeline)
    validate = build_validation_job(pipeline)
    shadow = build_shadow_job(pipeline)
    promote = build_promotion_job(pipeline)
    redeploy = build_redeploy_job(pipeline)
    version_sync = build_version_sync_job(pipeline, partitions)
    return Definitions(
        assets=[
            build_training_data_asset(pipeline),
            build_candidate_model_asset(pipeline),
            build_model_version_spec(pipeline, partitions),
            build_production_model_spec(pipeline),
        ],
        asset_checks=[build_training_data_check(pipeline), *build_model_version_checks(pipeline, partitions)],
        jobs=[
            retrain, validate, shadow, promote, redeploy, version_sync,
            *build_decision_jobs(pipeline, partitions), build_rollback_job(pipeline, partitions),
        ],
        sensors=[
            build_version_sensor(pipeline, partitions, version_sync),
            build_candidate_sensor(pipeline, validate),
            build_staging_sensor(pipeline, shadow),
            build_approval_sensor(pipeline, promote),
            build_production_sensor(pipeline, redeploy),
        ],
        schedules=[build_retrain_schedule(pipeline, retrain)],
    )


def build_registry_definitions(*pipelines: ModelPipeline, registry: RegistryResource | None = None) -> Definitions:
    """Every pipeline's definitions on one registry resource."""
    prefixes = Counter(pipeline.prefix for pipeline in pipelines)
    clashes = sorted(prefix for prefix, count in prefixes.items() if count > 1)
    if clashes:
        names = sorted(p.name for p in pipelines if p.prefix in clashes)
        raise ValueError(f"model names {names} map to the same Dagster prefix {clashes}: rename one of them")
    return Definitions.merge(
        _registry_definitions(registry),
        *(_model_definitions(pipeline) for pipeline in pipelines),
        build_review_definitions(
            sorted(p.name for p in pipelines), min((p.sensor_interval_seconds for p in pipelines), default=15)
        ),
    )


def build_review_definitions(models: Sequence[str], sensor_interval_seconds: int = 15) -> Definitions:
    """The reviewer's list across ``models``: the ``awaiting_decision`` asset and the sensor that keeps it."""
    return Definitions(
        assets=[awaiting_decision_spec(models)],
        sensors=[build_review_sensor(models, sensor_interval_seconds)],
    )


def with_review(defs: Definitions) -> Definitions:
    """``defs`` (one or more models' definitions, from a defs folder say) and the reviewer's list across their models.

    The models are those ``defs`` has an approve job for; the sensor ticks as often as their quickest sensor.
    """
    models = sorted({job.tags["registry/model"] for job in defs.jobs or () if job.tags.get("registry/step") == "approve"})
    intervals = [interval for sensor in defs.sensors or () if (interval := sensor.minimum_interval_seconds)]
    return Definitions.merge(defs, build_review_definitions(models, min(intervals, default=15)))

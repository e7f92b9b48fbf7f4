"""Lifecycle steps the tests take over and over, through the real jobs and sensors."""

from __future__ import annotations

from typing import Any

from dagster import ExecuteInProcessResult

from registry_core import Decision
from registry_pipelines import ModelPipeline
from registry_pipelines.jobs import decision_launch, retrain_run_config, rollback_launch
from registry_pipelines.testing import InProcessLifecycle, TickOutcome

MODEL = "fraud-detector"
REVIEWER = "risk-reviewer"


def retrain(lifecycle: InProcessLifecycle, pipeline: ModelPipeline, **params: Any) -> ExecuteInProcessResult:
    return lifecycle.run(pipeline.job_name("retrain"), retrain_run_config(pipeline, params))


def sync_versions(lifecycle: InProcessLifecycle, pipeline: ModelPipeline) -> TickOutcome:
    """Tick the sensor that mirrors the catalog into partitions, materializations and checks."""
    return lifecycle.tick(pipeline.job_name("versions_to_dagster"))


def decide(
    lifecycle: InProcessLifecycle,
    version: int,
    approver: str = REVIEWER,
    decision: Decision = Decision.APPROVE,
    *,
    pipeline: ModelPipeline,
    comment: str = "",
) -> ExecuteInProcessResult:
    """The approve (or reject) run for ``version``, chosen from the versions awaiting a decision, as the UI launches it."""
    sync_versions(lifecycle, pipeline)
    return lifecycle.launch(decision_launch(pipeline, version, approver, decision, comment))


def roll_back(
    lifecycle: InProcessLifecycle, pipeline: ModelPipeline, version: int, reason: str, requested_by: str = "oncall"
) -> ExecuteInProcessResult:
    sync_versions(lifecycle, pipeline)
    return lifecycle.launch(rollback_launch(pipeline, version, requested_by, reason))


def tick(lifecycle: InProcessLifecycle, pipeline: ModelPipeline, sensor: str) -> TickOutcome:
    """Tick one of the pipeline's sensors (``on_new_candidate``, ``on_staging``, ``on_approval``, ``on_production_change``)."""
    return lifecycle.tick(pipeline.job_name(sensor))


def to_staging(lifecycle: InProcessLifecycle, pipeline: ModelPipeline, **params: Any) -> int:
    """Train a candidate; the new-candidate sensor's run validates and shadow-evaluates it. Returns its version."""
    result = retrain(lifecycle, pipeline, **params)
    assert result.success
    validated = tick(lifecycle, pipeline, "on_new_candidate")
    assert validated.runs and validated.succeeded
    assert not tick(lifecycle, pipeline, "on_staging").runs  # shadow-evaluated in the validation run
    return int(validated.run_requests[-1].tags["registry/version"])


def to_production(lifecycle: InProcessLifecycle, pipeline: ModelPipeline, **params: Any) -> int:
    """Train, validate, shadow-evaluate and approve a version; the approval run promotes and redeploys it."""
    version = to_staging(lifecycle, pipeline, **params)
    assert decide(lifecycle, version, pipeline=pipeline).success
    return version

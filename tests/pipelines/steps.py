"""Lifecycle steps the tests take over and over, through the real jobs and sensors."""

from __future__ import annotations

from typing import Any

from dagster import ExecuteInProcessResult

from registry_pipelines import ModelPipeline
from registry_pipelines.jobs import Decision, approval_run_config, retrain_run_config
from registry_pipelines.testing import InProcessLifecycle, TickOutcome

MODEL = "fraud-detector"
REVIEWER = "risk-reviewer"


def retrain(lifecycle: InProcessLifecycle, pipeline: ModelPipeline, **params: Any) -> ExecuteInProcessResult:
    return lifecycle.run(pipeline.job_name("retrain"), retrain_run_config(pipeline, params))


def decide(
    lifecycle: InProcessLifecycle, version: int, approver: str = REVIEWER, decision: Decision = Decision.APPROVE
) -> ExecuteInProcessResult:
    return lifecycle.run("approve_model_version", approval_run_config(MODEL, version, approver, decision=decision))


def tick(lifecycle: InProcessLifecycle, pipeline: ModelPipeline, sensor: str) -> TickOutcome:
    """Tick one of the pipeline's sensors (``on_new_candidate``, ``on_staging``, ``on_approval``, ``on_production_change``)."""
    return lifecycle.tick(pipeline.job_name(sensor))


def to_staging(lifecycle: InProcessLifecycle, pipeline: ModelPipeline, **params: Any) -> int:
    """Train a candidate and let the sensors validate and shadow-evaluate it; returns its version."""
    result = retrain(lifecycle, pipeline, **params)
    assert result.success
    validated = tick(lifecycle, pipeline, "on_new_candidate")
    assert validated.runs and validated.succeeded
    shadowed = tick(lifecycle, pipeline, "on_staging")
    assert shadowed.runs and shadowed.succeeded
    return int(validated.run_requests[-1].tags["registry/version"])


def to_production(lifecycle: InProcessLifecycle, pipeline: ModelPipeline, **params: Any) -> int:
    """Train, validate, shadow-evaluate, approve, promote and redeploy a version; returns it."""
    version = to_staging(lifecycle, pipeline, **params)
    assert decide(lifecycle, version).success
    promoted = tick(lifecycle, pipeline, "on_approval")
    assert promoted.runs and promoted.succeeded
    redeployed = tick(lifecycle, pipeline, "on_production_change")
    assert redeployed.runs
    return version

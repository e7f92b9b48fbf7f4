"""Scheduled retraining, one schedule per model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import DefaultScheduleStatus, ScheduleDefinition

from .model_pipeline import ModelPipeline

if TYPE_CHECKING:
    # Dagster does not export the type define_asset_job returns.
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

__all__ = ["build_retrain_schedule"]


def build_retrain_schedule(pipeline: ModelPipeline, retrain_job: UnresolvedAssetJobDefinition) -> ScheduleDefinition:
    return ScheduleDefinition(
        name=pipeline.job_name("retrain_schedule"),
        job=retrain_job,
        cron_schedule=pipeline.retrain_cron,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING if pipeline.retrain_schedule_running else DefaultScheduleStatus.STOPPED,
        description=f"Retrain {pipeline.name} on '{pipeline.retrain_cron}' (UTC); the sensors take each candidate from there.",
    )

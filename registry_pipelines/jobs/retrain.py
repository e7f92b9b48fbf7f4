"""Retraining: load the data, run its expectation suite (blocking), train and register a candidate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dagster import AssetSelection, define_asset_job, in_process_executor

from ..model_pipeline import ModelPipeline

if TYPE_CHECKING:
    # Dagster does not export the type define_asset_job returns.
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

__all__ = ["build_retrain_job", "retrain_run_config"]


def build_retrain_job(pipeline: ModelPipeline) -> UnresolvedAssetJobDefinition:
    """``{model}_retrain``; its Launchpad opens with the pipeline's training parameters filled in, to edit."""
    return define_asset_job(
        name=pipeline.job_name("retrain"),
        selection=AssetSelection.assets(pipeline.asset_key("training_data"), pipeline.asset_key("candidate_model")),
        description=(
            f"Retrain {pipeline.name}: load the training data, check it against its expectation suite (a failure "
            "stops the run before anything is registered), train, and register the candidate."
        ),
        executor_def=in_process_executor,
        # Default run config: the Launchpad shows every parameter with its default instead of an empty ``params``.
        config=retrain_run_config(pipeline, pipeline.params),
        tags={"registry/model": pipeline.name, "registry/step": "retrain"},
    )


def retrain_run_config(pipeline: ModelPipeline, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run config for a retraining run that overrides some training parameters."""
    return {"ops": {pipeline.op_name("candidate_model"): {"config": {"params": dict(params or {})}}}}

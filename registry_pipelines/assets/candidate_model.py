"""The candidate model: trained, scored on a holdout and registered as a new version (stage None)."""


from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from registry_lifecycle.datasets import dataset_digest, features_and_target, holdout_split, signature
from registry_lifecycle.evaluation import judge_gates
from registry_lifecycle.frameworks import FrameworkMismatch, trained_model
from registry_lifecycle.predictions import INDEX_LABELLED_FORMATS, Predictor

from ..duplicates import find_identical
from ..metadata import metrics_table, model_card, version_metadata
from ..model_artifacts import register_trained
from ..model_pipeline import ModelPipeline
from ..policy import ensure_pipeline_policy
from ..resources import RegistryResource
from .data_frame import DataFrame
from .model_version import report_versions

__all__ = ["TrainingConfig", "build_candidate_model_asset"]


class TrainingConfig(Config):
    """Launchpad config of a retraining run."""

    params: dict[str, Any] = Field(
        default_factory=dict, description="Training parameters overriding the pipeline's defaults for this run."
    )


def build_candidate_model_asset(pipeline: ModelPipeline) -> AssetsDefinition:
    key = pipeline.asset_key("candidate_model")
    code_version = pipeline.training_code_version
    framework = pipeline.trained_with

    @asset(
        key=key,
        ins={"training_data": AssetIn(key=pipeline.asset_key("training_data"), dagster_type=DataFrame)},
        group_name=pipeline.prefix,
        code_version=code_version,
        kinds={framework.kind},
        description=(
            f"The newest {pipeline.name} candidate: trained with {framework.title} on the training data, scored on a "
            "holdout as it loads back from its stored format and registered as a new version in stage None, with its "
            "lineage. The validation sensor takes it from there."
        ),
    )
    def candidate_model(
        context: AssetExecutionContext, config: TrainingConfig, registry: RegistryResource, training_data: Any
    ) -> MaterializeResult:
        import pandas as pd

        params = {**pipeline.params, **config.params}
        train_rows, holdout_rows = holdout_split(
            training_data, pipeline.target, fraction=pipeline.holdout_fraction, seed=pipeline.split_seed
        )
        features, target = features_and_target(train_rows, pipeline.target)
        holdout_features, holdout_target = features_and_target(holdout_rows, pipeline.target)
        try:
            trained = trained_model(framework, pipeline.train(features, target, params))
        except FrameworkMismatch as exc:
            raise Failure(description=f"{pipeline.name}: {exc}", allow_retries=False) from None
        # Scored as the registry will load it (a booster from its own format), so the holdout figures are the version's.
        scored = Predictor(
            trained.stored, columns=list(features.columns), classes=trained.classes,
            indices_are_labels=framework.model_format not in INDEX_LABELLED_FORMATS,
        )
        metrics = dict(pipeline.evaluate(scored, holdout_features, holdout_target))
        digest = dataset_digest(training_data)
        positive_rate = float(target.mean()) if pd.api.types.is_numeric_dtype(target) else None
        card = model_card(
            pipeline, params=params, metrics=metrics, dataset_digest=digest, rows=len(training_data),
            holdout_rows=len(holdout_rows), positive_rate=positive_rate, code_version=code_version,
        )
        with registry.open() as catalog:
            ensure_pipeline_policy(catalog, pipeline)
            version = register_trained(
                catalog, pipeline.name, trained,
                run_id=context.run.run_id,
                dataset_digest=digest,
                params=params,
                metrics=metrics,
                signature=signature(features, target, classes=trained.classes),
                tags={
                    "dagster/asset_key": key.to_user_string(),
                    "dagster/code_version": code_version,
                    "dagster/job": context.run.job_name,
                    "dagster/run_id": context.run.run_id,
                },
                description=f"trained by Dagster run {context.run.run_id[:8]} ({context.run.job_name})",
                model_card=card,
            )
            identical = find_identical(catalog, version)
            catalog.set_tags(pipeline.name, identical.tags(context.run.run_id), version=version.version)
            note = identical.message(version.version)
            (context.log.warning if identical.loud else context.log.info)(note)
            report_versions(context, catalog, pipeline, {version.version: f"registered by run {context.run.run_id[:8]}"})
        context.log.info(f"registered {version.uri} (stage None): {_metrics_line(metrics)}")
        return MaterializeResult(
            metadata={
                **version_metadata(version),
                # Only true at registration: the version's own partition follows its stage from here on.
                "stage": MetadataValue.text(
                    f"None when registered; now: {pipeline.prefix}/model_version, partition {version.version}"
                ),
                "identical artifact": MetadataValue.text(note),
                "holdout metrics (training run)": metrics_table(metrics, judge_gates(pipeline.gates, metrics)),
                "framework": MetadataValue.text(
                    f"{framework.title}, stored as {framework.model_format or version.serialization}"
                ),
                "params": MetadataValue.json({k: _plain(v) for k, v in params.items()}),
                "model card": MetadataValue.md(card),
                "code version": MetadataValue.text(code_version),
            }
        )

    return candidate_model


def _metrics_line(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()))


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)

"""The training data set, and the expectation suite that must pass before anything trains on it."""


from typing import Any

from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetsDefinition,
    MetadataValue,
    asset,
    asset_check,
)

from registry_lifecycle.datasets import dataset_digest
from registry_lifecycle.expectations import run_expectations

from ..metadata import expectations_table, grouped
from ..model_pipeline import ModelPipeline
from .data_frame import DataFrame

__all__ = ["build_training_data_asset", "build_training_data_check"]


def build_training_data_asset(pipeline: ModelPipeline) -> AssetsDefinition:
    @asset(
        key=pipeline.asset_key("training_data"),
        group_name=pipeline.prefix,
        kinds={"pandas"},
        dagster_type=DataFrame,
        description=f"The data set {pipeline.name} trains on, loaded by its pipeline's data loader.",
    )
    def training_data(context: AssetExecutionContext) -> Any:
        import pandas as pd

        frame = pipeline.load_data()
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{pipeline.name}'s data loader returned {type(frame).__name__}, not a pandas DataFrame")
        metadata = {
            "dagster/row_count": MetadataValue.int(len(frame)),
            "columns": MetadataValue.text(", ".join(map(str, frame.columns))),
            "dataset digest": MetadataValue.text(grouped(dataset_digest(frame))),
        }
        if pipeline.target in frame.columns and pd.api.types.is_numeric_dtype(frame[pipeline.target]):
            metadata["target mean"] = MetadataValue.float(float(frame[pipeline.target].mean()))
        context.add_output_metadata(metadata)
        return frame

    return training_data


def build_training_data_check(pipeline: ModelPipeline) -> AssetChecksDefinition:
    @asset_check(
        asset=pipeline.asset_key("training_data"),
        name="expectation_suite",
        blocking=True,
        description=(
            f"The {pipeline.name} Great Expectations suite. Blocking: when it fails, no candidate is trained "
            "from this data and the catalog is not touched."
        ),
    )
    def training_data_expectations(training_data: Any) -> AssetCheckResult:
        report = run_expectations(training_data, pipeline.expectations(), suite=pipeline.name)
        return AssetCheckResult(
            passed=report.success,
            severity=AssetCheckSeverity.ERROR,
            description=report.summary(),
            metadata={
                "expectations": expectations_table(report),
                "failed": MetadataValue.int(len(report.failures)),
                "rows": MetadataValue.int(report.rows),
            },
        )

    return training_data_expectations

"""Validation: the expectation suite and the metric gates on evaluation data, then Staging, or the reasons why not."""


from dagster import (
    Failure,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Output,
    RunConfig,
    op,
)

from registry_core import RegistryError, Stage
from registry_lifecycle.datasets import dataset_digest, features_and_target
from registry_lifecycle.evaluation import judge_gates
from registry_lifecycle.expectations import run_expectations
from registry_lifecycle.predictions import CannotScore

from ..assets.model_version import report_versions
from ..metadata import expectations_table, gates_table, version_metadata
from ..model_artifacts import load_predictor
from ..model_pipeline import DATA_QUALITY_CHECK, ModelPipeline
from ..policy import ensure_pipeline_policy
from ..resources import RegistryResource
from .deployment import SHADOWS_IN_RUN_TAG
from .failures import refused
from .shadow import shadow_evaluate_version
from .single_op import single_op_job
from .version_config import VersionConfig

__all__ = ["VersionConfig", "build_validation_job", "validation_run_config"]


def validation_run_config(pipeline: ModelPipeline, version: int) -> RunConfig:
    return RunConfig(ops={pipeline.op_name("validate_candidate"): VersionConfig(version=version)})


def build_validation_job(pipeline: ModelPipeline) -> JobDefinition:
    @op(
        name=pipeline.op_name("validate_candidate"),
        description="Run the expectation suite and metric gates on evaluation data, record each as a check; all passing moves the version to Staging.",
    )
    def validate_candidate(context: OpExecutionContext, config: VersionConfig, registry: RegistryResource) -> Output:
        with registry.open() as catalog:
            try:
                version = catalog.get_version(pipeline.name, config.version)
            except RegistryError as exc:
                raise refused(f"cannot validate {pipeline.name} version {config.version}", exc) from None
            if version.stage is not Stage.NONE:
                context.log.info(f"{version.uri} is already in {version.stage}: nothing to validate")
                return Output(version.version, metadata={"skipped": MetadataValue.text(f"already in {version.stage}")})
            ensure_pipeline_policy(catalog, pipeline)
            try:
                model = load_predictor(catalog, version)
            except RegistryError as exc:
                raise refused(f"cannot load {version.uri} to validate it", exc) from None
            except CannotScore as exc:
                raise Failure(description=f"cannot score {version.uri}: {exc}", allow_retries=False) from None
            frame = pipeline.evaluation_data()
            digest = dataset_digest(frame)
            provenance = {"evaluation_data": digest, "rows": len(frame), "dagster_run_id": context.run_id}

            report = run_expectations(frame, pipeline.expectations(), suite=pipeline.name)
            quality = {**report.details(), **provenance}
            catalog.record_check(pipeline.name, version.version, DATA_QUALITY_CHECK, passed=report.success, details=quality)

            context.log.info(report.summary())
            metadata = {
                **version_metadata(version),
                "evaluation data digest": MetadataValue.text(digest),
                "expectations": expectations_table(report),
            }
            reasons = [] if report.success else [f"{DATA_QUALITY_CHECK} failed: {report.summary()}"]
            if report.success:
                features, target = features_and_target(frame, pipeline.target)
                try:
                    metrics = dict(pipeline.evaluate(model, features, target))
                except CannotScore as exc:
                    raise Failure(description=f"cannot score {version.uri}: {exc}", allow_retries=False) from None
                results = judge_gates(pipeline.gates, metrics)
                for result in results:
                    gate = {**result.details(), "metrics": metrics, **provenance}
                    catalog.record_check(pipeline.name, version.version, result.gate.check_name, passed=result.passed, details=gate)

                    context.log.info(f"{result.gate.check_name}: {result.describe()}")
                metadata["metric gates"] = gates_table(results)
                reasons += [f"{r.gate.check_name} failed: {r.describe()}" for r in results if not r.passed]
            else:
                reasons.append("metric gates not evaluated on data that failed its expectation suite")

            if reasons:
                report_versions(context, catalog, pipeline, {version.version: "validation failed: stays a candidate"})
                raise Failure(
                    description=f"{version.uri} stays out of Staging: " + "; ".join(reasons),
                    metadata={**metadata, "reasons": MetadataValue.md("\n".join(f"- {r}" for r in reasons))},
                )
            try:
                catalog.transition(
                    pipeline.name, version.version, Stage.STAGING,
                    reason=f"validation passed in Dagster run {context.run_id}",
                )
            except RegistryError as exc:
                raise refused(f"{version.uri} passed validation but was not moved to Staging", exc, metadata) from None
            report_versions(context, catalog, pipeline, {version.version: "validated: moved to Staging"})
            context.log.info(f"{version.uri} is in Staging; shadow-evaluating it in this run")
            # In the same run rather than after another sensor hop: the reviewer sees it awaiting a decision sooner.
            shadowed = shadow_evaluate_version(context, catalog, pipeline, version.version)
        return Output(version.version, metadata={**metadata, **shadowed.metadata})

    return single_op_job(
        validate_candidate,
        name=pipeline.job_name("validate"),
        description=(
            f"Validate a {pipeline.name} candidate and, when it reaches Staging, shadow-evaluate it in the same run; "
            "launched by the new-candidate sensor."
        ),
        tags={"registry/model": pipeline.name, "registry/step": "validate", SHADOWS_IN_RUN_TAG: "yes"},
    )

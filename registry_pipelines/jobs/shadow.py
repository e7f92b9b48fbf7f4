"""Shadow evaluation: a Staging version scored beside the Production version on the same rows."""


from dagster import (
    Failure,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Output,
    RunConfig,
    op,
)

from registry_core import NotFound, Registry, RegistryError, Stage
from registry_lifecycle.datasets import dataset_digest, features_and_target
from registry_lifecycle.evaluation import shadow_compare
from registry_lifecycle.predictions import CannotScore

from ..assets.model_version import report_versions
from ..launch_links import decision_links
from ..metadata import shadow_table, version_metadata
from ..model_artifacts import load_predictor
from ..model_pipeline import SHADOW_CHECK, ModelPipeline
from ..resources import RegistryResource
from .failures import refused
from .single_op import single_op_job
from .version_config import VersionConfig

__all__ = ["build_shadow_job", "shadow_evaluate_version", "shadow_run_config"]


def shadow_run_config(pipeline: ModelPipeline, version: int) -> RunConfig:
    return RunConfig(ops={pipeline.op_name("shadow_evaluate"): VersionConfig(version=version)})


def build_shadow_job(pipeline: ModelPipeline) -> JobDefinition:
    @op(
        name=pipeline.op_name("shadow_evaluate"),
        description="Score the Staging version and the Production version on the same evaluation data; record the comparison as a check.",
    )
    def shadow_evaluate(context: OpExecutionContext, config: VersionConfig, registry: RegistryResource) -> Output:
        with registry.open() as catalog:
            return shadow_evaluate_version(context, catalog, pipeline, config.version)

    return single_op_job(
        shadow_evaluate,
        name=pipeline.job_name("shadow_evaluate"),
        description=f"Shadow-evaluate a {pipeline.name} Staging version; launched by the Staging sensor.",
        tags={"registry/model": pipeline.name, "registry/step": "shadow_evaluate"},
    )


def shadow_evaluate_version(context: OpExecutionContext, catalog: Registry, pipeline: ModelPipeline, number: int) -> Output:
    """Score a Staging version beside the Production version, record the comparison, and report the version."""
    try:
        version = catalog.get_version(pipeline.name, number)
    except RegistryError as exc:
        raise refused(f"cannot shadow-evaluate {pipeline.name} version {number}", exc) from None
    if version.stage is not Stage.STAGING:
        context.log.info(f"{version.uri} is in {version.stage}, not Staging: nothing to shadow-evaluate")
        return Output(version.version, metadata={"skipped": MetadataValue.text(f"in {version.stage}")})
    try:
        production = catalog.resolve(f"models:/{pipeline.name}/Production")
    except NotFound:
        production = None
    try:
        candidate = load_predictor(catalog, version)
        serving = load_predictor(catalog, production) if production else None
    except RegistryError as exc:
        raise refused(f"cannot load the models to shadow-evaluate {version.uri}", exc) from None
    except CannotScore as exc:
        raise Failure(description=f"cannot shadow-evaluate {version.uri}: {exc}", allow_retries=False) from None
    frame = pipeline.evaluation_data()
    features, target = features_and_target(frame, pipeline.target)
    try:
        report = shadow_compare(
            candidate=candidate,
            candidate_version=version.version,
            production=serving,
            production_version=production.version if production else None,
            features=features,
            target=target,
            evaluate=pipeline.evaluate,
            gates=pipeline.gates,
            tolerance=pipeline.shadow_tolerance,
        )
    except CannotScore as exc:
        raise Failure(description=f"cannot shadow-evaluate {version.uri}: {exc}", allow_retries=False) from None
    details = {**report.details(), "evaluation_data": dataset_digest(frame), "dagster_run_id": context.run_id}
    catalog.record_check(pipeline.name, version.version, SHADOW_CHECK, passed=report.passed, details=details)
    verdict = "passed" if report.passed else "FAILED"
    report_versions(context, catalog, pipeline, {version.version: f"shadow evaluation {verdict}"})
    context.log.info(report.summary())
    metadata = {
        **version_metadata(version),
        "compared with": MetadataValue.text(production.uri if production else "no Production version yet"),
        "comparison": shadow_table(report),
        "summary": MetadataValue.text(report.summary()),
        "candidate latency (ms)": MetadataValue.float(report.candidate_latency_ms),
    }
    if report.agreement is not None:
        metadata["prediction agreement"] = MetadataValue.float(report.agreement)
    if report.warnings:
        context.log.warning("metrics without a gate fell behind Production: " + "; ".join(report.warnings))
        metadata["warnings (metrics without a gate)"] = MetadataValue.md(
            "\n".join(f"- {warning}" for warning in report.warnings)
        )
    if not report.passed:
        raise Failure(description=f"{version.uri} failed shadow evaluation: {report.summary()}", metadata=metadata)
    waiting_for = catalog.unmet_gates(pipeline.name, version.version, Stage.PRODUCTION)
    if waiting_for:
        context.log.info(f"{version.uri} awaits: " + "; ".join(gate.message for gate in waiting_for))
        metadata["awaiting"] = MetadataValue.md("\n".join(f"- {gate}" for gate in waiting_for))
        metadata |= decision_links(context, pipeline, version.version)
    return Output(version.version, metadata=metadata)

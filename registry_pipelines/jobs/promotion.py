"""Promotion: the registry checks every gate and changes Production in one transaction, or refuses and changes nothing."""


from dagster import (
    Config,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Output,
    RunConfig,
    op,
)
from pydantic import Field

from registry_core import RegistryError, Stage

from ..assets.model_version import report_versions
from ..model_pipeline import ModelPipeline
from ..resources import RegistryResource
from .failures import refused
from .single_op import single_op_job

__all__ = ["PromotionConfig", "build_promotion_job", "promotion_run_config"]



class PromotionConfig(Config):
    version: int = Field(description="The Staging version to promote.")
    reason: str = Field(default="", description="Why, for the audit log.")


def promotion_run_config(pipeline: ModelPipeline, version: int, reason: str = "") -> RunConfig:
    return RunConfig(ops={pipeline.op_name("promote"): PromotionConfig(version=version, reason=reason)})


def build_promotion_job(pipeline: ModelPipeline) -> JobDefinition:
    @op(
        name=pipeline.op_name("promote"),
        description="Promote a Staging version to Production if every gate holds; the previous Production version is archived.",
    )
    def promote(context: OpExecutionContext, config: PromotionConfig, registry: RegistryResource) -> Output:
        reason = " ".join(filter(None, [config.reason.strip(), f"(Dagster run {context.run_id})"]))
        with registry.open() as catalog:
            try:
                current = catalog.get_version(pipeline.name, config.version)
                if current.stage is Stage.PRODUCTION:
                    context.log.info(f"{current.uri} is already in Production")
                    return Output(current.version, metadata={"skipped": MetadataValue.text("already in Production")})
                change = catalog.promote(pipeline.name, config.version, reason=reason)
            except RegistryError as exc:
                raise refused(f"{pipeline.name} version {config.version} was not promoted", exc) from None
            changed = {change.version.version: "promoted to Production"}
            if change.archived:
                changed[change.archived.version] = f"archived: version {change.version.version} entered Production"
            report_versions(context, catalog, pipeline, changed)
        archived = f"version {change.archived.version} archived" if change.archived else "no previous Production version"
        context.log.info(f"{change.version.uri} is in Production; {archived}")
        return Output(
            change.version.version,
            metadata={
                "version": MetadataValue.int(change.version.version),
                "archived": MetadataValue.text(archived),
                "audit seq": MetadataValue.int(change.audit_seq),
            },
        )

    return single_op_job(
        promote,
        name=pipeline.job_name("promote"),
        description=f"Promote a {pipeline.name} version to Production; launched by the approval sensor once every gate holds.",
        tags={"registry/model": pipeline.name, "registry/step": "promote"},
    )

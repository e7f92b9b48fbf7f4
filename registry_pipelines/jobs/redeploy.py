"""Redeploy: report the Production change as a materialization, then tell every deploy target, with retries."""


from dagster import (
    Config,
    In,
    JobDefinition,
    OpExecutionContext,
    Out,
    Output,
    RunConfig,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from ..deploy import ProductionChange
from ..model_pipeline import ModelPipeline
from ..resources import RegistryResource
from .deployment import current_change, notify_targets

__all__ = ["RedeployConfig", "build_redeploy_job", "redeploy_run_config"]


class RedeployConfig(Config):
    version: int | None = Field(default=None, description="The version to deploy; by default the Production version.")
    audit_seq: int | None = Field(default=None, description="The audit event that made the change (set by the sensor).")


def redeploy_run_config(pipeline: ModelPipeline, version: int | None = None) -> RunConfig:
    """Run config of a redeploy launched by hand: the given version, by default the Production one."""
    return RunConfig(ops={pipeline.op_name("record_production_change"): RedeployConfig(version=version)})


def build_redeploy_job(pipeline: ModelPipeline) -> JobDefinition:
    @op(
        name=pipeline.op_name("record_production_change"),
        out=Out(ProductionChange, is_required=False),
        description="Materialize the production model for this change; skip when a newer change superseded it.",
    )
    def record_production_change(context: OpExecutionContext, config: RedeployConfig, registry: RegistryResource):
        with registry.open() as catalog:
            found = current_change(context, catalog, pipeline, version=config.version, audit_seq=config.audit_seq)
        if found is None:
            return
        change, materialization = found
        yield materialization
        yield Output(change)

    @op(
        name=pipeline.op_name("notify_deploy_targets"),
        ins={"change": In(ProductionChange)},
        description="Tell each deploy target which version serves now, retrying with backoff; record every outcome in the audit log.",
    )
    def notify_deploy_targets(context: OpExecutionContext, registry: RegistryResource, change: ProductionChange) -> Output:
        with registry.open() as catalog:
            table = notify_targets(context, catalog, pipeline, change)
        return Output(len(pipeline.deploy_targets), metadata={"deployments": table})

    @job(
        name=pipeline.job_name("redeploy"),
        description=f"Deploy the {pipeline.name} Production version; launched by the Production-change sensor, or by hand.",
        executor_def=in_process_executor,
        tags={"registry/model": pipeline.name, "registry/step": "redeploy"},
    )
    def redeploy() -> None:
        notify_deploy_targets(record_production_change())

    return redeploy

"""Redeploy: report the Production change as a materialization, then tell every deploy target, with retries."""


from dagster import (
    Config,
    Failure,
    In,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Out,
    Output,
    RunConfig,
    RunsFilter,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from registry_core import AuditAction, AuditEntry, NotFound, Registry, RegistryError, VersionDetails

from ..assets.production_model import production_change_materialization
from ..deploy import ProductionChange, deploy_with_retries
from ..metadata import deploy_outcomes_table
from ..model_pipeline import ModelPipeline
from ..resources import RegistryResource
from .failures import refused
from .promotion import CHANGE_SEQ_TAG

__all__ = ["RedeployConfig", "build_redeploy_job", "redeploy_run_config"]

_CHANGE_ACTIONS = {AuditAction.VERSION_PROMOTE: "promotion", AuditAction.VERSION_ROLLBACK: "rollback"}


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
            try:
                current = catalog.resolve(f"models:/{pipeline.name}/Production")
            except NotFound:
                current = None
            except RegistryError as exc:
                raise refused(f"cannot read {pipeline.name}'s Production version", exc) from None
            wanted = config.version if config.version is not None else (current.version if current else None)
            if wanted is None:
                raise Failure(description=f"{pipeline.name} has no Production version to deploy")
            if current is None or current.version != wanted:
                serving = f"version {current.version}" if current else "no version"
                context.log.warning(
                    f"{pipeline.name} version {wanted} is no longer in Production ({serving} is): "
                    "not deploying it; the newer change has its own redeploy run"
                )
                return
            details = catalog.show(current.uri)
            event = _change_event(catalog, pipeline.name, details, config.audit_seq)
        change = ProductionChange(
            model=pipeline.name,
            version=current.version,
            uri=current.uri,
            artifact_sha256=current.artifact_sha256,
            # Launched by hand (no triggering event): a redeploy of the change that put this version in Production.
            change=_CHANGE_ACTIONS[event.action] if event and config.audit_seq is not None else "redeploy",
            audit_seq=event.seq if event else None,
            previous_version=(event.before or {}).get("production") if event else None,
            reason=(event.after or {}).get("reason") if event else None,
            changed_by=event.actor if event else None,
        )
        yield production_change_materialization(
            pipeline, details, change, event, change_run_id=_change_run_id(context, pipeline, change)
        )
        yield Output(change)

    @op(
        name=pipeline.op_name("notify_deploy_targets"),
        ins={"change": In(ProductionChange)},
        description="Tell each deploy target which version serves now, retrying with backoff; record every outcome in the audit log.",
    )
    def notify_deploy_targets(context: OpExecutionContext, registry: RegistryResource, change: ProductionChange) -> Output:
        targets = list(pipeline.deploy_targets)
        if not targets:
            context.log.warning(f"{pipeline.name} has no deploy targets configured: nothing to notify")
            return Output(0, metadata={"deployments": MetadataValue.text("no deploy targets configured")})
        outcomes = []
        with registry.open() as catalog:
            for target in targets:
                outcome = deploy_with_retries(
                    target, change, attempts=pipeline.deploy_attempts, backoff_seconds=pipeline.deploy_backoff_seconds,
                    on_retry=lambda attempt, error, delay, name=target.name: context.log.warning(
                        f"{name}: attempt {attempt} failed ({error}); retrying in {delay:g}s"
                    ),
                )
                catalog.record_deployment(
                    change.model, change.version, target=outcome.target, succeeded=outcome.succeeded,
                    details={**outcome.details(), "audit_seq": change.audit_seq, "dagster_run_id": context.run_id},
                )
                log = context.log.info if outcome.succeeded else context.log.error
                log(f"{outcome.target}: {'deployed' if outcome.succeeded else 'FAILED'} {change.uri} ({outcome.detail})")
                outcomes.append(outcome)
        table = deploy_outcomes_table(outcomes)
        failed = [o for o in outcomes if not o.succeeded]
        if failed:
            raise Failure(
                description=(
                    f"{change.uri} is in Production but {len(failed)} of {len(outcomes)} deploy target(s) stayed down "
                    f"after {pipeline.deploy_attempts} attempt(s): " + "; ".join(f"{o.target}: {o.detail}" for o in failed)
                ),
                metadata={"deployments": table},
            )
        return Output(len(outcomes), metadata={"deployments": table})

    @job(
        name=pipeline.job_name("redeploy"),
        description=f"Deploy the {pipeline.name} Production version; launched by the Production-change sensor, or by hand.",
        executor_def=in_process_executor,
        tags={"registry/model": pipeline.name, "registry/step": "redeploy"},
    )
    def redeploy() -> None:
        notify_deploy_targets(record_production_change())

    return redeploy


def _change_event(catalog: Registry, name: str, details: VersionDetails, audit_seq: int | None) -> AuditEntry | None:
    if audit_seq is not None:
        found = catalog.audit_events(name, after_seq=audit_seq - 1, limit=1)
        if found and found[0].seq == audit_seq and found[0].action in _CHANGE_ACTIONS:
            return found[0]
    changes = [entry for entry in details.stage_history if entry.action in _CHANGE_ACTIONS]
    return changes[-1] if changes else None


def _change_run_id(context: OpExecutionContext, pipeline: ModelPipeline, change: ProductionChange) -> str | None:
    if change.audit_seq is None:
        return None
    runs = context.instance.get_runs(
        filters=RunsFilter(tags={"registry/model": pipeline.name, CHANGE_SEQ_TAG: str(change.audit_seq)}), limit=1
    )
    return runs[0].run_id if runs else None

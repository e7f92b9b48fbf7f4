"""The two halves of a redeploy, shared by the redeploy job and by the runs that change Production themselves.

A decision run that promotes, or a rollback run, reports the change and tells
the deploy targets in the same run: the serving system hears of it within
seconds, not after another sensor hop and run start.
"""

from __future__ import annotations

import re

from dagster import AssetMaterialization, DagsterInstance, DagsterRun, Failure, MetadataValue, OpExecutionContext

from registry_core import AuditAction, AuditEntry, NotFound, Registry, RegistryError, Stage, VersionDetails

from ..assets.production_model import production_change_materialization
from ..deploy import ProductionChange, deploy_with_retries
from ..launch_links import rollback_links
from ..metadata import deploy_outcomes_table
from ..model_pipeline import ModelPipeline
from .failures import refused

__all__ = [
    "CHANGE_ACTIONS",
    "REDEPLOYS_IN_RUN_TAG",
    "SHADOWS_IN_RUN_TAG",
    "current_change",
    "notify_targets",
    "run_named_in",
]

CHANGE_ACTIONS = {AuditAction.VERSION_PROMOTE: "promotion", AuditAction.VERSION_ROLLBACK: "rollback"}
#: Job tag of runs that redeploy what they put in Production; the Production-change sensor leaves their changes alone.
REDEPLOYS_IN_RUN_TAG = "registry/redeploys_in_run"
#: Job tag of the validation runs that shadow-evaluate the version they move to Staging; the Staging sensor leaves it.
SHADOWS_IN_RUN_TAG = "registry/shadows_in_run"
# Runs that change the catalog say so in the reason or comment they record: "... (Dagster run <id>)".
_RUN_IN_REASON = re.compile(r"Dagster run ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def current_change(
    context: OpExecutionContext, catalog: Registry, pipeline: ModelPipeline, *, version: int | None, audit_seq: int | None,
    change_run_id: str | None = None,
) -> tuple[ProductionChange, AssetMaterialization] | None:
    """The Production version as a change to report, or None when ``version`` is no longer the one in Production."""
    try:
        current = catalog.resolve(f"models:/{pipeline.name}/Production")
    except NotFound:
        current = None
    except RegistryError as exc:
        raise refused(f"cannot read {pipeline.name}'s Production version", exc) from None
    wanted = version if version is not None else (current.version if current else None)
    if wanted is None:
        raise Failure(description=f"{pipeline.name} has no Production version to deploy")
    if current is None or current.version != wanted:
        serving = f"version {current.version}" if current else "no version"
        context.log.warning(
            f"{pipeline.name} version {wanted} is no longer in Production ({serving} is): "
            "not deploying it; the newer change has its own redeploy"
        )
        return None
    details = catalog.show(current.uri)
    event = _change_event(catalog, pipeline.name, details, audit_seq)
    change = ProductionChange(
        model=pipeline.name,
        version=current.version,
        uri=current.uri,
        artifact_sha256=current.artifact_sha256,
        # Launched by hand (no triggering event): a redeploy of the change that put this version in Production.
        change=CHANGE_ACTIONS[event.action] if event and audit_seq is not None else "redeploy",
        audit_seq=event.seq if event else None,
        previous_version=(event.before or {}).get("production") if event else None,
        reason=(event.after or {}).get("reason") if event else None,
        changed_by=event.actor if event else None,
    )
    # The run that made the change names itself in the change's reason; nothing needs adding to its tags.
    named = run_named_in(context.instance, event) if event and not change_run_id else None
    run_id = change_run_id or (named.run_id if named else None)
    archived = catalog.list_versions(pipeline.name, stage=Stage.ARCHIVED, limit=20)
    links = rollback_links(context, pipeline, [v.version for v in archived if v.was_production])
    return change, production_change_materialization(pipeline, details, change, event, change_run_id=run_id, links=links)


def notify_targets(context: OpExecutionContext, catalog: Registry, pipeline: ModelPipeline, change: ProductionChange) -> MetadataValue:
    """Tell every deploy target, with retries; each outcome goes into the audit log. A target that stays down fails the run."""
    targets = list(pipeline.deploy_targets)
    if not targets:
        context.log.warning(f"{pipeline.name} has no deploy targets configured: nothing to notify")
        return MetadataValue.text("no deploy targets configured")
    outcomes = []
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
    return table


def _change_event(catalog: Registry, name: str, details: VersionDetails, audit_seq: int | None) -> AuditEntry | None:
    if audit_seq is not None:
        found = catalog.audit_events(name, after_seq=audit_seq - 1, limit=1)
        if found and found[0].seq == audit_seq and found[0].action in CHANGE_ACTIONS:
            return found[0]
    changes = [entry for entry in details.stage_history if entry.action in CHANGE_ACTIONS]
    return changes[-1] if changes else None


def run_named_in(instance: DagsterInstance, event: AuditEntry) -> DagsterRun | None:
    """The Dagster run an audit event's reason (or comment) names, if ``instance`` has it."""
    after = event.after or {}
    found = _RUN_IN_REASON.search(str(after.get("reason") or after.get("comment") or ""))
    return instance.get_run_by_id(found.group(1)) if found else None

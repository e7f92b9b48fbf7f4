"""The four sensors that move a version through its lifecycle, one per catalog event that calls for a step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from dagster import DagsterInstance, DagsterRunStatus, SensorDefinition

from registry_core import AuditAction, AuditEntry, Decision, Stage, VersionDetails
from registry_core.identities import shown_actor

from ..jobs.deployment import REDEPLOYS_IN_RUN_TAG, SHADOWS_IN_RUN_TAG, run_named_in
from ..model_pipeline import SHADOW_CHECK, ModelPipeline
from .catalog_sensor import Reaction, Settled, catalog_event_sensor, lifecycle_run

if TYPE_CHECKING:
    # Dagster does not export the type define_asset_job returns.
    pass

_GAVE_UP = (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED, DagsterRunStatus.CANCELING)

__all__ = [
    "build_approval_sensor",
    "build_candidate_sensor",
    "build_production_sensor",
    "build_staging_sensor",
]

Job = "JobDefinition | UnresolvedAssetJobDefinition"


def build_candidate_sensor(pipeline: ModelPipeline, validate_job: Job) -> SensorDefinition:
    """New version registered, or a reference's bytes attached → validation run (if it is still a candidate)."""

    def react(snapshot: Mapping[int, VersionDetails], event: AuditEntry, _instance: DagsterInstance) -> Reaction:
        if event.version is None:
            return None
        version = snapshot[event.version].version
        if version.stage is not Stage.NONE:
            return f"version {event.version} is already in {version.stage}"
        if not version.artifact_sha256:
            return f"version {event.version} is a reference with no bytes yet: it is validated once they are attached"
        return lifecycle_run(
            pipeline, "validate", validate_job.name, pipeline.op_name("validate_candidate"), event,
            {"version": event.version},
        )

    return catalog_event_sensor(
        name=pipeline.job_name("on_new_candidate"),
        model=pipeline.name,
        job=validate_job,
        react=react,
        actions=frozenset({AuditAction.VERSION_REGISTER, AuditAction.VERSION_ATTACH}),
        description=f"A new {pipeline.name} version was registered: validate it.",
        minimum_interval_seconds=pipeline.sensor_interval_seconds,
    )


def build_staging_sensor(pipeline: ModelPipeline, shadow_job: Job) -> SensorDefinition:
    """Version moved to Staging → shadow-evaluation run (unless it already has one)."""

    def react(snapshot: Mapping[int, VersionDetails], event: AuditEntry, instance: DagsterInstance) -> Reaction:
        if event.version is None or (event.after or {}).get("stage") != Stage.STAGING.value:
            return None
        if shadowing := _run_doing_it(instance, event, SHADOWS_IN_RUN_TAG):
            return f"version {event.version} is shadow-evaluated by its validation run {shadowing}"
        details = snapshot[event.version]
        if details.version.stage is not Stage.STAGING:
            return f"version {event.version} has left Staging ({details.version.stage})"
        if any(check.name == SHADOW_CHECK for check in details.checks):
            return f"version {event.version} already has a {SHADOW_CHECK} result"
        return lifecycle_run(
            pipeline, "shadow", shadow_job.name, pipeline.op_name("shadow_evaluate"), event, {"version": event.version}
        )

    return catalog_event_sensor(
        name=pipeline.job_name("on_staging"),
        model=pipeline.name,
        job=shadow_job,
        react=react,
        actions=frozenset({AuditAction.VERSION_TRANSITION}),
        description=f"A {pipeline.name} version entered Staging: shadow-evaluate it against Production.",
        minimum_interval_seconds=pipeline.sensor_interval_seconds,
    )


def build_approval_sensor(pipeline: ModelPipeline, promote_job: Job) -> SensorDefinition:
    """Approval (or a check) recorded on a Staging version whose gates now all hold → promotion run."""

    def react(snapshot: Mapping[int, VersionDetails], event: AuditEntry, instance: DagsterInstance) -> Reaction:
        approval = event.action is AuditAction.APPROVAL_RECORD
        if event.version is None or (approval and (event.after or {}).get("decision") != Decision.APPROVE):
            return None
        if approval and (deciding := _redeploying_run(instance, event)):
            return f"version {event.version} was approved by run {deciding}, which promotes it itself when every gate holds"
        details = snapshot[event.version]
        version = details.version
        if version.stage is not Stage.STAGING:
            return f"version {event.version} was approved while in {version.stage}" if approval else None
        unmet = details.unmet_gates  # a Staging version's next stage is Production
        if unmet:
            return f"version {event.version} awaits: " + "; ".join(gate.message for gate in unmet)
        trigger = f"approved by {shown_actor(event.actor)}" if approval else f"check {(event.after or {}).get('check')} recorded"
        return lifecycle_run(
            pipeline, "promote", promote_job.name, pipeline.op_name("promote"), event,
            {"version": event.version, "reason": f"every gate holds ({trigger}, audit #{event.seq})"},
        )

    return catalog_event_sensor(
        name=pipeline.job_name("on_approval"),
        model=pipeline.name,
        job=promote_job,
        react=react,
        actions=frozenset({AuditAction.APPROVAL_RECORD, AuditAction.CHECK_RECORD}),
        description=f"A {pipeline.name} Staging version was approved: promote it once every gate holds.",
        minimum_interval_seconds=pipeline.sensor_interval_seconds,
    )


def build_production_sensor(pipeline: ModelPipeline, redeploy_job: Job) -> SensorDefinition:
    """Production changed (promotion or rollback, from Dagster or the CLI) → redeploy run."""

    def react(snapshot: Mapping[int, VersionDetails], event: AuditEntry, instance: DagsterInstance) -> Reaction:
        if event.action is AuditAction.DEPLOYMENT_RECORD:
            # A change already deployed needs no redeploy: the catalog's history replays as nothing to do.
            if (event.after or {}).get("succeeded"):
                return Settled(f"version {event.version} was deployed (audit #{event.seq})")
            return None
        if snapshot[event.version].version.stage is not Stage.PRODUCTION:
            return f"version {event.version}'s {event.action.value} was superseded by a later change"
        redeployed_by = _redeploying_run(instance, event)
        if redeployed_by:
            return f"version {event.version}'s {event.action.value} is redeployed by its own run {redeployed_by}"
        return lifecycle_run(
            pipeline, "redeploy", redeploy_job.name, pipeline.op_name("record_production_change"), event,
            {"version": event.version, "audit_seq": event.seq},
        )

    return catalog_event_sensor(
        name=pipeline.job_name("on_production_change"),
        model=pipeline.name,
        job=redeploy_job,
        react=react,
        actions=frozenset({AuditAction.VERSION_PROMOTE, AuditAction.VERSION_ROLLBACK, AuditAction.DEPLOYMENT_RECORD}),
        description=f"{pipeline.name}'s Production version changed: materialize it and redeploy.",
        minimum_interval_seconds=pipeline.sensor_interval_seconds,
    )


def _redeploying_run(instance: DagsterInstance, event: AuditEntry) -> str | None:
    """The run behind this event when it promotes and redeploys by itself (a decision or rollback run), unless it gave up."""
    return _run_doing_it(instance, event, REDEPLOYS_IN_RUN_TAG)


def _run_doing_it(instance: DagsterInstance, event: AuditEntry, tag: str) -> str | None:
    """The run named in the event (its reason or comment) when its job carries ``tag``, unless that run gave up."""
    run = run_named_in(instance, event)
    if run is None or run.tags.get(tag) != "yes" or run.status in _GAVE_UP:
        return None
    return run.run_id

"""Decisions people launch from the UI: approve or reject a version, roll the model back.

Each is a job of its own per model, partitioned by the list of versions it can
act on (awaiting a decision; formerly in Production), so the Launchpad's
partition picker offers exactly those and nobody types a version number. The
only config is who decides (and a comment, or the rollback's reason) and, under a
policy that requires proof, the approver's TOTP code; the catalog the runs write
to is fixed by the code location, not editable at launch.

Open-source Dagster has no login: whoever can launch a run can type any name.
The registry's policy decides whose decision counts (the approvers list, no
self-approval by default), and every decision carries the Dagster run it came
from, in the audit log. Under a policy that requires proof a name alone counts for
nothing: a Launchpad tab left open with someone's name records no decision
without that person's current code (each code counts once).

An approval that leaves no gate unmet promotes the version and redeploys it in
the same run; a rollback redeploys in its run too. The Production-change
sensor stays for changes made outside these runs (the CLI, say).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dagster import (
    Config,
    EnvVar,
    Failure,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Output,
    ResourceDefinition,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from registry_core import Decision, Registry, RegistryError, Stage
from registry_core.identities import validate_actor

from ..assets.model_version import report_versions
from ..model_pipeline import ModelPipeline
from ..partitions import VersionPartitions
from ..resources import RegistryResource
from .deployment import REDEPLOYS_IN_RUN_TAG, current_change, notify_targets
from .failures import refused

__all__ = [
    "DecisionConfig",
    "Launch",
    "RollbackConfig",
    "build_decision_jobs",
    "build_rollback_job",
    "decision_launch",
    "locked_registry",
    "rollback_launch",
]

APPROVER_TAG = "registry/approver"
DECISION_TAG = "registry/decision"
VERSION_TAG = "registry/version"


class DecisionConfig(Config):
    """What the reviewer types: their name, why, and (under a policy that requires proof) their TOTP code."""

    approver: str = Field(description="Your name, as the model's policy knows it (the approvers list, if it has one).")
    comment: str = Field(default="", description="Why; kept in the audit log with this run's id.")
    totp: str = Field(
        default="",
        description=(
            "The 6-digit code your authenticator app shows now, if the model's policy requires proof "
            "(empty otherwise). Without the approver's own code the run records nothing."
        ),
    )


class RollbackConfig(Config):
    requested_by: str = Field(description="Who asks for the rollback; recorded as the actor in the audit log.")
    reason: str = Field(description="Why; kept in the audit log and shown on the production model.")


@dataclass(frozen=True)
class Launch:
    """A run as the UI (or a program) launches it: job, partition, config and tags."""

    job_name: str
    partition_key: str
    run_config: dict[str, Any]
    tags: dict[str, str]


def locked_registry(registry: RegistryResource) -> ResourceDefinition:
    """``registry`` as a resource without launch-time config: its settings come from the code location only.

    A ConfigurableResource would let anyone at the Launchpad point a decision at another catalog.
    """
    # Building a ConfigurableResource validates its config schema (1-2 ms): once per process and settings, not
    # on every sensor tick. Not process_config_and_initialize() either: it builds a throwaway Dagster instance.
    resolved: dict[tuple[str, str, str], RegistryResource] = {}

    def initialize(_init: Any) -> RegistryResource:
        settings = tuple(_value(s) for s in (registry.database_url, registry.artifact_root, registry.actor))
        if settings not in resolved:
            database_url, artifact_root, actor = settings
            resolved[settings] = RegistryResource(database_url=database_url, artifact_root=artifact_root, actor=actor)
        return resolved[settings]

    return ResourceDefinition(
        resource_fn=initialize,
        description="The model registry of this code location (settings from its environment, not from the launch).",
    )


def _value(setting: str) -> str:
    """A setting's value now: an environment variable is read at each initialization, so a changed one counts."""
    return setting.get_value() or "" if isinstance(setting, EnvVar) else setting


def decision_launch(
    pipeline: ModelPipeline, version: int, approver: str, decision: Decision, comment: str = "", totp: str = ""
) -> "Launch":
    """The approve or reject run for ``version`` (``totp``: the approver's code), with decision, approver and version as tags."""
    step = decision.value
    config = {"approver": approver, "comment": comment, "totp": totp}
    return Launch(
        job_name=pipeline.job_name(step),
        partition_key=str(version),
        run_config={"ops": {pipeline.op_name(step): {"config": config}}},
        tags={DECISION_TAG: step, APPROVER_TAG: approver, VERSION_TAG: str(version), "registry/model": pipeline.name},
    )


def rollback_launch(pipeline: ModelPipeline, version: int, requested_by: str, reason: str) -> "Launch":
    return Launch(
        job_name=pipeline.job_name("rollback"),
        partition_key=str(version),
        run_config={"ops": {pipeline.op_name("roll_back"): {"config": {"requested_by": requested_by, "reason": reason}}}},
        tags={"registry/requested_by": requested_by, VERSION_TAG: str(version), "registry/model": pipeline.name},
    )


def _with_run(text: str, run_id: str) -> str:
    return " ".join(filter(None, [text.strip(), f"(Dagster run {run_id})"]))


def _redeploy_in_run(context: OpExecutionContext, catalog: Registry, pipeline: ModelPipeline, audit_seq: int) -> dict[str, Any]:
    found = current_change(context, catalog, pipeline, version=None, audit_seq=audit_seq, change_run_id=context.run_id)
    if found is None:
        return {"deployments": MetadataValue.text("superseded by a newer change before it was deployed")}
    change, materialization = found
    context.log_event(materialization)
    return {"deployments": notify_targets(context, catalog, pipeline, change)}


def _decider(pipeline: ModelPipeline, decision: Decision) -> Callable[..., Output]:
    what = "approval" if decision is Decision.APPROVE else "rejection"

    def decide(context: OpExecutionContext, config: DecisionConfig, registry: RegistryResource) -> Output:
        try:
            return record_decision(context, config, registry)
        except Failure as failure:
            # The reason as an error line of its own, before Dagster's step-failure event and its stack trace.
            context.log.error(failure.description or f"{what} refused")
            raise

    def record_decision(context: OpExecutionContext, config: DecisionConfig, registry: RegistryResource) -> Output:
        version = int(context.partition_key)
        label = f"{pipeline.name} version {version}"
        approver = config.approver.strip()
        if not approver:
            # Never fall back to the pipeline's own actor: a decision is always someone's.
            raise Failure(description=f"{what} of {label} refused: name the approver", allow_retries=False)
        try:
            # Before the name reaches run tags or logs: an invisible one must not show as a blank there either.
            approver = validate_actor(approver)
        except RegistryError as exc:
            raise refused(f"{what} of {label} refused", exc) from None
        # From the Launchpad the approver arrives as config only; the run list tells decisions apart by tags.
        tags = {APPROVER_TAG: approver, VERSION_TAG: str(version)}
        if any(context.run.tags.get(key) != value for key, value in tags.items()):
            context.instance.add_run_tags(context.run_id, tags)
        catalog = registry.open()
        try:
            as_approver = catalog.as_actor(approver)
            record = (as_approver.approve if decision is Decision.APPROVE else as_approver.reject)(
                pipeline.name, version, comment=_with_run(config.comment, context.run_id),
                totp=config.totp.strip() or None,
            )
            unmet = catalog.unmet_gates(pipeline.name, version, Stage.PRODUCTION)
        except RegistryError as exc:
            raise refused(f"{what} of {label} by {approver!r} refused", exc) from None
        context.log.info(f"{record.approver} recorded {record.decision.value} on {label}")
        metadata: dict[str, Any] = {
            "decision": MetadataValue.text(record.decision.value),
            "approver": MetadataValue.text(record.approver),
            "version": MetadataValue.int(version),
        }
        if unmet or decision is Decision.REJECT:
            report_versions(context, catalog, pipeline, {version: f"{record.decision.value} by {record.approver}"})
            if unmet:
                context.log.info(f"{label} still needs: " + "; ".join(gate.message for gate in unmet))
            metadata["still needed for Production"] = MetadataValue.md("\n".join(f"- {gate}" for gate in unmet) or "–")
            return Output(version, metadata=metadata)
        # Every gate holds: promote and redeploy now rather than wait for two sensor hops.
        try:
            change = catalog.promote(
                pipeline.name, version,
                reason=f"every gate holds (approved by {record.approver} in Dagster run {context.run_id})",
            )
        except RegistryError as exc:
            raise refused(f"{label} was approved but not promoted", exc, metadata) from None
        archived = f"version {change.archived.version} archived" if change.archived else "no previous Production version"
        context.log.info(f"{change.version.uri} is in Production; {archived}")
        metadata |= {"promoted": MetadataValue.text(f"{change.version.uri}; {archived}")}
        changed = {version: f"approved by {record.approver}: promoted to Production"}
        if change.archived:
            changed[change.archived.version] = f"archived: version {version} entered Production"
        report_versions(context, catalog, pipeline, changed)
        metadata |= _redeploy_in_run(context, catalog, pipeline, change.audit_seq)
        return Output(version, metadata=metadata)

    return decide


def build_decision_jobs(pipeline: ModelPipeline, partitions: VersionPartitions) -> list[JobDefinition]:
    """``{model}_approve`` and ``{model}_reject``, partitioned by the versions awaiting a decision."""
    return [_decision_job(pipeline, partitions, decision) for decision in (Decision.APPROVE, Decision.REJECT)]


def _decision_job(pipeline: ModelPipeline, partitions: VersionPartitions, decision: Decision) -> JobDefinition:
    step = decision.value
    decided = op(
        name=pipeline.op_name(step),
        description=f"Record the {step} of the chosen {pipeline.name} version, as the approver named.",
    )(_decider(pipeline, decision))
    extra = " When every gate then holds, this run promotes the version and redeploys it." if decision is Decision.APPROVE else ""

    @job(
        name=pipeline.job_name(step),
        description=(
            f"{step.capitalize()} a {pipeline.name} version awaiting a decision: pick it in the partition "
            f"list, name yourself.{extra}"
        ),
        partitions_def=partitions.awaiting_decision,
        executor_def=in_process_executor,
        tags={"registry/model": pipeline.name, "registry/step": step, DECISION_TAG: step, REDEPLOYS_IN_RUN_TAG: "yes"},
    )
    def decision_job() -> None:
        decided()

    return decision_job


def build_rollback_job(pipeline: ModelPipeline, partitions: VersionPartitions) -> JobDefinition:
    @op(name=pipeline.op_name("roll_back"), description="Return the chosen formerly-Production version to Production and redeploy it.")
    def roll_back(context: OpExecutionContext, config: RollbackConfig, registry: RegistryResource) -> Output:
        version = int(context.partition_key)
        requested_by, reason = config.requested_by.strip(), config.reason.strip()
        if not requested_by or not reason:
            missing = " and ".join(n for n, v in (("who asks (requested_by)", requested_by), ("a reason", reason)) if not v)
            raise Failure(description=f"rollback of {pipeline.name} to version {version} refused: it needs {missing}")
        catalog = registry.open()
        try:
            change = catalog.as_actor(requested_by).rollback(
                pipeline.name, reason=_with_run(reason, context.run_id), to_version=version
            )
        except RegistryError as exc:
            raise refused(f"rollback of {pipeline.name} to version {version} refused", exc) from None
        archived = f"version {change.archived.version} archived" if change.archived else "no version was in Production"
        context.log.info(f"{change.version.uri} is back in Production ({requested_by}: {reason}); {archived}")
        metadata: dict[str, Any] = {
            "version": MetadataValue.int(change.version.version),
            "requested by": MetadataValue.text(requested_by),
            "archived": MetadataValue.text(archived),
        }
        changed = {version: f"rolled back into Production by {requested_by}: {reason}"}
        if change.archived:
            changed[change.archived.version] = f"rolled back out of Production by {requested_by}: {reason}"
        report_versions(context, catalog, pipeline, changed)
        metadata |= _redeploy_in_run(context, catalog, pipeline, change.audit_seq)
        return Output(change.version.version, metadata=metadata)

    @job(
        name=pipeline.job_name("rollback"),
        description=(
            f"Roll {pipeline.name} back: pick a formerly-Production version in the partition list, say who asks and "
            "why; the run redeploys it."
        ),
        partitions_def=partitions.rollback_targets,
        executor_def=in_process_executor,
        tags={"registry/model": pipeline.name, "registry/step": "rollback", REDEPLOYS_IN_RUN_TAG: "yes"},
    )
    def rollback() -> None:
        roll_back()

    return rollback

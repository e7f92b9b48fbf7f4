"""Decisions people make from the Launchpad, for any model in the catalog: approve or reject, and roll back.

Open-source Dagster has no login: whoever can launch a run can type any name
as approver. The registry's policy decides whose decision counts (the
approvers list, no self-approval by default), and every decision carries the
Dagster run it came from, in the audit log.
"""

from dagster import (
    Config,
    Failure,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Output,
    RunConfig,
    op,
)
from pydantic import Field

from registry_core import Decision, RegistryError, Stage

from ..resources import RegistryResource
from .failures import refused
from .promotion import CHANGE_SEQ_TAG
from .single_op import single_op_job

__all__ = [
    "APPROVAL_JOB",
    "ROLLBACK_JOB",
    "ApprovalConfig",
    "Decision",
    "RollbackConfig",
    "approval_run_config",
    "build_approval_job",
    "build_rollback_job",
    "rollback_run_config",
]

APPROVAL_JOB = "approve_model_version"
ROLLBACK_JOB = "rollback_model"


class ApprovalConfig(Config):
    """An approval or rejection, as the Launchpad asks for it."""

    model: str = Field(description="The registry's model name, e.g. fraud-detector.")
    version: int = Field(description="The version to decide on.")
    decision: Decision = Field(default=Decision.APPROVE, description="APPROVE or REJECT.")
    approver: str = Field(description="Who decides. The model's policy decides whether this person counts.")
    comment: str = Field(default="", description="Why; kept in the audit log.")


class RollbackConfig(Config):
    model: str = Field(description="The registry's model name.")
    version: int | None = Field(
        default=None, description="The archived, formerly-Production version to return; by default the most recent one."
    )
    reason: str = Field(description="Why; required, kept in the audit log.")
    requested_by: str = Field(default="", description="Who asks for the rollback; by default the pipeline's actor.")


def approval_run_config(
    model: str, version: int, approver: str, *, decision: Decision = Decision.APPROVE, comment: str = ""
) -> RunConfig:
    """Run config of :data:`APPROVAL_JOB`, as the Launchpad would send it."""
    config = ApprovalConfig(model=model, version=version, decision=decision, approver=approver, comment=comment)
    return RunConfig(ops={"record_approval_decision": config})


def rollback_run_config(model: str, reason: str, *, version: int | None = None, requested_by: str = "") -> RunConfig:
    """Run config of :data:`ROLLBACK_JOB`."""
    config = RollbackConfig(model=model, version=version, reason=reason, requested_by=requested_by)
    return RunConfig(ops={"roll_back_production": config})


def _with_run(text: str, run_id: str) -> str:
    return " ".join(filter(None, [text.strip(), f"(Dagster run {run_id})"]))


def build_approval_job() -> JobDefinition:
    @op(name="record_approval_decision", description="Record an approval or rejection in the registry, as the approver.")
    def record_approval_decision(context: OpExecutionContext, config: ApprovalConfig, registry: RegistryResource) -> Output:
        label = f"{config.model} version {config.version}"
        if not config.approver.strip():
            # Never fall back to the pipeline's own actor: a decision is always someone's.
            raise Failure(description=f"decision on {label} refused: name the approver")
        try:
            with registry.open(actor=config.approver) as catalog:
                decide = catalog.approve if config.decision is Decision.APPROVE else catalog.reject
                record = decide(config.model, config.version, comment=_with_run(config.comment, context.run_id))
                unmet = catalog.unmet_gates(config.model, config.version, Stage.PRODUCTION)
        except RegistryError as exc:
            what = "approval" if config.decision is Decision.APPROVE else "rejection"
            raise refused(f"{what} of {label} by {config.approver!r} refused", exc) from None
        context.instance.add_run_tags(
            context.run_id, {"registry/model": config.model, "registry/version": str(config.version)}
        )
        context.log.info(f"{record.approver} recorded {record.decision} on {label}")
        if unmet:
            context.log.info(f"{label} still needs: " + "; ".join(gate.message for gate in unmet))
        return Output(
            config.version,
            metadata={
                "decision": MetadataValue.text(record.decision.value),
                "approver": MetadataValue.text(record.approver),
                "still needed for Production": MetadataValue.md(
                    "\n".join(f"- {gate}" for gate in unmet) or "nothing: the promotion sensor takes it from here"
                ),
            },
        )

    return single_op_job(
        record_approval_decision,
        name=APPROVAL_JOB,
        description="Approve or reject a model version for Production (Launchpad: model, version, decision, approver, comment).",
        tags={"registry/step": "approve"},
    )


def build_rollback_job() -> JobDefinition:
    @op(name="roll_back_production", description="Return an archived, formerly-Production version to Production.")
    def roll_back_production(context: OpExecutionContext, config: RollbackConfig, registry: RegistryResource) -> Output:
        if not config.reason.strip():
            raise Failure(description=f"rollback of {config.model} refused: a rollback needs a reason")
        try:
            with registry.open(actor=config.requested_by.strip() or None) as catalog:
                change = catalog.rollback(
                    config.model, reason=_with_run(config.reason, context.run_id), to_version=config.version
                )
        except RegistryError as exc:
            raise refused(f"rollback of {config.model} refused", exc) from None
        context.instance.add_run_tags(
            context.run_id,
            {
                "registry/model": config.model,
                "registry/version": str(change.version.version),
                CHANGE_SEQ_TAG: str(change.audit_seq),
            },
        )
        archived = f"version {change.archived.version} archived" if change.archived else "no version was in Production"
        context.log.info(f"{change.version.uri} is back in Production; {archived}")
        return Output(
            change.version.version,
            metadata={"version": MetadataValue.int(change.version.version), "archived": MetadataValue.text(archived)},
        )

    return single_op_job(
        roll_back_production,
        name=ROLLBACK_JOB,
        description="Roll a model back to a formerly-Production version (Launchpad: model, optional version, reason).",
        tags={"registry/step": "rollback"},
    )

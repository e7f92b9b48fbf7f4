"""The stage workflow: transitions, promotion to Production, rollback, and the gates before each.

A promotion or a rollback archives the previous Production version in the same
transaction, so there is never a moment with two (the partial unique index
would refuse it) or, for a reader, none.
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from typing import Any

from sqlalchemy import bindparam, select, update

from .actions import AuditAction
from .errors import AuditLogError, InvalidInput, InvalidTransition, NotFound
from .governance import read_gate_inputs, require_gates, unmet_gates
from .lookups import lock_model, lock_version, version_row
from .policy import GatePolicy, UnmetGate, counted_approvers
from .records import StageChange, VersionInfo
from .rows import AUDIT, MODELS, VERSIONS, parse_tags, version_info, version_tags_json
from .stages import Stage, check_transition, parse_stage
from .unit_of_work import Catalog, UnitOfWork
from .validation import MAX_DESCRIPTION, validate_name, validate_text, validate_version_number

__all__ = ["gates_before", "promote", "rollback", "transition"]

# Built once: building a statement costs more than running it.
_SET_STAGE = (
    update(VERSIONS)
    .where(VERSIONS.c.id == bindparam("of_version"))
    .values(stage=bindparam("new_stage"), stage_changed_at=bindparam("at"), updated_at=bindparam("at"),
            left_production_seq=bindparam("left_seq"))
)
_ARCHIVE_PRODUCTION = (
    update(VERSIONS)
    .where(VERSIONS.c.model_id == bindparam("of_model"), VERSIONS.c.stage == Stage.PRODUCTION)
    .values(stage=Stage.ARCHIVED, stage_changed_at=bindparam("at"), updated_at=bindparam("at"),
            left_production_seq=bindparam("seq"))
    .returning(*VERSIONS.c)
)

#: A stage move is a change of the model too (its ``last_updated_timestamp`` in MLflow's words, as MLflow's store keeps it).
_TOUCH_MODEL = update(MODELS).where(MODELS.c.id == bindparam("of_model")).values(updated_at=bindparam("at"))

#: The event a version's ``left_production_seq`` names: it must be the one that took it out of Production.
_EVENT_AT = select(AUDIT.c.action, AUDIT.c.model, AUDIT.c.version, AUDIT.c.before).where(AUDIT.c.seq == bindparam("seq"))


@functools.cache
def _tags_query(dialect: str) -> Any:
    return select(version_tags_json(dialect)).where(VERSIONS.c.id == bindparam("version_id"))


def transition(
    catalog: Catalog, actor: str, name: str, version: int | str, stage: str | Stage, *, reason: str | None
) -> StageChange:
    """Move a version along the workflow; a move to Production is a :func:`promote`."""
    number = validate_version_number(version)
    target = parse_stage(stage)
    reason = validate_text(reason, what="reason", limit=MAX_DESCRIPTION)
    if target is Stage.PRODUCTION:
        return promote(catalog, actor, name, number, reason=reason)
    validate_name(name)
    with catalog.write(actor) as work:
        row = lock_version(work.connection, work.dialect, name, number)
        current: Stage = row.stage
        label = f"{name} version {number}"
        check_transition(current, target, label=label)
        if target is Stage.STAGING:
            require_gates(work.connection, name, GatePolicy.from_dict(row.model_policy), row, target, label)
        event = work.record(
            AuditAction.VERSION_TRANSITION, name, number,
            {"stage": current.value}, {"stage": target.value, "reason": reason},
        )
        work.connection.execute(
            _SET_STAGE,
            {"of_version": row.id, "new_stage": target, "at": work.now,
             "left_seq": event.seq if current is Stage.PRODUCTION else row.left_production_seq},
        )
        work.connection.execute(_TOUCH_MODEL, {"of_model": row.model_id_, "at": work.now})
        return StageChange(_moved(name, row, target, work.now), current, None, event.seq)


def promote(catalog: Catalog, actor: str, name: str, version: int | str, *, reason: str | None) -> StageChange:
    """Move a Staging version to Production if every gate holds, archiving the previous one, in one transaction."""
    validate_name(name)
    number = validate_version_number(version)
    reason = validate_text(reason, what="reason", limit=MAX_DESCRIPTION)
    with catalog.write(actor) as work:
        row = lock_version(work.connection, work.dialect, name, number)
        current: Stage = row.stage
        label = f"{name} version {number}"
        if current is Stage.ARCHIVED:
            hint = (
                f"only a rollback ('registry rollback {name} --to {number} --reason ...') returns it to Production"
                if row.left_production_seq is not None
                else "it was never in Production, and archived versions move no further; register it again"
            )
            raise InvalidTransition(f"{label} is Archived: {hint}", current.value, Stage.PRODUCTION.value)
        check_transition(current, Stage.PRODUCTION, label=label)
        policy = GatePolicy.from_dict(row.model_policy)
        inputs = read_gate_inputs(work.connection, name, number)
        require_gates(work.connection, name, policy, row, Stage.PRODUCTION, label, inputs)
        approvers = counted_approvers(policy, inputs.decisions, registrant=row.registered_by)
        archived = _archive_production(work, name, row.model_id_, f"superseded by version {number}")
        event = work.record(
            AuditAction.VERSION_PROMOTE, name, number,
            {"stage": current.value, "production": archived.version if archived else None},
            {"stage": Stage.PRODUCTION.value, "approved_by": approvers, "reason": reason},
        )
        _enter_production(work, row.model_id_, row.id, row.left_production_seq)
        return StageChange(_moved(name, row, Stage.PRODUCTION, work.now), current, archived, event.seq)


def rollback(
    catalog: Catalog, actor: str, name: str, *, reason: str, to_version: int | str | None
) -> StageChange:
    """Return an archived, formerly-Production version to Production, archiving the current one.

    Without ``to_version`` the version most recently taken out of Production is
    chosen. A reason is required; no new approval is.
    """
    validate_name(name)
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("a rollback needs a reason")
    reason = validate_text(reason.strip(), what="reason", limit=MAX_DESCRIPTION) or ""
    number = validate_version_number(to_version) if to_version is not None else None
    with catalog.write(actor) as work:
        if number is not None:
            row = lock_version(work.connection, work.dialect, name, number)
            label = f"{name} version {number}"
            if row.stage is not Stage.ARCHIVED:
                raise InvalidTransition(
                    f"cannot roll back to {label}: it is in {row.stage}, not Archived",
                    row.stage.value, Stage.PRODUCTION.value,
                )
            if row.left_production_seq is None:
                raise InvalidTransition(
                    f"cannot roll back to {label}: it was never in Production",
                    row.stage.value, Stage.PRODUCTION.value,
                )
            model_id = row.model_id_
        else:
            model = lock_model(work.connection, name)
            model_id = model.id
            row = work.connection.execute(
                select(*VERSIONS.c, version_tags_json(work.dialect))
                .where(
                    VERSIONS.c.model_id == model_id,
                    VERSIONS.c.left_production_seq.is_not(None),
                    VERSIONS.c.stage == Stage.ARCHIVED,
                )
                .order_by(VERSIONS.c.left_production_seq.desc())
                .limit(1)
            ).first()
            if row is None:
                raise NotFound(f"{name} has no archived version that was in Production: nothing to roll back to")
        _require_left_production(work, name, row)
        archived = _archive_production(work, name, model_id, f"rolled back to version {row.version}: {reason}")
        event = work.record(
            AuditAction.VERSION_ROLLBACK, name, row.version,
            {"stage": Stage.ARCHIVED.value, "production": archived.version if archived else None},
            {"stage": Stage.PRODUCTION.value, "reason": reason},
        )
        _enter_production(work, model_id, row.id, row.left_production_seq)
        return StageChange(_moved(name, row, Stage.PRODUCTION, work.now), Stage.ARCHIVED, archived, event.seq)


def gates_before(catalog: Catalog, name: str, version: int | str, stage: str | Stage) -> list[UnmetGate]:
    """What still stands between a version and ``stage`` (Staging or Production)."""
    number = validate_version_number(version)
    target = parse_stage(stage)
    if target not in (Stage.STAGING, Stage.PRODUCTION):
        raise InvalidInput(f"gates guard Staging and Production, not {target}")
    validate_name(name)
    with catalog.read() as connection:
        row = version_row(connection, catalog.dialect, name, number)
        return unmet_gates(connection, name, GatePolicy.from_dict(row.model_policy), row, target)


def _archive_production(work: UnitOfWork, name: str, model_id: int, reason: str) -> VersionInfo | None:
    """Archive the model's Production version, if any, recording why; it goes before the new one arrives."""
    seq = work.next_seq()
    archived = work.connection.execute(_ARCHIVE_PRODUCTION, {"of_model": model_id, "at": work.now, "seq": seq}).first()
    if archived is None:
        return None
    event = work.record(
        AuditAction.VERSION_TRANSITION, name, archived.version,
        {"stage": Stage.PRODUCTION.value}, {"stage": Stage.ARCHIVED.value, "reason": reason},
    )
    assert event.seq == seq, "the archive event must be the one its version points at"
    tags = work.connection.execute(_tags_query(work.dialect), {"version_id": archived.id}).scalar_one()
    return version_info(name, archived, tags=parse_tags(tags))


def _require_left_production(work: UnitOfWork, name: str, row: Any) -> None:
    """Refuse a rollback target whose eligibility the audit log does not back: the column alone is editable."""
    event = work.connection.execute(_EVENT_AT, {"seq": row.left_production_seq}).first()
    if (
        event is None
        or event.action != AuditAction.VERSION_TRANSITION
        or (event.model, event.version) != (name, row.version)
        or json.loads(event.before).get("stage") != Stage.PRODUCTION.value
    ):
        raise AuditLogError(
            f"cannot roll back to {name} version {row.version}: the catalog says event {row.left_production_seq} "
            "took it out of Production, but the audit log records no such event; run 'registry audit --verify'"
        )


def _enter_production(work: UnitOfWork, model_id: int, version_id: int, left_seq: int | None) -> None:
    work.connection.execute(
        _SET_STAGE, {"of_version": version_id, "new_stage": Stage.PRODUCTION, "at": work.now, "left_seq": left_seq}
    )
    work.connection.execute(_TOUCH_MODEL, {"of_model": model_id, "at": work.now})


def _moved(name: str, row: Any, stage: Stage, now: Any) -> VersionInfo:
    """The record of a version row after its move to ``stage`` at ``now``."""
    info = version_info(name, row)
    return replace(
        info, stage=stage, stage_changed_at=now, updated_at=now, was_production=info.was_production or stage is Stage.PRODUCTION
    )

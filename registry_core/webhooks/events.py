"""Registry events: their types, which audit actions raise them, and the JSON body each one carries.

Events are derived from the audit log, so every change that can raise one
already passes through :meth:`registry_core.unit_of_work.UnitOfWork.record`; one audit
event may raise several (a promotion is both ``stage_changed`` and
``promoted``), each delivered with its own id.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from ..actions import AuditAction
from ..audit import canonical_json
from ..errors import InvalidInput

__all__ = ["ACTION_EVENTS", "EventType", "event_body", "events_for", "new_event_id", "parse_event_types"]


class EventType(enum.StrEnum):
    """What happened in the registry, as a webhook receiver sees it."""

    VERSION_CREATED = "version_created"
    STAGE_CHANGED = "stage_changed"
    CHECK_RECORDED = "check_recorded"
    APPROVAL_RECORDED = "approval_recorded"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    DEPLOYED = "deployed"
    VERSION_DELETED = "version_deleted"
    MODEL_DELETED = "model_deleted"
    ARTIFACT_ATTACHED = "artifact_attached"


#: The audit actions that raise events, and the events each raises.
ACTION_EVENTS: dict[AuditAction, tuple[EventType, ...]] = {
    AuditAction.VERSION_REGISTER: (EventType.VERSION_CREATED,),
    AuditAction.VERSION_TRANSITION: (EventType.STAGE_CHANGED,),
    AuditAction.VERSION_PROMOTE: (EventType.STAGE_CHANGED, EventType.PROMOTED),
    AuditAction.VERSION_ROLLBACK: (EventType.STAGE_CHANGED, EventType.ROLLED_BACK),
    AuditAction.CHECK_RECORD: (EventType.CHECK_RECORDED,),
    AuditAction.APPROVAL_RECORD: (EventType.APPROVAL_RECORDED,),
    AuditAction.DEPLOYMENT_RECORD: (EventType.DEPLOYED,),
    AuditAction.VERSION_DELETE: (EventType.VERSION_DELETED,),
    AuditAction.MODEL_DELETE: (EventType.MODEL_DELETED,),
    AuditAction.VERSION_ATTACH: (EventType.ARTIFACT_ATTACHED,),
}

_ALL = "all"


def events_for(action: str) -> tuple[EventType, ...]:
    """The event types an audit action raises (none for most bookkeeping actions)."""
    return ACTION_EVENTS.get(action, ())


def parse_event_types(names: Iterable[str] | str) -> tuple[EventType, ...]:
    """Event type names as given on the command line or API, sorted and deduplicated; ``all`` means every type."""
    if isinstance(names, str):
        raise InvalidInput(f"event types must be a list of names, not the single string {names!r}")
    chosen: set[EventType] = set()
    for name in names:
        text = str(name).strip().lower()
        if text == _ALL:
            chosen.update(EventType)
            continue
        try:
            chosen.add(EventType(text))
        except ValueError:
            known = ", ".join(t.value for t in EventType)
            raise InvalidInput(f"unknown event type {name!r}: expected one of {known}, or all") from None
    if not chosen:
        raise InvalidInput("a webhook needs at least one event type (or all)")
    return tuple(sorted(chosen, key=lambda t: t.value))


def new_event_id() -> str:
    """A fresh, globally unique event id."""
    return f"evt_{uuid.uuid4().hex}"


def event_body(
    event_type: EventType,
    *,
    event_id: str,
    seq: int,
    recorded_at: str,
    actor: str,
    model: str | None,
    version: int | None,
    before: dict[str, Any],
    after: dict[str, Any],
) -> str:
    """The JSON text delivered (and signed) for one event."""
    document = {
        "id": event_id,
        "type": event_type.value,
        "occurred_at": recorded_at,
        "audit_seq": seq,
        "actor": actor,
        "model": model,
        "version": version,
        "data": _DATA[event_type](before, after),
    }
    return canonical_json(document)


def _version_created(_before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    keys = ("stage", "artifact_sha256", "artifact_kind", "run_id", "dataset_digest", "metrics")
    return {key: after.get(key) for key in keys}


def _stage_changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {"from": before.get("stage"), "to": after.get("stage"), "reason": after.get("reason")}


def _promoted(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        "from": before.get("stage"),
        "previous_production": before.get("production"),
        "approved_by": after.get("approved_by", []),
        "reason": after.get("reason"),
    }


def _rolled_back(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {"previous_production": before.get("production"), "reason": after.get("reason")}


def _check_recorded(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        "check": after.get("check"),
        "passed": after.get("passed"),
        "previously_passed": before.get("passed"),
        "details": after.get("details"),
    }


def _approval_recorded(_before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {"decision": after.get("decision"), "comment": after.get("comment")}


def _deployed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        "target": after.get("target"),
        "succeeded": after.get("succeeded"),
        "stage": before.get("stage"),
        "details": after.get("details"),
    }


def _version_deleted(before: dict[str, Any], _after: dict[str, Any]) -> dict[str, Any]:
    return {key: before.get(key) for key in ("stage", "artifact_sha256", "artifact_kind", "aliases")}


def _model_deleted(before: dict[str, Any], _after: dict[str, Any]) -> dict[str, Any]:
    """Every version the model held (number -> stage) and its aliases (alias -> number), deleted with it."""
    return {"versions": before.get("versions", {}), "aliases": before.get("aliases", {})}


def _artifact_attached(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    attached = {key: after.get(key) for key in ("artifact_sha256", "artifact_kind", "artifact_size")}
    return {"source": before.get("source"), **attached}


_DATA: dict[EventType, Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]] = {
    EventType.VERSION_CREATED: _version_created,
    EventType.STAGE_CHANGED: _stage_changed,
    EventType.PROMOTED: _promoted,
    EventType.ROLLED_BACK: _rolled_back,
    EventType.CHECK_RECORDED: _check_recorded,
    EventType.APPROVAL_RECORDED: _approval_recorded,
    EventType.DEPLOYED: _deployed,
    EventType.VERSION_DELETED: _version_deleted,
    EventType.MODEL_DELETED: _model_deleted,
    EventType.ARTIFACT_ATTACHED: _artifact_attached,
}

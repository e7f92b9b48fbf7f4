"""Reading the catalog's audit log for the events a DAG waits on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from registry_core import Registry

__all__ = ["first_event_after", "newest_seq"]


def first_event_after(
    registry: Registry, model_name: str, *, actions: Sequence[str], after_seq: int, version: int | None = None
) -> dict[str, Any] | None:
    """The first event after ``after_seq`` of ``actions`` on the model (and version), as JSON, or None."""
    events = registry.audit_events(model_name, version=version, after_seq=after_seq, limit=1, actions=actions)
    if not events:
        return None
    (event,) = events
    return {"seq": event.seq, "action": str(event.action), "actor": event.actor, "model": event.model,
            "version": event.version, "after": event.after, "recorded_at": str(event.recorded_at)}


def newest_seq(registry: Registry) -> int:
    """The audit log's newest sequence number (0 for an empty log)."""
    events = registry.audit_events(limit=1)
    return events[-1].seq if events else 0

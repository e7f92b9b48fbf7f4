"""The append-only, tamper-evident audit log.

Each event's hash covers its content and the previous event's hash, so the
events form a chain; the newest link is also kept in ``audit_head``, outside
the events table, so that deleting the newest events is caught as well.
Appending (in :class:`~registry_core.unit_of_work.UnitOfWork`) locks the head
row, which orders all writers into one chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from .schema import AuditEvent, AuditHead

__all__ = ["GENESIS_HASH", "AuditReport", "canonical_json", "event_hash", "format_timestamp", "verify_chain"]

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """JSON text with sorted keys and no spaces: the same bytes for the same value, everywhere."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)


def event_hash(
    *,
    seq: int,
    prev_hash: str,
    recorded_at: str,
    actor: str,
    action: str,
    model: str | None,
    version: int | None,
    before: str,
    after: str,
) -> str:
    """The sha256 that links one event to the chain."""
    body = canonical_json(
        [seq, prev_hash, recorded_at, actor, action, model, version, before, after]
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with microseconds, as stored and hashed."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class AuditReport:
    """The outcome of walking the chain from the first event to the head."""

    intact: bool
    events: int
    head_seq: int
    head_hash: str
    problem: str | None = None
    #: Sequence number of the first event found changed, missing, inserted or out of order
    #: (or, for a catalog row that differs from the log, the event it should match).
    first_bad_seq: int | None = None
    #: How many catalog rows differ from what the audit log says, and the first of them, in words.
    divergence_count: int = 0
    divergences: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "events": self.events,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "problem": self.problem,
            "first_bad_seq": self.first_bad_seq,
            "divergence_count": self.divergence_count,
            "divergences": list(self.divergences),
        }


def verify_chain(session: Connection, *, batch: int = 5000) -> AuditReport:
    """Walk every event in order and report the first break in the chain, if any."""
    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, "")
    expected_seq = 1
    prev_hash = GENESIS_HASH
    count = 0
    for row in _rows(session, batch):
        seq, recorded_at, actor, action, model, version, before, after, stored_prev, stored_hash = row
        recomputed = event_hash(
            seq=seq,
            prev_hash=stored_prev,
            recorded_at=recorded_at,
            actor=actor,
            action=action,
            model=model,
            version=version,
            before=before,
            after=after,
        )
        if recomputed != stored_hash:
            return _broken(count, head_seq, head_hash, seq, f"event {seq} was changed: its content no longer matches its hash")
        if seq != expected_seq:
            if seq > expected_seq:
                missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}-{seq - 1}"
                return _broken(count, head_seq, head_hash, expected_seq, f"event(s) {missing} were deleted: the sequence jumps from {expected_seq - 1} to {seq}")
            return _broken(count, head_seq, head_hash, seq, f"event {seq} is out of order after event {expected_seq - 1}")
        if stored_prev != prev_hash:
            return _broken(
                count, head_seq, head_hash, seq,
                f"event {seq} does not follow event {seq - 1}: an event was inserted, deleted or reordered before it",
            )
        prev_hash = stored_hash
        expected_seq += 1
        count += 1
    if head is None:
        return _broken(count, 0, "", count + 1, "the audit head row is missing")
    last_seq = expected_seq - 1
    if head_seq > last_seq:
        return _broken(count, head_seq, head_hash, last_seq + 1, f"the newest event(s) {last_seq + 1}-{head_seq} were deleted: the head records event {head_seq}, the log ends at {last_seq}")
    if head_seq < last_seq:
        return _broken(count, head_seq, head_hash, head_seq + 1, f"event(s) after {head_seq} were appended outside the registry: the head records event {head_seq}, the log ends at {last_seq}")
    if head_hash != prev_hash:
        return _broken(count, head_seq, head_hash, last_seq, f"event {last_seq} does not match the head's hash: the newest event was replaced")
    return AuditReport(intact=True, events=count, head_seq=head_seq, head_hash=head_hash)


def _rows(session: Connection, batch: int) -> Iterator[tuple[Any, ...]]:
    columns = (
        AuditEvent.seq,
        AuditEvent.recorded_at,
        AuditEvent.actor,
        AuditEvent.action,
        AuditEvent.model,
        AuditEvent.version,
        AuditEvent.before,
        AuditEvent.after,
        AuditEvent.prev_hash,
        AuditEvent.hash,
    )
    after = 0
    while True:
        rows = session.execute(
            select(*columns).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from (tuple(row) for row in rows)
        after = rows[-1][0]


def _broken(count: int, head_seq: int, head_hash: str, seq: int, problem: str) -> AuditReport:
    return AuditReport(
        intact=False, events=count, head_seq=head_seq, head_hash=head_hash, problem=problem, first_bad_seq=seq
    )

"""One catalog change: its transaction, who makes it, when, and the audit events it appends.

Every write of the registry runs inside a :class:`UnitOfWork` opened by
:meth:`Catalog.write`. The unit appends each audit event to the hash chain in
the same transaction as the change, and tells its listeners (the webhook outbox
is one) while that transaction is still open, so whatever they write exists if
and only if the change commits. The core never imports its listeners; the
:class:`~registry_core.registry.Registry` facade wires them in.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, insert, select, update

from .actions import AuditAction
from .audit import canonical_json, event_hash, format_timestamp
from .database import Database
from .errors import AuditLogError
from .records import AuditEntry
from .schema import AuditEvent, AuditHead, utcnow

__all__ = ["Catalog", "ChangeListener", "UnitOfWork"]

class _DriverStatement:
    """A statement compiled once per dialect and sent straight to the driver.

    Every write appends an event: these three statements run on every change,
    and their parameters are plain integers and strings, so SQLAlchemy's
    per-call compile-cache lookup and type processing are pure overhead here.
    """

    def __init__(self, statement: Any) -> None:
        self._statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}

    def run(self, connection: Connection, params: dict[str, Any]) -> Any:
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            done = self._statement.compile(dialect=dialect)
            positions = tuple(done.positiontup) if done.positiontup else None
            compiled = self._compiled[dialect.name] = (done.string, positions)
        sql, positions = compiled
        if positions is not None:
            return connection.exec_driver_sql(sql, tuple(params[name] for name in positions))
        return connection.exec_driver_sql(sql, params)


_HEAD = AuditHead.__table__
_LOCK_HEAD = _DriverStatement(
    select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == bindparam("head_id")).with_for_update()
)
_INSERT_EVENT = _DriverStatement(insert(AuditEvent.__table__))
_UPDATE_HEAD = _DriverStatement(
    update(_HEAD).where(_HEAD.c.id == bindparam("head_id")).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


class ChangeListener(Protocol):
    """Told of each audit event inside the transaction that appends it."""

    def __call__(self, work: UnitOfWork, event: AuditEntry) -> None: ...


class UnitOfWork:
    """One write transaction of the catalog, made by ``actor`` at ``now``."""

    def __init__(
        self, connection: Connection, *, actor: str, now: datetime, dialect: str, listeners: Sequence[ChangeListener]
    ) -> None:
        self.connection = connection
        self.actor = actor
        self.now = now
        self.dialect = dialect
        self._listeners = listeners
        self._head: tuple[int, str] | None = None
        self._appended = False
        #: Per-transaction memory for listeners (for example, a query asked once however many events follow).
        self.scratch: dict[str, Any] = {}

    def record(
        self, action: AuditAction, model: str | None, version: int | None, before: Any, after: Any
    ) -> AuditEntry:
        """Append one audit event to the chain and tell the listeners; returns it."""
        prev_seq, prev_hash = self._locked_head()
        seq = prev_seq + 1
        recorded_at = format_timestamp(self.now)
        before_text = canonical_json(before)
        after_text = canonical_json(after)
        digest = event_hash(
            seq=seq, prev_hash=prev_hash, recorded_at=recorded_at, actor=self.actor, action=action.value,
            model=model, version=version, before=before_text, after=after_text,
        )
        _INSERT_EVENT.run(
            self.connection,
            {
                "seq": seq, "recorded_at": recorded_at, "actor": self.actor, "action": action.value,
                "model": model, "version": version, "before": before_text, "after": after_text,
                "prev_hash": prev_hash, "hash": digest,
            },
        )
        self._head = (seq, digest)
        self._appended = True
        entry = AuditEntry(
            seq=seq, recorded_at=recorded_at, actor=self.actor, action=action, model=model, version=version,
            before=json.loads(before_text), after=json.loads(after_text), hash=digest,
        )
        for listener in self._listeners:
            listener(self, entry)
        return entry

    def head(self) -> tuple[int, str]:
        """The newest event's sequence number and hash, as this transaction sees them (locked)."""
        return self._locked_head()

    def next_seq(self) -> int:
        """The sequence number the next :meth:`record` will give its event."""
        return self._locked_head()[0] + 1

    def _locked_head(self) -> tuple[int, str]:
        if self._head is None:
            # One locked read of the head per transaction, however many events it appends.
            head = _LOCK_HEAD.run(self.connection, {"head_id": 1}).first()
            if head is None:
                raise AuditLogError(
                    "the audit head row is missing: the audit log was tampered with; run 'registry audit --verify'"
                )
            self._head = (head[0], head[1])
        return self._head

    def _finish(self) -> None:
        if self._appended and self._head is not None:
            seq, digest = self._head
            _UPDATE_HEAD.run(self.connection, {"head_id": 1, "new_seq": seq, "new_hash": digest})


class Catalog:
    """The catalog database and the listeners of its changes: where units of work begin."""

    def __init__(self, db: Database, listeners: Sequence[ChangeListener] = ()) -> None:
        self.db = db
        self.dialect = db.dialect
        self.listeners = tuple(listeners)

    @contextlib.contextmanager
    def write(self, actor: str) -> Iterator[UnitOfWork]:
        """A unit of work in one write transaction: committed with its audit events, or not at all."""
        with self.db.transaction(write=True) as connection:
            work = UnitOfWork(
                connection, actor=actor, now=utcnow(), dialect=self.dialect, listeners=self.listeners
            )
            yield work
            work._finish()

    @contextlib.contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A connection in one read transaction."""
        with self.db.transaction(write=False, snapshot=snapshot) as connection:
            yield connection

"""The audit chain: intact after ordinary use, append-only in the database, and every kind of tampering caught."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError

from registry_core import AuditLogError, Registry
from registry_core.audit import event_hash
from registry_core.schema import AuditEvent, AuditHead

EVENTS = AuditEvent.__table__
HEAD = AuditHead.__table__


@pytest.fixture
def lifecycle(registry: Registry, model_file) -> int:
    """Walk 'fraud' through a typical lifecycle; returns the number of audit events it wrote."""
    registry.register("fraud", model_file, metrics={"auc": 0.91})
    registry.transition("fraud", 1, "Staging")
    registry.record_check("fraud", 1, "accuracy", passed=True)
    registry.as_actor("bob").approve("fraud", 1)
    registry.promote("fraud", 1, reason="first release")
    registry.set_tags("fraud", {"owner": "risk"}, version=1)
    registry.register("fraud", model_file)
    registry.set_alias("fraud", "challenger", 2)
    return registry.verify_audit().head_seq


def drop_append_only_triggers(engine: Engine) -> None:
    """What an administrator with full rights to the database can do."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER audit_events_no_update"))
            connection.execute(text("DROP TRIGGER audit_events_no_delete"))


LIFECYCLE_ACTIONS = [
    "model.create", "version.register", "version.transition", "check.record", "approval.record",
    "version.promote", "version.tags", "version.register", "alias.set",
]


def test_chain_is_intact_after_a_lifecycle(registry: Registry, lifecycle):
    report = registry.verify_audit()
    assert report.intact
    assert report.events == report.head_seq == lifecycle == len(LIFECYCLE_ACTIONS)
    assert report.problem is None and report.first_bad_seq is None
    assert report.head_hash == registry.audit_events(limit=1)[0].hash


def test_every_change_appends_one_event_linked_to_the_one_before(registry: Registry, lifecycle, engine):
    assert [e.action for e in registry.audit_events()] == LIFECYCLE_ACTIONS
    with engine.connect() as connection:
        rows = connection.execute(select(EVENTS.c.seq, EVENTS.c.prev_hash, EVENTS.c.hash).order_by(EVENTS.c.seq)).all()
    assert [row.seq for row in rows] == list(range(1, lifecycle + 1))
    assert rows[0].prev_hash == "0" * 64
    assert [row.prev_hash for row in rows[1:]] == [row.hash for row in rows[:-1]]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET actor = 'mallory' WHERE seq = 2", "DELETE FROM audit_events WHERE seq = 2"],
    ids=["update", "delete"],
)
def test_database_refuses_to_change_audit_events(registry: Registry, lifecycle, engine, statement):
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    assert registry.verify_audit().intact


# --- tampering, by someone who first removed the triggers ------------------------------

HASHED = ("recorded_at", "actor", "action", "model", "version", "before", "after")


def rehash(connection: Connection, seq: int) -> None:
    """Recompute an event's hash from its stored content and prev_hash, as a careful forger would."""
    row = connection.execute(select(EVENTS).where(EVENTS.c.seq == seq)).one()
    digest = event_hash(seq=seq, prev_hash=row.prev_hash, **{k: getattr(row, k) for k in HASHED})
    connection.execute(EVENTS.update().where(EVENTS.c.seq == seq).values(hash=digest))


def forge(connection: Connection, seq: int, prev_seq: int) -> None:
    """Insert a well-formed event at ``seq``, linked to event ``prev_seq``."""
    prev_hash = connection.execute(select(EVENTS.c.hash).where(EVENTS.c.seq == prev_seq)).scalar_one()
    content = {
        "recorded_at": "2026-01-01T00:00:00.000000Z", "actor": "mallory", "action": "version.promote",
        "model": "fraud", "version": 2, "before": "{}", "after": '{"stage":"Production"}',
    }
    digest = event_hash(seq=seq, prev_hash=prev_hash, **content)
    connection.execute(EVENTS.insert().values(seq=seq, prev_hash=prev_hash, hash=digest, **content))


def set_event(connection: Connection, at: int, **values: object) -> None:
    connection.execute(EVENTS.update().where(EVENTS.c.seq == at).values(**values))


def delete_events(connection: Connection, *seqs: int) -> None:
    connection.execute(EVENTS.delete().where(EVENTS.c.seq.in_(seqs)))


def swap_seqs(connection: Connection, a: int, b: int, spare: int) -> None:
    set_event(connection, a, seq=spare)
    set_event(connection, b, seq=a)
    set_event(connection, spare, seq=b)


def swap_and_rehash(connection: Connection, a: int, b: int, spare: int) -> None:
    swap_seqs(connection, a, b, spare)
    rehash(connection, a)
    rehash(connection, b)


def insert_in_the_middle(connection: Connection, at: int, n: int) -> None:
    """Shift events ``at``..``n`` up by one and forge a new event ``at``; the head is moved along."""
    for seq in range(n, at - 1, -1):
        set_event(connection, seq, seq=seq + 1)
    forge(connection, at, at - 1)
    connection.execute(HEAD.update().values(seq=n + 1))


def rewrite_newest(connection: Connection, n: int) -> None:
    set_event(connection, n, actor="mallory")
    rehash(connection, n)


#: (what the tamperer does given the number of events n, first bad seq given n, words of the problem)
TAMPERING: list = [
    pytest.param(lambda c, n: set_event(c, 3, actor="mallory"), lambda n: 3, "event 3 was changed", id="change-actor"),
    pytest.param(
        lambda c, n: set_event(c, 6, after='{"stage":"Production","approved_by":["mallory"],"reason":null}'),
        lambda n: 6, "event 6 was changed", id="change-after",
    ),
    pytest.param(lambda c, n: delete_events(c, 4), lambda n: 4, "event(s) 4 were deleted", id="delete-middle"),
    pytest.param(lambda c, n: delete_events(c, 1), lambda n: 1, "event(s) 1 were deleted", id="delete-first"),
    pytest.param(
        lambda c, n: delete_events(c, n - 1, n), lambda n: n - 1, "newest event(s) 8-9 were deleted", id="delete-newest",
    ),
    pytest.param(
        lambda c, n: forge(c, n + 1, n), lambda n: 10, "event(s) after 9 were appended outside the registry",
        id="append-forged",
    ),
    # The forged event itself links correctly; the chain breaks at the genuine event pushed after it.
    pytest.param(lambda c, n: insert_in_the_middle(c, 4, n), lambda n: 5, "event 5 was changed", id="insert-middle"),
    pytest.param(lambda c, n: swap_seqs(c, 3, 4, n + 1), lambda n: 3, "event 3 was changed", id="swap"),
    pytest.param(
        lambda c, n: swap_and_rehash(c, 3, 4, n + 1), lambda n: 3, "event 3 does not follow event 2", id="swap-and-rehash",
    ),
    pytest.param(lambda c, n: rewrite_newest(c, n), lambda n: n, "the newest event was replaced", id="rewrite-newest"),
    pytest.param(
        lambda c, n: c.execute(HEAD.update().values(hash="f" * 64)), lambda n: n, "does not match the head's hash",
        id="edit-head-hash",
    ),
    pytest.param(
        lambda c, n: c.execute(HEAD.update().values(seq=n - 1)), lambda n: n, "event(s) after 8 were appended",
        id="edit-head-seq-down",
    ),
    pytest.param(lambda c, n: c.execute(HEAD.delete()), lambda n: n + 1, "audit head row is missing", id="delete-head"),
]


@pytest.mark.parametrize(("tamper", "first_bad", "problem"), TAMPERING)
def test_tampering_is_caught(
    registry: Registry, lifecycle, engine, tamper: Callable, first_bad: Callable[[int], int], problem: str
):
    assert lifecycle == 9, "the expected problems below are written for a 9-event log"
    drop_append_only_triggers(engine)
    with engine.begin() as connection:
        tamper(connection, lifecycle)

    report = registry.verify_audit()

    assert not report.intact
    assert report.first_bad_seq == first_bad(lifecycle)
    assert problem in (report.problem or "")


def test_writes_are_refused_once_the_audit_head_is_gone(registry: Registry, lifecycle, engine, catalog_state):
    with engine.begin() as connection:
        connection.execute(HEAD.delete())
    before = catalog_state()
    with pytest.raises(AuditLogError, match="audit head row is missing"):
        registry.set_tags("fraud", {"owner": "fraud-team"})
    assert catalog_state() == before

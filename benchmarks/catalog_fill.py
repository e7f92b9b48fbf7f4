"""Fill a catalog with N filler versions of one model by bulk inserts, audit chain included.

Registering 100,000 versions one by one through the API would take hours, so
the filler is written with SQLAlchemy Core bulk inserts into the tables as the
database holds them (reflected, not imported from ``registry_core``, whose
internal modules may move). The audit events that go with the filler are
hashed into the registry's chain as it hashes them, so ``verify_audit`` accepts
the filled catalog; :func:`seed_versions` checks that it does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import sqlite3
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy
from sqlalchemy import MetaData, Table, bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine

from registry_core import Registry

__all__ = ["MODEL", "REVIEWER", "TRAINER", "grow_sqlite_wal", "seed_versions"]

MODEL = "bench-model"
TRAINER = "trainer"
REVIEWER = "reviewer"
SEED_CHUNK = 10_000

_TABLES = (
    "registered_models", "model_versions", "version_tags", "check_results", "approvals",
    "audit_events", "audit_head",
)


# The registry offers no API to append audit events in bulk, so the chain's
# format is restated here: sha256 over the canonical JSON of the event's fields
# and the previous hash. Should the registry change it, verify_audit() reports
# the filled catalog broken and seed_versions() stops before anything is timed.
def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)


def _event_hash(seq: int, prev_hash: str, recorded_at: str, actor: str, action: str, version: int | None,
                before: str, after: str) -> str:
    body = _canonical_json([seq, prev_hash, recorded_at, actor, action, MODEL, version, before, after])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FillerBatch:
    """Rows of filler versions and the audit events that go with them, written a chunk at a time."""

    def __init__(self, tables: dict[str, Table], seq: int, head_hash: str) -> None:
        self.tables = tables
        self.seq = seq
        self.hash = head_hash
        self.clear()

    def clear(self) -> None:
        self.versions: list[dict[str, Any]] = []
        self.tags: list[tuple[int, str, str]] = []
        self.checks: list[tuple[int, str, bool, datetime, int]] = []
        self.approvals: list[tuple[int, datetime, int]] = []
        self.events: list[dict[str, Any]] = []

    def event(self, at: datetime, actor: str, action: str, version: int | None, before: Any, after: Any) -> int:
        """Append one audit event to the chain; returns its seq."""
        self.seq += 1
        recorded_at = _timestamp(at)
        before_text = _canonical_json(before)
        after_text = _canonical_json(after)
        digest = _event_hash(self.seq, self.hash, recorded_at, actor, action, version, before_text, after_text)
        self.events.append({
            "seq": self.seq, "recorded_at": recorded_at, "actor": actor, "action": action, "model": MODEL,
            "version": version, "before": before_text, "after": after_text, "prev_hash": self.hash, "hash": digest,
        })
        self.hash = digest
        return self.seq

    def transition(self, number: int, at: datetime, current: str, target: str, reason: str | None = None) -> int:
        return self.event(at, TRAINER, "version.transition", number, {"stage": current}, {"stage": target, "reason": reason})

    def check(self, number: int, at: datetime, name: str, passed: bool) -> None:
        seq = self.event(at, TRAINER, "check.record", number, {}, {"check": name, "passed": passed, "details": None})
        self.checks.append((number, name, passed, at, seq))

    def approve(self, number: int, at: datetime) -> None:
        seq = self.event(at, REVIEWER, "approval.record", number, {}, {"decision": "approve", "comment": None})
        self.approvals.append((number, at, seq))

    def flush(self, connection: Connection, model_id: int) -> None:
        versions = self.tables["model_versions"]
        connection.execute(insert(versions), self.versions)
        first, last = self.versions[0]["version"], self.versions[-1]["version"]
        ids = dict(connection.execute(
            select(versions.c.version, versions.c.id)
            .where(versions.c.model_id == model_id, versions.c.version.between(first, last))
        ).all())
        if self.tags:
            connection.execute(insert(self.tables["version_tags"]), [
                {"version_id": ids[number], "key": key, "value": value} for number, key, value in self.tags
            ])
        if self.checks:
            connection.execute(insert(self.tables["check_results"]), [
                {"version_id": ids[number], "name": name, "passed": passed, "details": None,
                 "recorded_by": TRAINER, "recorded_at": at, "audit_seq": seq}
                for number, name, passed, at, seq in self.checks
            ])
        if self.approvals:
            connection.execute(insert(self.tables["approvals"]), [
                {"version_id": ids[number], "approver": REVIEWER, "decision": "approve", "comment": None,
                 "recorded_at": at, "audit_seq": seq}
                for number, at, seq in self.approvals
            ])
        connection.execute(insert(self.tables["audit_events"]), self.events)
        self.clear()


def plan_fates(size: int, rng: random.Random) -> list[str]:
    """What becomes of each filler version: mostly Archived or None, some Staging, one in twenty promoted."""
    fates = []
    for _ in range(size):
        roll = rng.random()
        if roll < 0.05:
            fates.append("production")
        elif roll < 0.07:
            fates.append("staging")
        elif roll < 0.62:
            fates.append("archived")
        else:
            fates.append("none")
    # A current Production version near the head, as in a live catalog.
    fates[max(0, size - 3)] = "production"
    return fates


def seed_versions(registry: Registry, size: int, *, seed: int = 1) -> int:
    """Give the model ``MODEL`` (already created, with no versions) ``size`` filler versions; returns the Production one.

    Each filler version gets the audit events its history would have written
    (register, checks, transitions, approvals, promotions), chained onto the
    catalog's existing chain. Their artifact URIs point into the registry's
    store, but no blob is written: nothing timed reads them. Raises
    ``SystemExit`` if the filled catalog's audit chain does not verify.
    """
    fates = plan_fates(size, random.Random(seed))
    last_production = max(i + 1 for i, fate in enumerate(fates) if fate == "production")
    engine = registry.db.engine
    metadata = MetaData()
    with warnings.catch_warnings():
        # SQLite's expression indexes (the tag tables' value prefixes) cannot be reflected; no insert here needs them.
        warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")
        metadata.reflect(engine, only=_TABLES)
    tables = dict(metadata.tables)
    versions = tables["model_versions"]
    models = tables["registered_models"]
    head_table = tables["audit_head"]
    with engine.begin() as connection:
        model_id = connection.execute(select(models.c.id).where(models.c.name == MODEL)).scalar_one()
        head = connection.execute(select(head_table.c.seq, head_table.c.hash).where(head_table.c.id == 1)).one()
        batch = FillerBatch(tables, head.seq, head.hash)
        start = datetime.now(UTC) - timedelta(minutes=size + 10)
        production: int | None = None
        left_production: list[dict[str, Any]] = []

        for number, fate in enumerate(fates, start=1):
            registered = start + timedelta(minutes=number)
            steps = (registered + timedelta(milliseconds=k) for k in range(1, 100))
            sha256 = hashlib.sha256(f"filler {number}".encode()).hexdigest()
            tags = {"git_sha": sha256[:12], "team": "fraud"} if number % 5 == 0 else {}
            row = {
                "model_id": model_id, "version": number, "stage": "None",
                "artifact_uri": registry.store.location(sha256), "artifact_sha256": sha256,
                "artifact_size": 1_000 + number % 50_000, "artifact_kind": "file",
                "artifact_format": {"filename": "model.pkl"}, "run_id": f"run-{number:07d}",
                "dataset_digest": "sha256:" + hashlib.sha256(str(number // 50).encode()).hexdigest(),
                "params": {"learning_rate": "0.05", "max_depth": str(3 + number % 6)},
                "metrics": {"auc": round(0.80 + (number % 97) / 1000, 4), "f1": round(0.70 + (number % 89) / 1000, 4)},
                "signature": None, "model_card": None, "description": None, "registered_by": TRAINER,
                "created_at": registered, "stage_changed_at": registered, "left_production_seq": None,
            }
            summary = {
                "stage": "None", "artifact_sha256": sha256, "artifact_size": row["artifact_size"],
                "artifact_kind": "file", "artifact_format": row["artifact_format"],
                "run_id": row["run_id"], "dataset_digest": row["dataset_digest"], "params": row["params"],
                "metrics": row["metrics"], "signature": None, "tags": tags, "description": None,
            }
            batch.event(registered, TRAINER, "version.register", number, {}, summary)
            batch.tags.extend((number, key, value) for key, value in tags.items())
            if fate == "production":
                batch.check(number, next(steps), "accuracy", True)
                batch.check(number, next(steps), "data_drift", True)
                batch.transition(number, next(steps), "None", "Staging")
                batch.approve(number, next(steps))
                changed = next(steps)
                if production is not None:
                    seq = batch.transition(production, changed, "Production", "Archived", f"superseded by version {number}")
                    left_production.append({"b_version": production, "b_seq": seq, "b_at": changed})
                batch.event(
                    changed, TRAINER, "version.promote", number, {"stage": "Staging", "production": production},
                    {"stage": "Production", "approved_by": [REVIEWER], "reason": None},
                )
                # Earlier Production versions go in Archived; their left_production_seq is set below.
                row["stage"] = "Production" if number == last_production else "Archived"
                row["stage_changed_at"] = changed
                production = number
            elif fate == "staging":
                batch.check(number, next(steps), "accuracy", True)
                row["stage_changed_at"] = next(steps)
                batch.transition(number, row["stage_changed_at"], "None", "Staging")
                row["stage"] = "Staging"
            elif fate == "archived":
                current = "None"
                if number % 2:
                    batch.transition(number, next(steps), "None", "Staging")
                    current = "Staging"
                row["stage_changed_at"] = next(steps)
                batch.transition(number, row["stage_changed_at"], current, "Archived")
                row["stage"] = "Archived"
            elif number % 10 == 0:
                batch.check(number, next(steps), "accuracy", number % 20 != 0)
            row["updated_at"] = row["stage_changed_at"]  # no description is written or bytes attached here
            batch.versions.append(row)
            if len(batch.versions) >= SEED_CHUNK or number == size:
                batch.flush(connection, model_id)

        if left_production:
            connection.execute(
                update(versions)
                .where(versions.c.model_id == model_id, versions.c.version == bindparam("b_version"))
                .values(left_production_seq=bindparam("b_seq"), stage_changed_at=bindparam("b_at"),
                        updated_at=bindparam("b_at")),
                left_production,
            )
        connection.execute(update(head_table).where(head_table.c.id == 1).values(seq=batch.seq, hash=batch.hash))
        connection.execute(
            update(models).where(models.c.id == model_id).values(last_version=size, updated_at=datetime.now(UTC))
        )
    _settle(engine, [table.name for table in metadata.sorted_tables])
    report = registry.verify_audit()
    if not report.intact:
        raise SystemExit(f"the filled catalog's audit chain does not verify: {report.problem}")
    return last_production


def _settle(engine: Engine, tables: list[str]) -> None:
    """Bring the freshly bulk-loaded database to the state a long-running one is in."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            # What autovacuum would have done to tables that grew to this size.
            connection.exec_driver_sql("VACUUM ANALYZE " + ", ".join(tables))
            # The bulk load left hundreds of MB of WAL; a checkpoint writing it out
            # while writes are timed would slow every commit. Needs superuser.
            with contextlib.suppress(sqlalchemy.exc.DBAPIError):
                connection.exec_driver_sql("CHECKPOINT")
        return
    # On the driver's connection: SQLAlchemy would open a transaction first, and
    # a checkpoint cannot rewind the log under its own connection's read lock.
    raw = engine.raw_connection()
    try:
        grow_sqlite_wal(raw.driver_connection)
    finally:
        raw.close()


def grow_sqlite_wal(connection: sqlite3.Connection) -> None:
    """Checkpoint a SQLite database in WAL mode, leaving a write-ahead log file as large as a long-running one's.

    A commit that appends to the log file costs about twice one that overwrites
    it (the file's size changes, so the sync writes metadata too). A database in
    use keeps a log of about ``wal_autocheckpoint`` pages that each checkpoint
    rewinds, so its commits overwrite; a fresh or small one would grow its log
    for the first thousand pages of commits. The log is grown with a scratch
    table, dropped afterwards, then rewound.
    """
    pages = connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] + 100
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("CREATE TABLE bench_wal_scratch (filler BLOB)")
    connection.executemany("INSERT INTO bench_wal_scratch VALUES (zeroblob(?))", [(page_size - 200,)] * pages)
    connection.execute("DROP TABLE bench_wal_scratch")
    connection.execute("COMMIT")
    # RESTART, not TRUNCATE: the next commits overwrite the log from its start, as they would in a live catalog.
    busy, _, _ = connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
    if busy:
        raise RuntimeError("the write-ahead log could not be rewound: another connection is reading")

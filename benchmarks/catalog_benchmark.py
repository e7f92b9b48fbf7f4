"""Catalog latency at scale: the registry's operations on a model that already has N versions.

For each backend and each size N the script builds a fresh catalog (a SQLite
file in a temporary folder, or a PostgreSQL schema of its own), seeds one model
with N filler versions and the audit chain that goes with them, then times the
public ``Registry`` operations on that model and prints the median and p95
latency of each. A summary compares the largest size with the smallest and
flags the operations that miss the goals.

The filler is written with bulk inserts through SQLAlchemy Core, because
registering 100,000 versions one by one through the API would take hours; the
chain it writes is a valid one (``verify_audit`` must say so before anything is
timed). Every timed operation goes through the public ``Registry`` API; one
extra row times the artifact half of a register on its own, to show how much of
it is the catalog.

    python benchmarks/catalog_benchmark.py [--backends sqlite,postgresql]
        [--sizes 1000,10000,100000] [--repeats N] [--postgres-url URL] [--markdown]

Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import math
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import bindparam, create_engine, insert, select, text, update
from sqlalchemy.engine import Connection, make_url

from registry_core import Registry
from registry_core.artifacts import pack_artifact
from registry_core.audit import canonical_json, event_hash, format_timestamp
from registry_core.database import normalize_url
from registry_core.schema import (
    Approval,
    AuditEvent,
    AuditHead,
    Base,
    CheckResult,
    ModelVersion,
    RegisteredModel,
    VersionTag,
)

MODEL = "bench-model"
ALIAS = "champion"
TRAINER = "trainer"
REVIEWER = "reviewer"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

WRITE_GOAL_MS = 2.0
RESOLVE_GOAL_MS = 0.5
GROWTH_GOAL = 1.5
WRITE_WARMUP = 10
READ_WARMUP = 50
SEED_CHUNK = 10_000
#: Extra verify_audit runs stop after this long (the first and last runs always happen).
VERIFY_BUDGET_SECONDS = 2.0


@dataclass(frozen=True)
class Operation:
    key: str
    label: str
    meaning: str
    #: The SQLite goal this operation is held to, in ms; None for a row that only explains another.
    goal_ms: float | None


OPERATIONS = [
    Operation("register", "register", "Registry.register of a new 64-byte file: blob written, fsynced and published (dir fsync), then the catalog transaction", WRITE_GOAL_MS),
    Operation("register_same", "register (same bytes)", "Registry.register of a 64-byte file whose blob is already stored: stat, hash and touch, no blob write; the rest is the catalog transaction", WRITE_GOAL_MS),
    Operation("pack_same", "register (same), artifact part", "registry_core.artifacts.pack_artifact of that same file alone (not a Registry call): the non-catalog part of the row above", None),
    Operation("transition", "transition", "Registry.transition of a fresh version, None -> Staging", WRITE_GOAL_MS),
    Operation("promote", "promote", "Registry.promote of an approved Staging version to Production, archiving the previous one", WRITE_GOAL_MS),
    Operation("resolve_stage", "resolve /Production", f"Registry.resolve('models:/{MODEL}/Production')", RESOLVE_GOAL_MS),
    Operation("resolve_alias", "resolve @alias", f"Registry.resolve('models:/{MODEL}@{ALIAS}')", RESOLVE_GOAL_MS),
]


@dataclass
class Measurement:
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass
class CaseResult:
    backend: str
    size: int
    seed_seconds: float
    events_after_seed: int
    versions_at_end: int
    #: The 1-minute load average when the case ended: above ~1 on two cores, other work shared the machine.
    load: float = 0.0
    ops: dict[str, Measurement] = field(default_factory=dict)
    #: (events, seconds) of each verify_audit run.
    verify_runs: list[tuple[int, float]] = field(default_factory=list)

    @property
    def verify_events_per_second(self) -> float:
        return statistics.median(events / seconds for events, seconds in self.verify_runs)


# --- progress ---------------------------------------------------------------------------

_STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


# --- catalogs ---------------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_catalog(folder: Path) -> Iterator[str]:
    yield f"sqlite:///{folder / 'catalog.db'}"


@contextlib.contextmanager
def postgres_catalog(admin_url: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


# --- seeding ----------------------------------------------------------------------------


class FillerBatch:
    """Rows of filler versions and the audit events that go with them, written a chunk at a time."""

    def __init__(self, seq: int, head_hash: str) -> None:
        self.seq = seq
        self.hash = head_hash
        self.clear()

    def clear(self) -> None:
        self.versions: list[dict[str, Any]] = []
        self.tags: list[tuple[int, str, str]] = []
        self.checks: list[tuple[int, str, bool, datetime]] = []
        self.approvals: list[tuple[int, datetime]] = []
        self.events: list[dict[str, Any]] = []

    def event(self, at: datetime, actor: str, action: str, version: int | None, before: Any, after: Any) -> int:
        """Append one audit event, hashed exactly as the registry hashes it; returns its seq."""
        self.seq += 1
        recorded_at = format_timestamp(at)
        before_text = canonical_json(before)
        after_text = canonical_json(after)
        digest = event_hash(
            seq=self.seq, prev_hash=self.hash, recorded_at=recorded_at, actor=actor, action=action,
            model=MODEL, version=version, before=before_text, after=after_text,
        )
        self.events.append({
            "seq": self.seq, "recorded_at": recorded_at, "actor": actor, "action": action, "model": MODEL,
            "version": version, "before": before_text, "after": after_text, "prev_hash": self.hash, "hash": digest,
        })
        self.hash = digest
        return self.seq

    def transition(self, number: int, at: datetime, current: str, target: str, reason: str | None = None) -> int:
        return self.event(at, TRAINER, "version.transition", number, {"stage": current}, {"stage": target, "reason": reason})

    def check(self, number: int, at: datetime, name: str, passed: bool) -> None:
        self.checks.append((number, name, passed, at))
        self.event(at, TRAINER, "check.record", number, {}, {"check": name, "passed": passed, "details": None})

    def approve(self, number: int, at: datetime) -> None:
        self.approvals.append((number, at))
        self.event(at, REVIEWER, "approval.record", number, {}, {"decision": "approve", "comment": None})

    def flush(self, connection: Connection, model_id: int) -> None:
        table = ModelVersion.__table__
        connection.execute(insert(table), self.versions)
        first, last = self.versions[0]["version"], self.versions[-1]["version"]
        ids = dict(connection.execute(
            select(table.c.version, table.c.id).where(table.c.model_id == model_id, table.c.version.between(first, last))
        ).all())
        if self.tags:
            connection.execute(insert(VersionTag.__table__), [
                {"version_id": ids[number], "key": key, "value": value} for number, key, value in self.tags
            ])
        if self.checks:
            connection.execute(insert(CheckResult.__table__), [
                {"version_id": ids[number], "name": name, "passed": passed, "details": None,
                 "recorded_by": TRAINER, "recorded_at": at}
                for number, name, passed, at in self.checks
            ])
        if self.approvals:
            connection.execute(insert(Approval.__table__), [
                {"version_id": ids[number], "approver": REVIEWER, "decision": "approve", "comment": None, "recorded_at": at}
                for number, at in self.approvals
            ])
        connection.execute(insert(AuditEvent.__table__), self.events)
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
    """Give the (already created) model ``size`` filler versions and their audit events; returns the Production version.

    The filler's artifact URIs point into the registry's store but no blob is written: nothing timed reads them.
    """
    fates = plan_fates(size, random.Random(seed))
    last_production = max(i + 1 for i, fate in enumerate(fates) if fate == "production")
    versions = ModelVersion.__table__
    # Artifact kinds are new in the schema; the filler follows whichever schema is installed.
    with_kind = "artifact_kind" in versions.c
    with registry.db.engine.begin() as connection:
        model_id = connection.execute(select(RegisteredModel.id).where(RegisteredModel.name == MODEL)).scalar_one()
        head = connection.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
        batch = FillerBatch(head.seq, head.hash)
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
                "artifact_size": 1_000 + number % 50_000, "run_id": f"run-{number:07d}",
                "dataset_digest": "sha256:" + hashlib.sha256(str(number // 50).encode()).hexdigest(),
                "params": {"learning_rate": "0.05", "max_depth": str(3 + number % 6)},
                "metrics": {"auc": round(0.80 + (number % 97) / 1000, 4), "f1": round(0.70 + (number % 89) / 1000, 4)},
                "signature": None, "model_card": None, "description": None, "registered_by": TRAINER,
                "created_at": registered, "stage_changed_at": registered, "left_production_seq": None,
            }
            summary = {
                "stage": "None", "artifact_sha256": sha256, "artifact_size": row["artifact_size"],
                "run_id": row["run_id"], "dataset_digest": row["dataset_digest"], "params": row["params"],
                "metrics": row["metrics"], "tags": tags, "description": None,
            }
            if with_kind:
                row["artifact_kind"] = summary["artifact_kind"] = "file"
                row["artifact_format"] = summary["artifact_format"] = {"filename": "model.pkl"}
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
            batch.versions.append(row)
            if len(batch.versions) >= SEED_CHUNK or number == size:
                batch.flush(connection, model_id)

        if left_production:
            connection.execute(
                update(versions)
                .where(versions.c.model_id == model_id, versions.c.version == bindparam("b_version"))
                .values(left_production_seq=bindparam("b_seq"), stage_changed_at=bindparam("b_at")),
                left_production,
            )
        connection.execute(update(AuditHead.__table__).where(AuditHead.__table__.c.id == 1).values(seq=batch.seq, hash=batch.hash))
        connection.execute(
            update(RegisteredModel.__table__)
            .where(RegisteredModel.__table__.c.id == model_id)
            .values(last_version=size, updated_at=datetime.now(UTC))
        )
    _settle(registry)
    return last_production


def _settle(registry: Registry) -> None:
    """Bring the freshly bulk-loaded database to the state a long-running one is in."""
    engine = registry.db.engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "postgresql":
            # What autovacuum would have done to tables that grew to this size.
            connection.exec_driver_sql("VACUUM ANALYZE " + ", ".join(t.name for t in Base.metadata.sorted_tables))
            # The bulk load left hundreds of MB of WAL; a checkpoint writing it out
            # while writes are timed would slow every commit. Needs superuser.
            with contextlib.suppress(sqlalchemy.exc.DBAPIError):
                connection.exec_driver_sql("CHECKPOINT")
        else:
            # Copy the seed into the database file; the next commit reuses the WAL from its start.
            connection.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)")


# --- timing -----------------------------------------------------------------------------


def timed(call: Callable[[Any], Any], arguments: Iterable[Any]) -> list[float]:
    gc.collect()
    samples = []
    for argument in arguments:
        start = time.perf_counter()
        call(argument)
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def run_case(backend: str, url: str, size: int, repeats: int, promote_repeats: int, folder: Path) -> CaseResult:
    label = f"{backend} N={size:,}"
    root = folder / "artifacts"
    with Registry(url, root, actor=TRAINER) as registry:
        reviewer = registry.as_actor(REVIEWER)
        progress(f"{label}: seeding {size:,} versions")
        started = time.perf_counter()
        registry.create_model(MODEL, description="benchmark model")
        production = seed_versions(registry, size)
        seed_seconds = time.perf_counter() - started
        registry.set_alias(MODEL, ALIAS, production)
        result = CaseResult(backend, size, seed_seconds, 0, 0)
        progress(f"{label}: seeded in {seed_seconds:.1f}s; verifying the audit chain")
        result.events_after_seed = _verify(registry, result)
        budget_end = time.perf_counter() + VERIFY_BUDGET_SECONDS
        while len(result.verify_runs) < 4 and time.perf_counter() < budget_end:
            _verify(registry, result)
        progress(f"{label}: {result.events_after_seed:,} events intact, {result.verify_events_per_second:,.0f} events/s")

        files = folder / "files"
        files.mkdir()
        fresh = []
        for i in range(WRITE_WARMUP + repeats):
            path = files / f"new-{i}.bin"
            path.write_bytes(f"weights of candidate {i} ".encode().ljust(64, b"."))
            fresh.append(path)
        same = files / "same.bin"
        same.write_bytes(b"weights that are registered again and again ".ljust(64, b"."))
        numbers: list[int] = []

        def register(path: Path) -> None:
            info = registry.register(MODEL, path, run_id="run-bench", params={"max_depth": "6"}, metrics={"auc": 0.9})
            numbers.append(info.version)

        progress(f"{label}: register x{repeats} (new bytes, then the same bytes again)")
        for key, paths in (("register", fresh), ("register_same", [same] * (WRITE_WARMUP + repeats))):
            timed(register, paths[:WRITE_WARMUP])
            result.ops[key] = Measurement(timed(register, paths[WRITE_WARMUP:]))
        result.ops["pack_same"] = Measurement(timed(lambda path: pack_artifact(registry.store, path), [same] * repeats))

        staged = numbers[: WRITE_WARMUP + max(repeats, promote_repeats + 5)]
        progress(f"{label}: transition x{len(staged) - WRITE_WARMUP}")
        timed(lambda n: registry.transition(MODEL, n, "Staging"), staged[:WRITE_WARMUP])
        result.ops["transition"] = Measurement(timed(lambda n: registry.transition(MODEL, n, "Staging"), staged[WRITE_WARMUP:]))

        candidates = staged[: 5 + promote_repeats]
        for number in candidates:
            reviewer.approve(MODEL, number)
        progress(f"{label}: promote x{promote_repeats}")
        timed(lambda n: registry.promote(MODEL, n), candidates[:5])
        result.ops["promote"] = Measurement(timed(lambda n: registry.promote(MODEL, n), candidates[5:]))

        progress(f"{label}: resolve x{repeats} (stage and alias)")
        for key, uri in (("resolve_stage", f"models:/{MODEL}/Production"), ("resolve_alias", f"models:/{MODEL}@{ALIAS}")):
            timed(registry.resolve, [uri] * READ_WARMUP)
            result.ops[key] = Measurement(timed(registry.resolve, [uri] * repeats))

        _verify(registry, result)
        result.versions_at_end = registry.get_model(MODEL).latest_version
    result.load = os.getloadavg()[0]
    return result


def _verify(registry: Registry, result: CaseResult) -> int:
    gc.collect()
    start = time.perf_counter()
    report = registry.verify_audit()
    seconds = time.perf_counter() - start
    if not report.intact:
        raise SystemExit(f"the audit chain is broken: {report.problem}")
    result.verify_runs.append((report.events, seconds))
    return report.events


# --- output -----------------------------------------------------------------------------


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool, right: int = 1) -> str:
    """A table; columns from index ``right`` on are right-aligned."""
    if markdown:
        rule = ["---" if i < right else "---:" for i in range(len(headers))]
        lines = [headers, rule, *rows]
        return "\n".join("| " + " | ".join(line) + " |" for line in lines)
    widths = [max(len(str(row[i])) for row in (headers, *rows)) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < right else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def heading(title: str, markdown: bool) -> str:
    return f"\n### {title}\n" if markdown else f"\n== {title} =="


def case_table(result: CaseResult, markdown: bool) -> str:
    rows = []
    for op in OPERATIONS:
        m = result.ops[op.key]
        rows.append([op.label, str(len(m.samples)), f"{m.median:.3f}", f"{m.p95:.3f}"])
    eps = result.verify_events_per_second
    verify_ms = [seconds * 1e3 for _, seconds in result.verify_runs]
    rows.append([
        f"verify_audit ({result.events_after_seed:,} events)", str(len(verify_ms)),
        f"{statistics.median(verify_ms):.1f}", f"{max(verify_ms):.1f}",
    ])
    title = (
        f"{result.backend}, N = {result.size:,} versions "
        f"(seeded in {result.seed_seconds:.1f}s; {result.versions_at_end:,} versions at the end; load {result.load:.2f})"
    )
    table = render(["operation", "calls", "median ms", "p95 ms"], rows, markdown=markdown)
    return f"{heading(title, markdown)}\n{table}\n\naudit verification: {eps:,.0f} events/s (median of {len(verify_ms)} runs; p95 column is the slowest run)"


def summary(results: list[CaseResult], markdown: bool) -> tuple[str, list[str]]:
    sizes = sorted({r.size for r in results})
    backends = list(dict.fromkeys(r.backend for r in results))
    by_key = {(r.backend, r.size): r for r in results}
    small, large = sizes[0], sizes[-1]
    headers = ["backend", "operation", *(f"N={n:,}" for n in sizes), "growth", "SQLite goal"]
    rows: list[list[str]] = []
    flags: list[str] = []
    for backend in backends:
        for op in OPERATIONS:
            medians = {n: by_key[backend, n].ops[op.key].median for n in sizes if (backend, n) in by_key}
            growth = medians[large] / medians[small] if small in medians and large in medians else None
            growth_text = "-" if growth is None or small == large else f"{growth:.2f}x" + (" !" if growth > GROWTH_GOAL else "")
            goal_text = "-"
            if backend == "sqlite" and op.goal_ms is not None:
                worst = max(medians.values())
                ok = worst <= op.goal_ms
                goal_text = f"<= {op.goal_ms:g} ms " + ("ok" if ok else f"MISS ({worst:.2f})")
                if not ok:
                    at = max(medians, key=medians.__getitem__)
                    flags.append(f"MISS  {backend} {op.label}: median {worst:.3f} ms at N={at:,} > goal {op.goal_ms:g} ms")
            if op.goal_ms is not None and growth is not None and small != large and growth > GROWTH_GOAL:
                flags.append(f"GROWS {backend} {op.label}: median {medians[small]:.3f} -> {medians[large]:.3f} ms ({growth:.2f}x > {GROWTH_GOAL}x)")
            rows.append([backend, op.label, *(f"{medians[n]:.3f}" if n in medians else "-" for n in sizes), growth_text, goal_text])
        # Throughput: the growth compares the cost per event, so above 1 means slower per event at N.
        eps = {n: by_key[backend, n].verify_events_per_second for n in sizes if (backend, n) in by_key}
        growth = eps[small] / eps[large] if small in eps and large in eps else None
        growth_text = "-" if growth is None or small == large else f"{growth:.2f}x" + (" !" if growth > GROWTH_GOAL else "")
        if growth is not None and small != large and growth > GROWTH_GOAL:
            flags.append(f"GROWS {backend} verify_audit: {eps[small]:,.0f} -> {eps[large]:,.0f} events/s ({growth:.2f}x per event)")
        rows.append([backend, "verify_audit (events/s)", *(f"{eps[n]:,.0f}" if n in eps else "-" for n in sizes), growth_text, "-"])
    title = "Summary: median ms per operation (verify_audit: events per second)"
    table = render(headers, rows, markdown=markdown, right=2)
    return f"{heading(title, markdown)}\n{table}", flags


def environment(folder: Path, postgres_version: str | None) -> list[str]:
    probe = folder / "fsync-probe"
    samples = []
    with probe.open("ab") as handle:
        for _ in range(50):
            handle.write(b"x" * 4096)
            handle.flush()
            start = time.perf_counter()
            os.fsync(handle.fileno())
            samples.append((time.perf_counter() - start) * 1e3)
    probe.unlink()
    lines = [
        f"python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}"
        + (f", {postgres_version}" if postgres_version else ""),
        f"{os.cpu_count()} CPU(s), {platform.platform()}, load average {os.getloadavg()[0]:.2f} at the start",
        f"temporary folder {folder.parent} (fsync of a 4 KiB append: median {statistics.median(samples):.3f} ms)",
    ]
    return lines


def legend(markdown: bool, repeats: int, promote_repeats: int) -> str:
    bullet = "- " if markdown else "  "
    lines = [heading("What is measured", markdown)]
    lines += [f"{bullet}**{op.label}**: {op.meaning}" if markdown else f"{bullet}{op.label}: {op.meaning}" for op in OPERATIONS]
    lines += [
        f"{bullet}{'**verify_audit**' if markdown else 'verify_audit'}: Registry.verify_audit over the whole chain "
        "(about 2 events per filler version)",
        "",
        f"Each write is timed {repeats} times ({promote_repeats} for promote) after {WRITE_WARMUP} warm-up calls, each resolve",
        f"{repeats} times after {READ_WARMUP}; one call per timing, wall clock (time.perf_counter), garbage collector left on.",
        f"N is the number of filler versions seeded before timing; the timed registers add {2 * (WRITE_WARMUP + repeats)} more.",
        "Filler: ~55% Archived, ~35% None, ~2% Staging, ~5% formerly Production (left_production_seq set), one Production;",
        "checks and approvals on the promoted ones and a tenth of the rest, tags on a fifth, an alias on the Production version.",
        "SQLite: WAL, synchronous=FULL (as the registry configures it), WAL checkpointed after seeding.",
        "PostgreSQL: VACUUM ANALYZE and CHECKPOINT after seeding, as autovacuum and time would have done.",
    ]
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated numbers of filler versions")
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per operation (default 200)")
    parser.add_argument("--promote-repeats", type=int, default=None, help="timed promotes (default: --repeats)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("REGISTRY_BENCH_POSTGRES_URL") or os.environ.get("REGISTRY_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
        help="a PostgreSQL database in which a fresh schema is created and dropped per size",
    )
    parser.add_argument("--markdown", action="store_true", help="print markdown tables for a README")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    try:
        args.sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes takes comma-separated whole numbers")
    if not args.sizes or min(args.sizes) < 10:
        parser.error("--sizes needs numbers of at least 10")
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    args.promote_repeats = args.promote_repeats or args.repeats
    if not 5 <= args.promote_repeats <= 2 * args.repeats:
        parser.error("--promote-repeats must be between 5 and twice --repeats")
    args.postgres_url = normalize_url(args.postgres_url)
    return args


def postgres_server_version(url: str) -> str:
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            return "PostgreSQL " + str(connection.execute(text("SHOW server_version")).scalar_one())
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise SystemExit(
            f"PostgreSQL at {make_url(url).render_as_string()} is unreachable ({str(exc.orig or exc).splitlines()[0]}); "
            "pass --postgres-url or --backends sqlite"
        ) from None
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    postgres_version = postgres_server_version(args.postgres_url) if "postgresql" in args.backends else None
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="catalog-bench-") as temp:
        top = Path(temp)
        print(heading("Catalog benchmark", args.markdown))
        for line in environment(top, postgres_version):
            print(f"- {line}" if args.markdown else line)
        print(legend(args.markdown, args.repeats, args.promote_repeats), flush=True)
        for backend in args.backends:
            for size in args.sizes:
                folder = top / f"{backend}-{size}"
                folder.mkdir()
                catalog = sqlite_catalog(folder) if backend == "sqlite" else postgres_catalog(args.postgres_url)
                with catalog as url:
                    result = run_case(backend, url, size, args.repeats, args.promote_repeats, folder)
                results.append(result)
                print(case_table(result, args.markdown), flush=True)
    table, flags = summary(results, args.markdown)
    print(table)
    sizes = args.sizes
    goals = (
        f"Goals: growth (median at N={sizes[-1]:,} / median at N={sizes[0]:,}; for verify_audit, time per event) "
        f"<= {GROWTH_GOAL}x; on SQLite each write "
        f"<= {WRITE_GOAL_MS:g} ms and each resolve <= {RESOLVE_GOAL_MS:g} ms median."
    )
    print(f"\n{goals}")
    if flags:
        print("\nFlags:" if not args.markdown else "\n**Flags**\n")
        for flag in flags:
            print(f"- {flag}" if args.markdown else f"  {flag}")
    else:
        print("\nEvery goal is met.")
    total = time.perf_counter() - _STARTED
    print(f"\nTotal run time: {total:.0f}s")
    progress("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())

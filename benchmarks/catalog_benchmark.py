"""Catalog latency at scale, measured against the machine's own durable commit.

For each backend and each size N the script builds a fresh catalog (a SQLite
file in a temporary folder, or a PostgreSQL schema of its own), fills one model
with N versions (see ``catalog_fill.py``: bulk inserts, audit chain verified),
then times the public ``Registry`` operations on that model. For each it prints
the median and p95 wall time per call, the SQL statements per call, and the
median as a multiple of a *durable commit*: one small row inserted and
committed per transaction, on the same disk and backend, measured in the same
run interleaved with the operations. That commit is the floor a write cannot go
below, so the multiple says how much of an operation is the registry's own work.

Goals (printed as met / missed by X%): on SQLite, writes <= 2x the commit,
promote and rollback <= 3x, reads (resolving a URI, getting a version) <= 1x;
on both backends, the median at the largest N <= 1.5x the median at the smallest.

    python benchmarks/catalog_benchmark.py [--backends sqlite,postgresql]
        [--sizes 1000,10000,100000] [--repeat N] [--quick] [--postgres-url URL] [--markdown]

Only ``registry_core``'s public API is used (and the registry's engine, to count
statements). Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy
from catalog_fill import MODEL, REVIEWER, TRAINER, grow_sqlite_wal, seed_versions
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from registry_core import Registry

__all__ = ["MODEL", "main", "postgres_catalog", "seed_versions"]

ALIAS = "champion"
MOVING_ALIAS = "challenger"
OTHER_MODELS = 9
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GROWTH_GOAL = 1.5


@dataclass(frozen=True)
class Settings:
    sizes: tuple[int, ...]
    repeat: int
    write_warmup: int
    read_warmup: int
    #: Durable commits per case, spread over the operations (at least this many).
    commits: int


FULL = Settings(sizes=(1_000, 10_000, 100_000), repeat=200, write_warmup=10, read_warmup=20, commits=500)
QUICK = Settings(sizes=(100, 300), repeat=10, write_warmup=2, read_warmup=3, commits=48)


@dataclass(frozen=True)
class Operation:
    key: str
    label: str
    meaning: str
    #: On SQLite the median must stay within this multiple of a durable commit; None: no such goal.
    goal: float | None


OPERATIONS = [
    Operation("register_same", "register (stored bytes)", "Registry.register of a 64-byte file whose blob is already stored (hash, no blob write) and the catalog transaction", 2),
    Operation("register_new", "register (new bytes)", "Registry.register of a new 64-byte file: blob written, fsynced and published, then the catalog transaction", None),
    Operation("transition_staging", "transition None->Staging", "Registry.transition of a fresh version to Staging", 2),
    Operation("transition_archived", "transition Staging->Archived", "Registry.transition of a Staging version to Archived", 2),
    Operation("record_check", "record a check", "Registry.record_check (passed) on a fresh version", 2),
    Operation("approve", "approve", "Registry.approve of a Staging version, by a reviewer", 2),
    Operation("set_alias", "set an alias", f"Registry.set_alias moving '{MOVING_ALIAS}' to another version", 2),
    Operation("promote", "promote", "Registry.promote of an approved Staging version, archiving the previous Production one", 3),
    Operation("rollback", "rollback", "Registry.rollback (no target: the version most recently taken out of Production)", 3),
    Operation("resolve_stage", "resolve /Production", f"Registry.resolve('models:/{MODEL}/Production')", 1),
    Operation("resolve_alias", "resolve @alias", f"Registry.resolve('models:/{MODEL}@{ALIAS}')", 1),
    Operation("resolve_version", "resolve /{n}", f"Registry.resolve('models:/{MODEL}/{{n}}'), n drawn at random from the filled versions", 1),
    Operation("get_version", "get a version", "Registry.get_version, version drawn at random", 1),
    Operation("show", "show a version", "Registry.show (checks, decisions, aliases, gates, stage history), version drawn at random", None),
    Operation("list_versions", "list versions (page)", "Registry.list_versions, one page of 100 before a random version", None),
    Operation("list_models", "list models", f"Registry.list_models over {OTHER_MODELS + 1} models", None),
]

STATEMENT_FOOTNOTES = {
    "sqlite": "statements seen by before_cursor_execute on the registry's engine, measured calls only; "
    "BEGIN / BEGIN IMMEDIATE are counted (the registry sends them as statements), COMMIT is not "
    "(sqlite3's connection.commit()).",
    "postgresql": "statements seen by before_cursor_execute on the registry's engine, measured calls only; "
    "not counted: BEGIN (psycopg sends it before the first statement), COMMIT (connection.commit()) and the "
    "pool's pre-ping SELECT 1 on each connection checkout: about 3 more round trips per call.",
}


@dataclass
class Measurement:
    samples: list[float]
    statements: int

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        return percentile(self.samples, 0.95)

    @property
    def statements_per_call(self) -> float:
        return self.statements / len(self.samples)


@dataclass
class CaseResult:
    backend: str
    size: int
    fill_seconds: float
    events: int
    #: How the durable commit was made.
    probe: str = ""
    commits: list[float] = field(default_factory=list)
    ops: dict[str, Measurement] = field(default_factory=dict)
    #: The 1-minute load average when the case ended: above ~1 on two cores, other work shared the machine.
    load: float = 0.0

    @property
    def commit_median(self) -> float:
        return statistics.median(self.commits)

    def ratio(self, key: str) -> float:
        return self.ops[key].median / self.commit_median


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# --- progress ---------------------------------------------------------------------------

_STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


# --- catalogs ---------------------------------------------------------------------------


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


# --- the durable commit -------------------------------------------------------------------

PROBE_NOTE = "a durable commit of one small row: an integer and about a hundred bytes of text, like this one."


class SqliteCommitProbe:
    """Commits into a separate SQLite file next to the catalog, with the catalog's settings, through sqlite3 itself."""

    describe = "SQLite file in the catalog's folder, WAL, synchronous=FULL, BEGIN IMMEDIATE; INSERT + COMMIT per transaction"

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None, timeout=60)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=60000"):
            self.connection.execute(f"PRAGMA {pragma}")
        self.connection.execute("CREATE TABLE commit_probe (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, note TEXT NOT NULL)")
        grow_sqlite_wal(self.connection)  # as the catalog's was after filling
        self.n = 0

    def commit(self) -> float:
        self.n += 1
        start = time.perf_counter()
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.execute("INSERT INTO commit_probe (n, note) VALUES (?, ?)", (self.n, PROBE_NOTE))
        self.connection.execute("COMMIT")
        return (time.perf_counter() - start) * 1e3

    def close(self) -> None:
        self.connection.close()


class PostgresCommitProbe:
    """Commits into a small table in the catalog's schema on the same server, through psycopg itself."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, poolclass=NullPool)
        self.raw = self.engine.raw_connection()
        self.connection: Any = self.raw.driver_connection
        with self.connection.cursor() as cursor:
            cursor.execute("CREATE TABLE commit_probe (id bigserial PRIMARY KEY, n integer NOT NULL, note text NOT NULL)")
            cursor.execute("SHOW synchronous_commit")
            synchronous_commit = cursor.fetchone()[0]
        self.connection.commit()
        self.describe = (
            f"table on the same server, synchronous_commit={synchronous_commit}; BEGIN + INSERT + COMMIT per transaction"
        )
        self.n = 0

    def commit(self) -> float:
        self.n += 1
        start = time.perf_counter()
        with self.connection.cursor() as cursor:
            cursor.execute("INSERT INTO commit_probe (n, note) VALUES (%s, %s)", (self.n, PROBE_NOTE))
        self.connection.commit()
        return (time.perf_counter() - start) * 1e3

    def close(self) -> None:
        self.raw.close()
        self.engine.dispose()


# --- timing -----------------------------------------------------------------------------


class StatementCounter:
    """Counts the statements the registry's engine sends to the driver while switched on."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0
        self.on = False
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        if self.on:
            self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def commit_spacing(settings: Settings) -> int:
    """Measured calls between two durable commits, so that a case makes at least ``settings.commits`` of them."""
    return max(1, len(OPERATIONS) * settings.repeat // settings.commits)


class Timer:
    """Times the operations with durable commits interleaved between their calls, so that both see the same machine."""

    def __init__(self, result: CaseResult, probe: SqliteCommitProbe | PostgresCommitProbe,
                 counter: StatementCounter, commit_every: int) -> None:
        self.result = result
        self.probe = probe
        self.counter = counter
        self.commit_every = commit_every

    def run(self, key: str, call: Callable[[Any], Any], arguments: Sequence[Any], warmup: int) -> None:
        """Call ``call`` once per argument; the first ``warmup`` calls are not measured."""
        for argument in arguments[:warmup]:
            call(argument)
        gc.collect()
        samples = []
        self.counter.count = 0
        for i, argument in enumerate(arguments[warmup:]):
            if i % self.commit_every == 0:
                self.result.commits.append(self.probe.commit())
            self.counter.on = True
            start = time.perf_counter()
            try:
                call(argument)
            finally:
                samples.append((time.perf_counter() - start) * 1e3)
                self.counter.on = False
        self.result.ops[key] = Measurement(samples, self.counter.count)


def run_case(backend: str, url: str, size: int, settings: Settings, folder: Path) -> CaseResult:
    label = f"{backend} N={size:,}"
    rng = random.Random(size)
    with Registry(url, folder / "artifacts", actor=TRAINER) as registry:
        reviewer = registry.as_actor(REVIEWER)
        progress(f"{label}: filling {size:,} versions")
        started = time.perf_counter()
        registry.create_model(MODEL, description="benchmark model")
        for i in range(OTHER_MODELS):
            registry.create_model(f"other-model-{i:02d}", description="a neighbour for list_models")
        production = seed_versions(registry, size)
        registry.set_alias(MODEL, ALIAS, production)
        fill_seconds = time.perf_counter() - started
        events = registry.audit_events(limit=1)[-1].seq
        progress(f"{label}: filled in {fill_seconds:.1f}s, audit chain of {events:,} events verified")
        if registry.get_model(MODEL).production_version != production:
            raise SystemExit(f"{label}: the filled catalog does not have version {production} in Production")

        if backend == "sqlite":
            probe: SqliteCommitProbe | PostgresCommitProbe = SqliteCommitProbe(folder / "commit-probe.db")
        else:
            probe = PostgresCommitProbe(url)
        for _ in range(settings.write_warmup):
            probe.commit()
        counter = StatementCounter(registry.db.engine)
        result = CaseResult(backend, size, fill_seconds, events, probe.describe)
        timer = Timer(result, probe, counter, commit_spacing(settings))
        try:
            _time_operations(registry, reviewer, timer, settings, size, rng, folder, label)
        finally:
            counter.close()
            probe.close()
        report = registry.verify_audit()
        if not report.intact:
            raise SystemExit(f"{label}: the audit chain broke during the run: {report.problem}")
    result.load = os.getloadavg()[0]
    return result


def _time_operations(registry: Registry, reviewer: Registry, timer: Timer, settings: Settings, size: int,
                     rng: random.Random, folder: Path, label: str) -> None:
    writes = settings.write_warmup + settings.repeat
    w, r = settings.write_warmup, settings.read_warmup
    files = folder / "files"
    files.mkdir()
    fresh = []
    for i in range(writes):
        path = files / f"new-{i}.bin"
        path.write_bytes(f"weights of candidate {i} ".encode().ljust(64, b"."))
        fresh.append(path)
    same = files / "same.bin"
    same.write_bytes(b"weights that are registered again and again ".ljust(64, b"."))

    def register_into(numbers: list[int]) -> Callable[[Path], None]:
        def register(path: Path) -> None:
            numbers.append(registry.register(MODEL, path, run_id="run-bench", params={"max_depth": "6"}, metrics={"auc": 0.9}).version)
        return register

    progress(f"{label}: writes x{settings.repeat} each")
    new_versions: list[int] = []
    same_versions: list[int] = []
    timer.run("register_new", register_into(new_versions), fresh, w)
    timer.run("register_same", register_into(same_versions), [same] * writes, w)
    timer.run("record_check", lambda n: registry.record_check(MODEL, n, "accuracy", passed=True), same_versions, w)
    timer.run("transition_staging", lambda n: registry.transition(MODEL, n, "Staging"), same_versions, w)
    timer.run("transition_archived", lambda n: registry.transition(MODEL, n, "Archived"), same_versions, w)
    for number in new_versions:  # setting the stage for approve and promote, not measured
        registry.transition(MODEL, number, "Staging")
    timer.run("approve", lambda n: reviewer.approve(MODEL, n), new_versions, w)
    timer.run("promote", lambda n: registry.promote(MODEL, n), new_versions, w)
    timer.run("rollback", lambda _: registry.rollback(MODEL, reason="benchmark rollback"), range(writes), w)
    timer.run("set_alias", lambda n: registry.set_alias(MODEL, MOVING_ALIAS, n), same_versions, w)

    progress(f"{label}: reads x{settings.repeat} each")
    reads = r + settings.repeat
    numbers = [rng.randint(1, size) for _ in range(reads)]
    timer.run("resolve_stage", registry.resolve, [f"models:/{MODEL}/Production"] * reads, r)
    timer.run("resolve_alias", registry.resolve, [f"models:/{MODEL}@{ALIAS}"] * reads, r)
    timer.run("resolve_version", registry.resolve, [f"models:/{MODEL}/{n}" for n in numbers], r)
    timer.run("get_version", lambda n: registry.get_version(MODEL, n), numbers, r)
    timer.run("show", registry.show, [f"models:/{MODEL}/{n}" for n in numbers], r)
    timer.run("list_versions", lambda n: registry.list_versions(MODEL, before=n + 1), numbers, r)
    timer.run("list_models", lambda _: registry.list_models(), range(reads), r)


# --- output -----------------------------------------------------------------------------


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool, right: int = 1) -> str:
    """A table; columns from index ``right`` on are right-aligned."""
    if markdown:
        rule = ["---" if i < right else "---:" for i in range(len(headers))]
        return "\n".join("| " + " | ".join(line) + " |" for line in [headers, rule, *rows])
    widths = [max(len(str(row[i])) for row in (headers, *rows)) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < right else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def heading(title: str, markdown: bool) -> str:
    return f"\n### {title}\n" if markdown else f"\n== {title} =="


def verdict(value: float, goal: float) -> str:
    if value <= goal:
        return "met"
    excess = (value / goal - 1) * 100
    return f"missed by {excess:.0f}%" if excess >= 1 else f"missed by {excess:.1f}%"


def statements_text(per_call: float) -> str:
    return f"{per_call:.2f}".rstrip("0").rstrip(".")


def case_table(result: CaseResult, markdown: bool) -> str:
    commits = result.commits
    title = (
        f"{result.backend}, N = {result.size:,} versions "
        f"(filled and verified in {result.fill_seconds:.1f}s, {result.events:,} audit events; load {result.load:.2f} at the end)"
    )
    baseline = (
        f"durable commit: median {result.commit_median:.3f} ms, p95 {percentile(commits, 0.95):.3f} ms "
        f"({len(commits)} commits interleaved with the operations; {result.probe})"
    )
    rows = []
    for op in OPERATIONS:
        m = result.ops[op.key]
        goal = "-"
        if result.backend == "sqlite" and op.goal is not None:
            goal = f"<= {op.goal:g}x: {verdict(result.ratio(op.key), op.goal)}"
        rows.append([
            op.label, str(len(m.samples)), f"{m.median:.3f}", f"{m.p95:.3f}", statements_text(m.statements_per_call),
            f"{result.ratio(op.key):.2f}", goal,
        ])
    table = render(["operation", "calls", "median ms", "p95 ms", "stmts/call [1]", "x commit", "SQLite goal (x commit)"],
                   rows, markdown=markdown)
    return f"{heading(title, markdown)}\n{baseline}\n\n{table}\n\n[1] {STATEMENT_FOOTNOTES[result.backend]}"


def summaries(results: list[CaseResult], markdown: bool) -> tuple[str, list[str]]:
    sizes = sorted({r.size for r in results})
    backends = list(dict.fromkeys(r.backend for r in results))
    by_key = {(r.backend, r.size): r for r in results}
    small, large = sizes[0], sizes[-1]
    misses: list[str] = []

    rows = []
    for backend in backends:
        present = [n for n in sizes if (backend, n) in by_key]
        rows.append([backend, "durable commit", *(f"{by_key[backend, n].commit_median:.3f}" for n in present), "-", "-"])
        for op in OPERATIONS:
            medians = {n: by_key[backend, n].ops[op.key].median for n in present}
            growth_text = goal_text = "-"
            if small in medians and large in medians and small != large:
                growth = medians[large] / medians[small]
                growth_text = f"{growth:.2f}x"
                goal_text = verdict(growth, GROWTH_GOAL)
                if growth > GROWTH_GOAL:
                    misses.append(f"{backend} {op.label}: grows {growth:.2f}x from N={small:,} to N={large:,} "
                                  f"(goal <= {GROWTH_GOAL}x, {goal_text})")
            rows.append([backend, op.label, *(f"{medians[n]:.3f}" for n in present), growth_text, goal_text])
    growth_table = render(["backend", "operation", *(f"N={n:,} ms" for n in sizes), "growth", f"growth goal (<= {GROWTH_GOAL}x)"],
                          rows, markdown=markdown, right=2)
    text_out = f"{heading('Medians by size, and growth from the smallest to the largest N', markdown)}\n{growth_table}"

    if "sqlite" in backends:
        present = [n for n in sizes if ("sqlite", n) in by_key]
        rows = []
        for op in OPERATIONS:
            if op.goal is None:
                continue
            ratios = {n: by_key["sqlite", n].ratio(op.key) for n in present}
            worst = max(ratios, key=ratios.__getitem__)
            rows.append([op.label, *(f"{ratios[n]:.2f}" for n in present), f"<= {op.goal:g}x", verdict(ratios[worst], op.goal)])
            if ratios[worst] > op.goal:
                misses.append(f"sqlite {op.label}: {ratios[worst]:.2f}x the durable commit at N={worst:,} "
                              f"(goal <= {op.goal:g}x, {verdict(ratios[worst], op.goal)})")
        ratio_table = render(["operation", *(f"N={n:,}" for n in present), "goal", "worst case"], rows, markdown=markdown)
        text_out += f"\n{heading('SQLite: median as a multiple of the durable commit', markdown)}\n{ratio_table}"
    return text_out, misses


def environment(postgres_version: str | None, folder: Path) -> list[str]:
    return [
        f"python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}"
        + (f", {postgres_version}" if postgres_version else ""),
        f"{os.cpu_count()} CPU(s), {platform.platform()}, load average {os.getloadavg()[0]:.2f} at the start",
        f"SQLite catalogs and commit probes under {folder}",
    ]


def legend(markdown: bool, settings: Settings) -> str:
    bullet = "- " if markdown else "  "
    lines = [heading("What is measured", markdown)]
    lines += [f"{bullet}**{op.label}**: {op.meaning}" if markdown else f"{bullet}{op.label}: {op.meaning}" for op in OPERATIONS]
    lines += [
        "",
        f"Each operation is called {settings.repeat} times after {settings.write_warmup} (writes) or "
        f"{settings.read_warmup} (reads) unmeasured calls; one call per timing, wall clock (time.perf_counter),",
        "garbage collector collected before each operation and left on. One durable commit is made (and timed) "
        f"before every {commit_spacing(settings)} measured calls",
        "of every operation; 'x commit' is the operation's median over the median of all the durable commits of its case.",
        "Catalog: the model has N filled versions (~55% Archived, ~35% None, ~2% Staging, ~5% formerly Production,",
        "one Production, with their checks, approvals, tags and audit events) plus those the timed writes add;",
        f"{OTHER_MODELS} other models without versions. SQLite: WAL, synchronous=FULL; after filling, the log is checkpointed",
        "and left at a long-running catalog's size (commits overwrite it rather than grow it), the probe's likewise;",
        "PostgreSQL: VACUUM ANALYZE and CHECKPOINT after filling, as autovacuum and time would have done.",
    ]
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--sizes", default=None,
                        help=f"comma-separated numbers of filled versions (default {','.join(map(str, FULL.sizes))})")
    parser.add_argument("--repeat", "--repeats", dest="repeat", type=int, default=None,
                        help=f"measured calls per operation (default {FULL.repeat})")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: sizes {','.join(map(str, QUICK.sizes))}, {QUICK.repeat} calls per operation")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("REGISTRY_BENCH_POSTGRES_URL") or os.environ.get("REGISTRY_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
        help="a PostgreSQL database in which a fresh schema is created and dropped per size",
    )
    parser.add_argument("--markdown", action="store_true", help="print markdown tables for a README")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgresql"}
    if unknown or not args.backends:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}" if unknown else "no backend given")
    base = QUICK if args.quick else FULL
    sizes = base.sizes
    if args.sizes is not None:
        try:
            sizes = tuple(sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()}))
        except ValueError:
            parser.error("--sizes takes comma-separated whole numbers")
        if not sizes or min(sizes) < 10:
            parser.error("--sizes needs numbers of at least 10")
    repeat = base.repeat if args.repeat is None else args.repeat
    if repeat < 5:
        parser.error("--repeat must be at least 5")
    args.settings = Settings(sizes, repeat, base.write_warmup, base.read_warmup, base.commits)
    for prefix in ("postgresql://", "postgres://"):
        if args.postgres_url.startswith(prefix):
            args.postgres_url = "postgresql+psycopg://" + args.postgres_url[len(prefix):]
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
    settings: Settings = args.settings
    postgres_version = postgres_server_version(args.postgres_url) if "postgresql" in args.backends else None
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="catalog-bench-") as temp:
        top = Path(temp)
        print(heading("Catalog benchmark", args.markdown))
        for line in environment(postgres_version, top):
            print(f"- {line}" if args.markdown else line)
        print(legend(args.markdown, settings) + "\n", flush=True)
        for backend in args.backends:
            for size in settings.sizes:
                folder = top / f"{backend}-{size}"
                folder.mkdir()
                catalog = contextlib.nullcontext(f"sqlite:///{folder / 'catalog.db'}") if backend == "sqlite" \
                    else postgres_catalog(args.postgres_url)
                with catalog as url:
                    result = run_case(backend, url, size, settings, folder)
                results.append(result)
                print(case_table(result, args.markdown), flush=True)
    text_out, misses = summaries(results, args.markdown)
    print(text_out)
    growth = f"; growth from N={settings.sizes[0]:,} to N={settings.sizes[-1]:,} <= {GROWTH_GOAL}x for every operation" \
        if len(settings.sizes) > 1 else ""
    print(f"\nGoals: on SQLite, writes <= 2x the durable commit, promote and rollback <= 3x, reads <= 1x (median){growth}.")
    if misses:
        print("\nMissed goals:" if not args.markdown else "\n**Missed goals**\n")
        for miss in misses:
            print(f"- {miss}" if args.markdown else f"  {miss}")
    else:
        print("\nEvery goal is met.")
    print(f"\nTotal run time: {time.perf_counter() - _STARTED:.0f}s")
    progress("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""MLflow's own client on MLflow's SQL registry and on the catalog, side by side, at N versions of one model.

For each backend and size N, one temporary folder (or one fresh PostgreSQL
database) holds two registries of the same model with the same N versions in
the same stages: MLflow's ``SqlAlchemyStore`` (registry URI ``sqlite:///…/mlflow.db``,
filled by ``mlflow_fill.py``) and the catalog behind our plugin (registry URI
``registry+sqlite:///…/catalog.db``, filled by ``catalog_fill.py``, audit chain
verified). Both are driven by ``mlflow.MlflowClient`` in this process, one call
of each side after the other (the order alternating), and timed per call:

- **get_latest_versions**: ``client.get_latest_versions(name, stages=["Production"])``.
- **models:/NAME/Production -> URI**: what loading ``models:/NAME/Production`` pays before
  reading a byte: MLflow's own ``get_model_name_and_version`` (the stage lookup its
  ``ModelsArtifactRepository`` makes), then ``client.get_model_version_download_uri``.
  MLflow answers the stored location; ours a ``registry-artifacts:`` URI. No bytes are read.
- **promote**: ``client.transition_model_version_stage(name, v, "Production",
  archive_existing_versions=True)`` of a Staging version (``v`` an int: see
  :func:`to_production`). MLflow moves it and archives the Production one. Ours runs
  ``Registry.promote``: the version's checks (none failing), one approval by a reviewer
  other than the registrant (given beforehand, untimed), the previous Production version
  archived, the audit events appended, one transaction.
- **rollback**: the same call on the version that was in Production when the catalog was
  filled, now Archived. MLflow moves it back like any version. Ours runs ``Registry.rollback``
  to it: allowed only because it was in Production before; no approval is asked.

Promote and rollback alternate, so each rollback undoes the promotion before it. The
versions promoted are the highest-numbered ones left in stage None by the fill, moved to
Staging beforehand through each side's client (and, for ours, approved), untimed.

    python benchmarks/mlflow_benchmark.py [--sizes 2000 20000] [--repeat 50]
        [--backends sqlite postgresql] [--postgres-url URL] [--markdown]

The defaults take about 5 minutes per backend on 2 cores, most of it MLflow's calls at
20,000 versions (about a second each).

Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import sqlalchemy
from catalog_benchmark import (
    DEFAULT_POSTGRES_URL,
    heading,
    percentile,
    postgres_catalog,
    postgres_server_version,
    progress,
    render,
)
from catalog_fill import MODEL, REVIEWER, TRAINER, seed_versions
from mlflow import MlflowClient
from mlflow.store.artifact.utils.models import get_model_name_and_version
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
from mlflow_fill import FilledModel, fill_mlflow, filled_stages, postgres_database
from sqlalchemy import event
from sqlalchemy.engine import Engine

from registry_core import Registry

__all__ = ["main"]

SIDES = ("MLflow", "ours")
WRITE_WARMUP = 2
READ_WARMUP = 5
#: Versions read back through each client after filling, to check both answer as filled.
SAMPLED_VERSIONS = 20


@dataclass(frozen=True)
class Operation:
    """One timed call, as the tables name it."""

    key: str
    label: str


LATEST, RESOLVE, PROMOTE, ROLLBACK = OPERATIONS = [
    Operation("latest", "get_latest_versions(Production)"),
    Operation("resolve", "models:/NAME/Production -> URI"),
    Operation("promote", "promote: Staging -> Production"),
    Operation("rollback", "rollback: Archived -> Production"),
]


@dataclass
class CaseResult:
    """One backend at one size: fill times, per (operation, side) the timings in ms and the statements sent."""

    backend: str
    size: int
    fill_seconds: dict[str, float]
    samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    statements: dict[tuple[str, str], int] = field(default_factory=dict)
    load_start: float = 0.0
    load_end: float = 0.0


class StatementCounter:
    """Counts the statements any engine sends while a side's call is timed (one side runs at a time)."""

    def __init__(self) -> None:
        self.count = 0
        self.on = False
        event.listen(Engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        if self.on:
            self.count += 1

    def close(self) -> None:
        event.remove(Engine, "before_cursor_execute", self._seen)


# --- the calls ---------------------------------------------------------------------------


def latest_production(client: MlflowClient, expected: int) -> None:
    """The Production version through ``get_latest_versions``; stops the run if it is not ``expected``."""
    found = [int(mv.version) for mv in client.get_latest_versions(MODEL, stages=["Production"])]
    if found != [expected]:
        raise SystemExit(f"get_latest_versions answered {found}, expected [{expected}]")


def resolve_production(client: MlflowClient, expected: int) -> None:
    """What opening ``models:/NAME/Production`` asks the registry before reading bytes."""
    name, version = get_model_name_and_version(client, f"models:/{MODEL}/Production")
    if int(version) != expected:
        raise SystemExit(f"models:/{MODEL}/Production resolved to version {version}, expected {expected}")
    client.get_model_version_download_uri(name, version)


def to_production(client: MlflowClient, version: int) -> None:
    """Move ``version`` to Production, archiving the current one; stops the run if it did not move."""
    # An int, not the str MLflow's signature names: MLflow's SQL store compares the text to its integer
    # column when archiving, which PostgreSQL refuses through psycopg 3 (SQLAlchemy 2.1's default driver).
    moved = client.transition_model_version_stage(MODEL, version, "Production", archive_existing_versions=True)
    if moved.current_stage != "Production":
        raise SystemExit(f"version {version} is in {moved.current_stage} after the move to Production")


class Timer:
    """Calls each side once per argument, alternating which goes first, and keeps the timings past the warmup."""

    def __init__(self, result: CaseResult, clients: dict[str, MlflowClient], counter: StatementCounter) -> None:
        self.result = result
        self.clients = clients
        self.counter = counter
        self.calls = 0

    def call(self, op: Operation, function: Callable[[MlflowClient, int], None], argument: int, measured: bool) -> None:
        """``function(client, argument)`` on each side; its time and statements are kept when ``measured``."""
        self.calls += 1
        order = SIDES if self.calls % 2 else SIDES[::-1]
        for side in order:
            self.counter.count = 0
            self.counter.on = True
            start = time.perf_counter()
            try:
                function(self.clients[side], argument)
            finally:
                elapsed = (time.perf_counter() - start) * 1e3
                self.counter.on = False
            if measured:
                key = (op.key, side)
                self.result.samples.setdefault(key, []).append(elapsed)
                self.result.statements[key] = self.result.statements.get(key, 0) + self.counter.count


# --- one case ------------------------------------------------------------------------------


def verify(label: str, client: MlflowClient, filled: FilledModel, sample: list[int]) -> None:
    """Check that a side's client sees the filled model: the latest version per stage, and the sampled versions."""
    latest = {mv.current_stage: int(mv.version) for mv in client.get_latest_versions(MODEL)}
    if latest != filled.latest():
        raise SystemExit(f"{label}: get_latest_versions answered {latest}, expected {filled.latest()}")
    for number in sample:
        stage = client.get_model_version(MODEL, str(number)).current_stage
        if stage != filled.stages[number - 1]:
            raise SystemExit(f"{label}: version {number} is in {stage}, expected {filled.stages[number - 1]}")


def promotion_candidates(filled: FilledModel, count: int, label: str) -> list[int]:
    """The ``count`` highest versions left in None with no check recorded (catalog_fill checks every tenth)."""
    candidates = [n for n in reversed(filled.in_stage("None")) if n % 10][:count]
    if len(candidates) < count:
        raise SystemExit(f"{label}: only {len(candidates)} versions to promote, {count} needed; "
                         "raise --sizes or lower --repeat")
    return candidates


def run_case(backend: str, mlflow_uri: str, catalog_url: str, size: int, repeat: int, folder: Path) -> CaseResult:
    """Fill both registries with ``size`` versions, check them, and time every operation on both."""
    label = f"{backend} N={size:,}"
    filled = filled_stages(size)
    production = filled.production
    candidates = promotion_candidates(filled, WRITE_WARMUP + repeat, label)
    artifacts = folder / "artifacts"
    result = CaseResult(backend, size, {}, load_start=os.getloadavg()[0])

    progress(f"{label}: MLflow's store (its migrations) and {size:,} versions")
    started = time.perf_counter()
    fill_mlflow(SqlAlchemyStore(mlflow_uri), filled, folder / "mlruns")
    result.fill_seconds["MLflow"] = time.perf_counter() - started
    progress(f"{label}: the catalog and {size:,} versions")
    started = time.perf_counter()
    with Registry(catalog_url, artifacts, actor=TRAINER) as registry:
        registry.create_model(MODEL, description="benchmark model")
        if seed_versions(registry, size) != production:
            raise SystemExit(f"{label}: the catalog was filled with another Production version than MLflow's")
        result.fill_seconds["ours"] = time.perf_counter() - started

        os.environ["REGISTRY_ARTIFACT_ROOT"] = str(artifacts)
        os.environ["REGISTRY_ACTOR"] = TRAINER
        clients = {
            "MLflow": MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri),
            "ours": MlflowClient(tracking_uri=mlflow_uri, registry_uri=f"registry+{catalog_url}"),
        }
        sample = random.Random(size).sample(range(1, size + 1), min(SAMPLED_VERSIONS, size))
        for side, client in clients.items():
            verify(f"{label} {side}", client, filled, sample)
        progress(f"{label}: both registries answer as filled; {len(candidates)} versions to Staging (untimed)")
        reviewer = registry.as_actor(REVIEWER)
        for number in candidates:
            for client in clients.values():
                client.transition_model_version_stage(MODEL, str(number), "Staging")
            reviewer.approve(MODEL, number)

        counter = StatementCounter()
        timer = Timer(result, clients, counter)
        try:
            progress(f"{label}: reads x{repeat}")
            for op, function in ((LATEST, latest_production), (RESOLVE, resolve_production)):
                gc.collect()
                for i in range(READ_WARMUP + repeat):
                    timer.call(op, function, production, measured=i >= READ_WARMUP)
            progress(f"{label}: promote and rollback x{repeat}")
            gc.collect()
            for i, number in enumerate(candidates):
                timer.call(PROMOTE, to_production, number, measured=i >= WRITE_WARMUP)
                timer.call(ROLLBACK, to_production, production, measured=i >= WRITE_WARMUP)
        finally:
            counter.close()
        report = registry.verify_audit()
        if not report.intact:
            raise SystemExit(f"{label}: the catalog's audit chain broke during the run: {report.problem}")
    result.load_end = os.getloadavg()[0]
    return result


@contextlib.contextmanager
def stores(backend: str, folder: Path, postgres_url: str) -> Iterator[tuple[str, str]]:
    """MLflow's registry URI and the catalog's database URL, side by side on one disk or one server."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'mlflow.db'}", f"sqlite:///{folder / 'catalog.db'}"
        return
    with postgres_database(postgres_url) as database, postgres_catalog(database) as catalog:
        try:
            yield database, catalog
        finally:
            engine = SqlAlchemyStore._engine_map.pop(database, None)
            if engine is not None:
                engine.dispose()


# --- output ------------------------------------------------------------------------------


def case_table(result: CaseResult, repeat: int, markdown: bool) -> str:
    fills = ", ".join(f"{side} filled in {result.fill_seconds[side]:.1f}s" for side in SIDES)
    title = (f"{result.backend}, N = {result.size:,} versions ({fills}, both verified; "
             f"load {result.load_start:.2f} at the start, {result.load_end:.2f} at the end)")
    rows = []
    for op in OPERATIONS:
        mlflow_samples, ours_samples = (result.samples[op.key, side] for side in SIDES)
        mlflow_median, ours_median = statistics.median(mlflow_samples), statistics.median(ours_samples)
        statements = " / ".join(f"{result.statements[op.key, side] / repeat:.1f}".removesuffix(".0") for side in SIDES)
        rows.append([
            op.label, str(len(ours_samples)),
            f"{mlflow_median:.2f}", f"{percentile(mlflow_samples, 0.95):.2f}",
            f"{ours_median:.2f}", f"{percentile(ours_samples, 0.95):.2f}",
            f"{ours_median / mlflow_median:.3f}", statements,
        ])
    headers = ["operation", "calls", "MLflow median ms", "MLflow p95 ms", "ours median ms", "ours p95 ms",
               "ours / MLflow (median)", "statements MLflow / ours"]
    return f"{heading(title, markdown)}\n{render(headers, rows, markdown=markdown)}"


def environment(backends: Sequence[str], postgres_version: str | None, folder: Path, repeat: int) -> list[str]:
    return [
        f"python {platform.python_version()}, MLflow {mlflow.__version__}, SQLAlchemy {sqlalchemy.__version__}, "
        f"SQLite {sqlite3.sqlite_version}" + (f", {postgres_version}" if postgres_version else ""),
        f"{os.cpu_count()} CPU(s), {platform.platform()}, load average {os.getloadavg()[0]:.2f} at the start",
        f"backends: {', '.join(backends)}; SQLite files of both sides in {folder}",
        f"{repeat} timed calls per operation and side after {READ_WARMUP} (reads) or {WRITE_WARMUP} (writes) "
        "untimed ones; one call of each side after the other, the order alternating",
    ]


LEGEND = [
    "MLflow: SqlAlchemyStore at registry URI sqlite:///…/mlflow.db (its defaults: rollback journal, "
    "synchronous=FULL), or a fresh PostgreSQL database.",
    "ours: the registry+ plugin on the catalog (WAL, synchronous=FULL), or a schema in that same database; "
    "psycopg 3 for both.",
    "get_latest_versions: client.get_latest_versions(name, stages=['Production']).",
    "models:/NAME/Production -> URI: mlflow's get_model_name_and_version (what its models:/ artifact repository "
    "resolves), then client.get_model_version_download_uri; no bytes read.",
    "promote: transition_model_version_stage(name, v, 'Production', archive_existing_versions=True) of a Staging "
    "version; ours runs every gate (checks, one approval by a reviewer) and appends the audit events.",
    "rollback: the same call on the formerly-Production, now Archived version; ours allows it only because that "
    "version was in Production before.",
    "statements: SQL statements sent per call (SQLAlchemy's before_cursor_execute); MLflow's SQLite sessions "
    "each begin with three PRAGMAs; on PostgreSQL BEGIN and COMMIT are not counted.",
]


# --- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 20_000], help="versions of the model")
    parser.add_argument("--repeat", type=int, default=50, help="timed calls per operation and side (default 50)")
    parser.add_argument("--backends", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite"])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("REGISTRY_BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
        help="a PostgreSQL server on which a fresh database is created and dropped per size",
    )
    parser.add_argument("--markdown", action="store_true", help="print markdown tables for a README")
    args = parser.parse_args(argv)
    if min(args.sizes) < 20:
        parser.error("--sizes needs numbers of at least 20")
    if args.repeat < 3:
        parser.error("--repeat must be at least 3")
    for prefix in ("postgresql://", "postgres://"):
        if args.postgres_url.startswith(prefix):
            args.postgres_url = "postgresql+psycopg://" + args.postgres_url[len(prefix):]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Stages are deprecated in MLflow 3 (each call warns once); its migrations log at INFO.
    warnings.filterwarnings("ignore", category=FutureWarning, message=".*deprecated since 2.9.0")
    for logger in ("mlflow", "alembic"):
        logging.getLogger(logger).setLevel(logging.WARNING)
    postgres_version = postgres_server_version(args.postgres_url) if "postgresql" in args.backends else None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as temp:
        top = Path(temp)
        print(heading("MLflow's client: MLflow's SQL registry next to ours", args.markdown))
        for line in [*environment(args.backends, postgres_version, top, args.repeat), *LEGEND]:
            print(f"- {line}" if args.markdown else line)
        for backend in args.backends:
            for size in args.sizes:
                folder = top / f"{backend}-{size}"
                folder.mkdir()
                with stores(backend, folder, args.postgres_url) as (mlflow_uri, catalog_url):
                    result = run_case(backend, mlflow_uri, catalog_url, size, args.repeat, folder)
                print(case_table(result, args.repeat, args.markdown), flush=True)
    print(f"\nTotal run time: {time.perf_counter() - started:.0f}s")
    progress("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())

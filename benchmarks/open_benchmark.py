"""What opening a catalog costs: ``Registry(url, root)`` then ``close()`` on a catalog already at the newest schema.

Every sensor tick, CLI command and serving process pays this once, so it
should be a few milliseconds. For each backend the script creates one catalog
(a SQLite file in a temporary folder, a PostgreSQL schema of its own), opens
and closes it once untimed (the first open in a process also imports and
compiles things once), then times N opens and prints the median and p95.
Beside them, the floor: the database driver alone connecting, reading the
schema revision and disconnecting, which no change to the registry can beat
without keeping connections open between opens.

    python benchmarks/open_benchmark.py [--backends sqlite,postgresql] [--repeats 200]
        [--postgres-url URL] [--markdown]

Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry_core import Registry
from registry_core.database import normalize_url

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GOAL_MS = 3.0


@contextlib.contextmanager
def catalog(backend: str, postgres_url: str, folder: Path) -> Iterator[str]:
    """A fresh, empty catalog URL for ``backend``, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'catalog.db'}"
        return
    schema = f"bench_open_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalize_url(postgres_url))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(normalize_url(postgres_url)).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        ).render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def time_opens(url: str, root: Path, repeats: int) -> list[float]:
    """Milliseconds of each ``Registry(url, root)`` + ``close()``."""
    Registry(url, root, actor="bench").close()  # creates the schema; warms imports
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        Registry(url, root, actor="bench").close()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def time_driver_floor(url: str, repeats: int) -> list[float]:
    """Milliseconds of the bare DB-API driver connecting (SQLite: with the registry's pragmas), one query, close."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        import sqlite3

        def connect() -> Any:
            connection = sqlite3.connect(parsed.database or "", isolation_level=None)
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=60000"):
                connection.execute(f"PRAGMA {pragma}")
            return connection
    else:
        import psycopg

        def connect() -> Any:
            return psycopg.connect(
                host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password,
                dbname=parsed.database, options=parsed.query.get("options"),
            )

    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        connection = connect()
        connection.execute("SELECT version_num FROM alembic_version").fetchall()
        connection.close()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--markdown", action="store_true", help="Print a Markdown table.")
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="registry-open-bench-") as temp:
        for backend in args.backends.split(","):
            print(f"{backend}: {args.repeats} opens", file=sys.stderr)
            folder = Path(temp) / backend
            folder.mkdir()
            with catalog(backend, args.postgres_url, folder) as url:
                samples = time_opens(url, folder / "artifacts", args.repeats)
                floor = time_driver_floor(url, args.repeats)
            rows.append((backend, statistics.median(samples), percentile(samples, 0.95), statistics.median(floor)))

    header = ("backend", "open+close median ms", "p95 ms", "driver floor median ms", f"goal ≤ {GOAL_MS:g} ms")
    lines = [
        (b, f"{m:.2f}", f"{p:.2f}", f"{f:.2f}", "met" if m <= GOAL_MS else "MISSED") for b, m, p, f in rows
    ]
    print(f"Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, {args.repeats} opens each")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
        for line in (header, *lines):
            print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0 if all(row[1] <= GOAL_MS for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark scripts still run against the current API (smoke runs; nothing about timings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_catalog_benchmark_quick_run_prints_statements_and_commit_ratio(tmp_path):
    """A quick SQLite run exits 0 and prints per-operation tables with statement counts and the commit ratio."""
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "catalog_benchmark.py"), "--quick", "--backends", "sqlite"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    header = next((line for line in run.stdout.splitlines() if line.startswith("operation ")), "")
    for column in ("median ms", "p95 ms", "stmts/call", "x commit", "SQLite goal"):
        assert column in header, f"no {column!r} column in {header!r}"
    assert "durable commit: median" in run.stdout
    assert "resolve /Production" in run.stdout

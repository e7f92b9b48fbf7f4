"""The benchmark scripts still run against the current API (smoke runs; nothing about timings)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_mlflow_benchmark_tiny_run_prints_both_registries_timings(tmp_path):
    """A tiny SQLite run exits 0 and prints, per operation, MLflow's and our median and p95 as numbers."""
    pytest.importorskip("mlflow")
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "mlflow_benchmark.py"), "--sizes", "20", "--repeat", "3"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("operation ")), None)
    assert start is not None, run.stdout
    for column in ("MLflow median ms", "MLflow p95 ms", "ours median ms", "ours p95 ms", "ours / MLflow"):
        assert column in lines[start], f"no {column!r} column in {lines[start]!r}"
    rows = lines[start + 2:start + 6]  # past the header and its rule
    for operation in ("get_latest_versions(Production)", "models:/NAME/Production -> URI", "promote:", "rollback:"):
        row = next((line for line in rows if line.startswith(operation)), "")
        numbers = re.findall(r"\b\d+\.\d+\b", row)
        assert len(numbers) >= 5, f"no timings for {operation!r}: {row!r}"
        assert all(float(n) > 0 for n in numbers[:4]), row

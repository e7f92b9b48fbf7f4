"""The benchmark scripts still run against the current API (smoke runs; nothing about timings)."""

from __future__ import annotations

import os
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


def test_pipeline_benchmark_small_run_prints_ticks_and_the_chain(tmp_path):
    """A small run exits 0 and prints its command, a timed idle tick per sensor and the in-process chain's total."""
    root = BENCHMARKS.parent
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "pipeline_benchmark.py"), "--versions", "20", "--ticks", "3"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(root)},
    )
    # Exit status 1 is the benchmark's verdict on a tick slower than its goal, which a busy machine may give.
    assert run.returncode == 0 or (run.returncode == 1 and "miss the goal" in run.stderr), run.stderr[-2000:]
    assert run.stdout.startswith("$ python benchmarks/pipeline_benchmark.py --versions 20 --ticks 3\n")
    for sensor in ("versions_to_dagster", "on_new_candidate", "on_staging", "on_approval", "on_production_change"):
        row = next((line for line in run.stdout.splitlines() if f"idle tick: {sensor}" in line and " 20 " in line), "")
        assert re.search(r"\d+\.\d+\s+\d+\.\d+\s+(ok|MISSES GOAL)$", row), f"no timed idle tick for {sensor}: {row!r}"
    total = next((line for line in run.stdout.splitlines() if "candidate to Production, total" in line), "")
    assert len(re.findall(r"\d+\.\d+", total)) == 2, total


def test_rendition_benchmark_short_run_prints_both_artifacts(tmp_path):
    """A short run exits 0 and prints the recorded parity and a rate for the estimator and for its rendition."""
    pytest.importorskip("skl2onnx")
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "rendition_benchmark.py"), "--trees", "5", "--seconds", "0.2"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert re.search(r"5-tree forest, parity \S+ \(predict_proba, 500 records\)", run.stdout), run.stdout
    for name in ("scikit-learn (skops)", "ONNX rendition"):
        assert re.search(rf"^{re.escape(name)}\s+[\d,]+\s+[\d.]+\s+[\d.]+$", run.stdout, re.MULTILINE), run.stdout

"""What an ONNX rendition buys: one record scored by a scikit-learn forest, and by its rendition, in process.

The script fits a random forest on a fraud-like table (four features), registers it in a
temporary SQLite catalog, renders it with ``Registry.render_onnx`` on held-out records, loads
both the estimator (``load_model``) and the rendition (``load_rendition``), and times
``predict_proba`` on one record for ``--seconds`` each. It prints the parity the registry
recorded, and per artifact the single-record rate and the median and p99 latency. This is the
model's own cost, before any HTTP parsing or event loop (see ``serving_benchmark.py`` for that).

    python benchmarks/rendition_benchmark.py [--trees 50] [--seconds 3] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

from registry_core import Registry

FEATURES = ["amount", "hour", "merchant_risk", "distance"]


def timed(model: Any, record: Any, seconds: float) -> list[float]:
    """Latencies (ms) of single-record predict_proba calls for about ``seconds``."""
    model.predict_proba(record)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        model.predict_proba(record)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(2000, len(FEATURES))), columns=FEATURES)
    labels = (table["amount"] + table["merchant_risk"] > 0.5).astype(int)
    forest = RandomForestClassifier(n_estimators=args.trees, random_state=0).fit(table[:1500], labels[:1500])
    with tempfile.TemporaryDirectory() as folder, Registry(
        f"sqlite:///{Path(folder) / 'catalog.db'}", Path(folder) / "artifacts", actor="benchmark"
    ) as registry:
        registry.register("fraud", forest)
        rendition = registry.render_onnx("fraud", 1, table[1500:])
        models = {"scikit-learn (skops)": registry.load_model("models:/fraud/1"),
                  "ONNX rendition": registry.load_rendition(rendition)}
    record = table[1500:1501]
    rows = []
    for name, model in models.items():
        latencies = timed(model, record, args.seconds)
        rows.append((name, f"{len(latencies) / (sum(latencies) / 1000):,.0f}", f"{statistics.median(latencies):.3f}",
                     f"{np.percentile(latencies, 99):.3f}"))
    print(f"{args.trees}-tree forest, parity {rendition.parity:.3g} (predict_proba, {rendition.validation_rows} records), "
          f"{rendition.converter} {rendition.converter_version}, load {os.getloadavg()[0]:.1f}")
    header = ("artifact", "records/s", "p50 ms", "p99 ms")
    if args.markdown:
        print("| " + " | ".join(header) + " |\n|---|---:|---:|---:|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    print(f"{header[0]:<22}{header[1]:>12}{header[2]:>10}{header[3]:>10}")
    for row in rows:
        print(f"{row[0]:<22}{row[1]:>12}{row[2]:>10}{row[3]:>10}")


if __name__ == "__main__":
    main()

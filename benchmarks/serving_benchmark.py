"""Serving under promotion and rollback: failed requests, latency during swaps, time to follow a change.

The script builds a SQLite catalog in a temporary folder with a fraud-like
scikit-learn model (a 50-tree random forest on 12 features of synthetic,
imbalanced transactions, as ``examples/train_fraud_model.py`` trains it),
starts ``registry serve`` in its own process on a loopback port, and starts a
second process that sends steady single-record ``/predict`` traffic. Then:

A. steady traffic, no swaps: the latency baseline;
B. ``--cycles`` promotions of a new version each followed by a rollback, each
   change announced with ``POST /reload`` (as the redeploy job does);
C. the same without any notification: the server finds each change by reading
   the catalog's event log every ``--poll-interval`` seconds;
D. the server's own capacity: closed-loop single-record requests from
   ``--concurrency`` connections.

Every candidate version is registered, staged and approved before the timed
phases, so that during them this process only promotes, rolls back and watches
``/version`` (every 50 ms, in every phase alike). Reported: failed requests (goal 0), p99 latency during swaps
(from a commit until 0.25 s after the new version is served) against p99
without swaps (goal within 2x; judged against the requests between swaps of
the same phases, which share the machine's background load, and also shown
against phase A), commit-to-new-version-answering p95 with the
notification (goal <= 1 s) and through polling (goal <= 5 s), and throughput
and latency for phase D. "Commit" is when ``promote``/``rollback`` returned;
"answering" is the first response from the new version to a request sent
after the commit. Everything runs on 127.0.0.1 and stops after bounded time.

    python benchmarks/serving_benchmark.py [--cycles 20] [--rate 100] [--poll-interval 2]
        [--baseline-seconds 15] [--throughput-seconds 10] [--concurrency 4] [--model-format skops] [--markdown]

``--model-format onnx`` serves the same forest converted to ONNX (skl2onnx), ``lightgbm`` a
50-tree LightGBM booster trained on the same data; both declare the feature names as their signature.

Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL = "fraud-detector"
SECRET = "benchmark-reload-secret"
FEATURES = [f"f{i:02d}" for i in range(12)]
#: Bounds: the whole script, one change, and the traffic process.
CHANGE_TIMEOUT = 20.0
TRAFFIC_MAX_SECONDS = 900.0
SERVER_START_TIMEOUT = 60.0
#: A swap's window runs from the commit to this long after the new version is served.
SWAP_TAIL = 0.25


# --- the traffic process ------------------------------------------------------------------------------


def traffic_main(args: argparse.Namespace) -> None:
    """Send single-record /predict requests until SIGTERM or --max-seconds; write one JSON line per request."""
    import httpx

    records = json.loads(Path(args.records).read_text())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deadline = time.monotonic() + args.max_seconds
    results: list[list[Any]] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        own: list[list[Any]] = []
        interval = args.threads / args.rate if args.rate else 0.0
        scheduled = time.monotonic() + index * (interval / args.threads if interval else 0.0)
        n = index
        with httpx.Client(base_url=args.url, timeout=10.0, trust_env=False) as client:
            while not stop.is_set() and time.monotonic() < deadline:
                if interval:
                    wait = scheduled - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                body = {"records": [records[n % len(records)]]}
                n += args.threads
                sent = time.monotonic()
                try:
                    response = client.post("/predict", json=body)
                    done = time.monotonic()
                    version = response.json().get("version") if response.status_code == 200 else None
                    own.append([scheduled if interval else sent, sent, done, response.status_code, version])
                except httpx.HTTPError as exc:
                    own.append([scheduled if interval else sent, sent, time.monotonic(), 0, type(exc).__name__])
                scheduled += interval
        with lock:
            results.extend(own)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.sort(key=lambda row: row[1])
    Path(args.out).write_text("\n".join(json.dumps(row) for row in results))


@dataclass(frozen=True)
class Request:
    scheduled: float
    sent: float
    done: float
    status: int
    version: Any

    @property
    def latency(self) -> float:
        return self.done - self.sent

    @property
    def failed(self) -> bool:
        return self.status != 200


class TrafficProcess:
    """The second process: started with a rate (open loop) or 0 (closed loop, as fast as it can)."""

    def __init__(self, url: str, records: Path, out: Path, *, rate: float, threads: int, max_seconds: float) -> None:
        self.out = out
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--traffic", url, "--records", str(records), "--out", str(out),
             "--rate", str(rate), "--threads", str(threads), "--max-seconds", str(max_seconds)],
        )

    def finish(self) -> list[Request]:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        rows = [json.loads(line) for line in self.out.read_text().splitlines() if line]
        return [Request(*row) for row in rows]


# --- the benchmark ------------------------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"[serving-benchmark] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def train(seed: int) -> tuple[Any, list[dict[str, float]]]:
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    features, labels = make_classification(
        n_samples=4000, n_features=12, n_informative=6, weights=[0.97, 0.03], class_sep=1.2, random_state=seed,
    )
    frame = pd.DataFrame(features, columns=FEATURES)
    model = RandomForestClassifier(n_estimators=50, max_depth=6, random_state=seed, n_jobs=1).fit(frame, labels)
    sample = frame.head(500).round(4).to_dict(orient="records")
    return model, sample


#: The formats a benchmark can serve the fraud model in, and how its tables name each.
MODEL_LABELS = {
    "skops": "RandomForest 50 trees / 12 features (skops)",
    "onnx": "the RandomForest as ONNX (skl2onnx, ONNX Runtime)",
    "lightgbm": "LightGBM booster 50 trees / 12 features",
}
#: What ONNX and LightGBM versions declare, so that records name their features as for the forest.
SIGNATURE = {"inputs": [{"name": name, "type": "double"} for name in FEATURES]}


def train_as(model_format: str, seed: int) -> tuple[Any, list[dict[str, float]]]:
    """The fraud model in ``model_format``: the forest itself, the forest converted to ONNX, or a LightGBM booster
    of as many trees trained on the same data."""
    forest, sample = train(seed)
    if model_format == "onnx":
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType

        converted = to_onnx(forest, initial_types=[("X", FloatTensorType([None, len(FEATURES)]))],
                            options={id(forest): {"zipmap": False}}, target_opset=17)
        return converted, sample
    if model_format == "lightgbm":
        import lightgbm
        import pandas as pd
        from sklearn.datasets import make_classification

        features, labels = make_classification(
            n_samples=4000, n_features=12, n_informative=6, weights=[0.97, 0.03], class_sep=1.2, random_state=seed,
        )
        data = lightgbm.Dataset(pd.DataFrame(features, columns=FEATURES), labels)
        booster = lightgbm.train({"objective": "binary", "num_leaves": 31, "verbose": -1, "seed": seed}, data,
                                 num_boost_round=50)
        return booster, sample
    return forest, sample


@dataclass
class Change:
    kind: str
    target: int
    committed: float
    commit_seconds: float
    served_at: float | None = None


class Benchmark:
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        import httpx

        from registry_core import Registry

        self.args = args
        self.root = root
        self.database_url = f"sqlite:///{root / 'catalog.db'}"
        self.artifacts = root / "artifacts"
        self.registry = Registry(self.database_url, self.artifacts, actor="trainer")
        self.reviewer = self.registry.as_actor("reviewer")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.url, timeout=10.0, trust_env=False)
        self.models: list[Any] = []
        self.registered = 0
        self.candidates: list[int] = []
        self.observed: int | None = None
        self.jitter = random.Random(5)
        self.records_path = root / "records.json"
        self.server: subprocess.Popen[bytes] | None = None

    def prepare(self) -> None:
        progress(f"training two fraud models (50 trees, 12 features) as {self.args.model_format}")
        for seed in (7, 8):
            model, sample = train_as(self.args.model_format, seed)
            self.models.append(model)
        self.records_path.write_text(json.dumps(sample))
        self.ready_version()
        self.registry.promote(MODEL, 1)
        # Every candidate is registered, staged and approved now, so that the timed phases do
        # nothing in this process but promote, roll back and watch.
        progress(f"registering {2 * self.args.cycles} candidate versions")
        self.candidates = [self.ready_version() for _ in range(2 * self.args.cycles)]

    def ready_version(self) -> int:
        """Register the next candidate (alternating the two models) and take it through Staging and approval."""
        model = self.models[self.registered % 2]
        self.registered += 1
        signature = None if self.args.model_format == "skops" else SIGNATURE
        version = self.registry.register(MODEL, model, metrics={"roc_auc": 0.9}, signature=signature).version
        self.registry.transition(MODEL, version, "Staging")
        self.reviewer.approve(MODEL, version)
        return version

    def start_server(self) -> None:
        env = {**os.environ, "REGISTRY_DATABASE_URL": self.database_url, "REGISTRY_ARTIFACT_ROOT": str(self.artifacts),
               "REGISTRY_RELOAD_SECRET": SECRET}
        command = Path(sys.executable).with_name("registry")
        self.server = subprocess.Popen(
            [str(command), "serve", f"models:/{MODEL}/Production", "--port", str(self.port),
             "--poll-interval", str(self.args.poll_interval), "--log-level", "warning"],
            env=env,
        )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if self.client.get("/health").status_code == 200:
                    return
            except Exception:  # not listening yet
                pass
            if self.server.poll() is not None:
                raise SystemExit("registry serve exited during startup")
            time.sleep(0.1)
        raise SystemExit("registry serve did not answer within 60 s")

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(timeout=10)

    def watch(self, stop: threading.Event) -> None:
        """Read /version every 50 ms through every phase, so that watching loads the server evenly."""
        import httpx

        with httpx.Client(base_url=self.url, timeout=10.0, trust_env=False) as client:
            while not stop.wait(0.05):
                serving = client.get("/version").json()["serving"]
                self.observed = serving["version"] if serving else None

    def change(self, kind: str, notify: bool) -> Change:
        started = time.monotonic()
        if kind == "promote":
            result = self.registry.promote(MODEL, self.candidates.pop(0), reason="benchmark")
        else:
            result = self.registry.rollback(MODEL, reason="benchmark")
        committed = time.monotonic()
        change = Change(kind, result.version.version, committed, committed - started)
        if notify:
            response = self.client.post("/reload", headers={"Authorization": f"Bearer {SECRET}"})
            if response.status_code != 202:
                raise SystemExit(f"/reload answered {response.status_code}: {response.text}")
        deadline = committed + CHANGE_TIMEOUT
        while time.monotonic() < deadline:
            if self.observed == change.target:
                change.served_at = time.monotonic()
                return change
            time.sleep(0.01)
        progress(f"version {change.target} was not served within {CHANGE_TIMEOUT:g} s")
        return change

    def swap_phase(self, notify: bool) -> list[Change]:
        changes = []
        label = "POST /reload" if notify else f"polling every {self.args.poll_interval:g} s"
        for cycle in range(self.args.cycles):
            for kind in ("promote", "rollback"):
                changes.append(self.change(kind, notify))
                # Without a notification, a fixed pause would commit every change at the same point of the
                # server's poll cycle; a random extra pause spreads commits over the whole interval.
                extra = 0.0 if notify else self.jitter.uniform(0, self.args.poll_interval)
                time.sleep(self.args.dwell + extra)
            progress(f"{label}: cycle {cycle + 1}/{self.args.cycles} done")
        return changes

    def server_predict_seconds(self) -> tuple[float, float]:
        text = self.client.get("/metrics").text
        total = float(re.search(r'registry_serving_request_seconds_sum\{endpoint="/predict"\} (\S+)', text).group(1))
        count = float(re.search(r'registry_serving_request_seconds_count\{endpoint="/predict"\} (\S+)', text).group(1))
        return total, count


def follow_seconds(changes: list[Change], requests: list[Request]) -> list[float]:
    """Per change: from the commit to the first answer by the new version to a request sent after the commit."""
    delays = []
    for change in changes:
        answered = [r.done for r in requests if r.sent >= change.committed and r.version == change.target and not r.failed]
        end = change.served_at + 5 if change.served_at else math.inf
        first = min((t for t in answered if t <= end), default=None)
        delays.append(first - change.committed if first is not None else math.inf)
    return delays


def in_windows(requests: list[Request], windows: list[tuple[float, float]]) -> list[Request]:
    return [r for r in requests if any(start <= r.sent <= end for start, end in windows)]


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as folder:
        root = Path(folder)
        bench = Benchmark(args, root)
        bench.prepare()
        load_before = os.getloadavg()
        bench.start_server()
        progress(f"registry serve is answering on {bench.url}")
        traffic = TrafficProcess(bench.url, bench.records_path, root / "steady.jsonl", rate=args.rate,
                                 threads=4, max_seconds=TRAFFIC_MAX_SECONDS)
        watching = threading.Event()
        watcher = threading.Thread(target=bench.watch, args=(watching,), daemon=True)
        watcher.start()
        try:
            time.sleep(2.0)
            baseline = (time.monotonic(), time.monotonic() + args.baseline_seconds)
            progress(f"A: {args.baseline_seconds:g} s of steady traffic at {args.rate:g} req/s, no swaps")
            time.sleep(args.baseline_seconds)
            progress(f"B: {args.cycles} promotions + {args.cycles} rollbacks, each announced with POST /reload")
            phase_b_start = time.monotonic()
            notified = bench.swap_phase(notify=True)
            progress(f"C: {args.cycles} promotions + {args.cycles} rollbacks, found by polling the event log")
            polled = bench.swap_phase(notify=False)
            phase_c_end = time.monotonic()
        finally:
            watching.set()
            watcher.join(15)
            steady = traffic.finish()
        progress(f"D: closed-loop single-record predict from {args.concurrency} connections for {args.throughput_seconds:g} s")
        before = bench.server_predict_seconds()
        load = TrafficProcess(bench.url, bench.records_path, root / "load.jsonl", rate=0, threads=args.concurrency,
                              max_seconds=args.throughput_seconds + 30)
        time.sleep(args.throughput_seconds)
        capacity = load.finish()
        after = bench.server_predict_seconds()
        bench.stop_server()
        bench.registry.close()

    def window(changes: list[Change]) -> list[tuple[float, float]]:
        return [(c.committed, (c.served_at or c.committed + CHANGE_TIMEOUT) + SWAP_TAIL) for c in changes]

    base = [r for r in steady if baseline[0] <= r.sent <= baseline[1]]
    windows = window(notified) + window(polled)
    swapping = in_windows(steady, windows)
    between = [
        r for r in steady
        if phase_b_start <= r.sent <= phase_c_end and not any(start <= r.sent <= end for start, end in windows)
    ]
    measured = [r for r in steady if r.sent >= baseline[0] and r.sent <= phase_c_end]
    failed = [r for r in measured if r.failed]
    follow_b = follow_seconds(notified, steady)
    follow_c = follow_seconds(polled, steady)
    p99_base = percentile([r.latency for r in base], 99)
    p99_between = percentile([r.latency for r in between], 99)
    p99_swap = percentile([r.latency for r in swapping], 99)
    ratio = p99_swap / p99_base if p99_base else math.nan
    ratio_between = p99_swap / p99_between if p99_between else math.nan
    p95_b, p95_c = percentile(follow_b, 95), percentile(follow_c, 95)
    ok = [r for r in capacity if not r.failed]
    span = (max(r.done for r in ok) - min(r.sent for r in ok)) if ok else math.nan
    server_mean = (after[0] - before[0]) / (after[1] - before[1]) if after[1] > before[1] else math.nan
    commits = [c.commit_seconds for c in notified + polled]

    rows = [
        ("Failed requests, all phases", "0", f"{len(failed)} of {len(measured)}"),
        ("p99 latency without swaps: phase A", "-", f"{ms(p99_base)} ({len(base)} requests)"),
        ("p99 latency without swaps: between swaps in B and C", "-", f"{ms(p99_between)} ({len(between)} requests)"),
        (f"p99 latency during swaps (commit to swap + {SWAP_TAIL:g} s, B and C)", "<= 2x",
         f"{ms(p99_swap)} ({len(swapping)} requests): {ratio:.2f}x phase A, {ratio_between:.2f}x between swaps"),
        ("Commit to new version answering, p95, POST /reload (B)", "<= 1 s",
         f"{p95_b * 1000:.0f} ms (median {percentile(follow_b, 50) * 1000:.0f} ms, max {max(follow_b) * 1000:.0f} ms)"),
        (f"Commit to new version answering, p95, polling every {args.poll_interval:g} s (C)", "<= 5 s",
         f"{p95_c * 1000:.0f} ms (median {percentile(follow_c, 50) * 1000:.0f} ms, max {max(follow_c) * 1000:.0f} ms)"),
        ("promote / rollback call, p95", "-", ms(percentile(commits, 95))),
        (f"Single-record predict throughput, {args.concurrency} connections (D)", "-",
         f"{len(ok) / span:.0f} req/s ({len(capacity) - len(ok)} failed)"),
        ("Single-record predict latency at that load, p50 / p99 (client)", "-",
         f"{ms(percentile([r.latency for r in ok], 50))} / {ms(percentile([r.latency for r in ok], 99))}"),
        ("Single-record predict, mean time inside the server (D)", "-", ms(server_mean)),
    ]
    # Latency is judged against the requests between swaps: same minutes, same background load on the machine.
    goals_met = not failed and ratio_between <= 2.0 and p95_b <= 1.0 and p95_c <= 5.0
    header = (
        f"{args.cycles} promotions + {args.cycles} rollbacks per phase, steady traffic {args.rate:g} req/s "
        f"(single record, 4 client threads, separate process), {MODEL_LABELS[args.model_format]}, SQLite catalog; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average before {load_before[0]:.2f}"
    )
    print(header)
    print()
    if args.markdown:
        print("| Measure | Goal | Result |")
        print("|---|---|---|")
        for name, goal, result in rows:
            print(f"| {name} | {goal} | {result} |")
    else:
        width = max(len(r[0]) for r in rows)
        for name, goal, result in rows:
            print(f"{name:<{width}}  {goal:>8}  {result}")
    print()
    print("goals met" if goals_met else "GOALS MISSED")
    return 0 if goals_met else 1


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=20, help="promotion + rollback pairs per swap phase")
    parser.add_argument("--rate", type=float, default=100.0, help="steady traffic, requests per second")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="the server's catalog poll interval")
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--dwell", type=float, default=1.0, help="seconds of traffic after each change is served")
    parser.add_argument("--throughput-seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--model-format", choices=sorted(MODEL_LABELS), default="skops",
                        help="serve the forest with skops, the forest as ONNX, or a LightGBM booster")
    parser.add_argument("--markdown", action="store_true")
    # The traffic process's own arguments.
    parser.add_argument("--traffic", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--records", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--max-seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.traffic:
        args.url = args.traffic
        traffic_main(args)
        return
    if args.cycles < 1 or args.rate <= 0 or args.concurrency < 1:
        parser.error("cycles, rate and concurrency must be positive")
    sys.exit(run(args))


if __name__ == "__main__":
    main()

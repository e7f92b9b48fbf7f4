"""``registry serve`` against ``mlflow models serve``: the same models, the same client, one run.

Three models are built from the fraud data of ``serving_benchmark.py`` (12 features,
imbalanced): the 50-tree random forest of ``examples/train_fraud_model.py``, stored with
skops; the same forest converted to ONNX with skl2onnx; and a 50-tree LightGBM booster.
Each is registered in a SQLite catalog (promoted to Production, served by
``registry serve models:/NAME/Production``) and saved with ``mlflow.sklearn`` /
``mlflow.onnx`` / ``mlflow.lightgbm`` ``save_model`` into a folder served by
``mlflow models serve -m DIR --env-manager local`` (one uvicorn worker, as by default).
Both servers run at once, each in its own process on 127.0.0.1; ``closed_loop_client.py``
drives one at a time with ``--connections`` keep-alive connections, each sending its next
single-record request as soon as the last is answered. The two servers take turns
(``--rounds`` rounds of ``--seconds`` each) so both see the same background load.
Our requests go to ``/predict`` as ``{"records": [{...}]}``, MLflow's to ``/invocations``
as ``{"dataframe_records": [{...}]}`` (``{"inputs": [[...]]}`` for ONNX, which takes a tensor).

Also reported, per model: the loaded model's own single-record ``predict`` rate in this
process, and where a request's time goes in our server, measured rather than estimated:
parsing the body, building the model's input, the model's predict, the whole request as
the server's own ``/metrics`` times it (mean), and the request as a single client connection sees it
(mean; the difference is HTTP, the event loop and the client). Each server's CPU time per request is
read from ``/proc`` (the server process and its children).

    python benchmarks/serving_side_by_side.py [--seconds 5] [--rounds 3] [--connections 4] [--markdown]

Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving_benchmark import FEATURES, SIGNATURE, free_port, percentile, train_as  # noqa: E402

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 120.0
#: The numbers the goal is judged on: ours against MLflow's, on the ONNX and booster paths.
GOAL_THROUGHPUT, GOAL_P99 = 5.0, 0.2


def progress(message: str) -> None:
    print(f"[side-by-side] {message}", file=sys.stderr, flush=True)


@dataclass
class Model:
    """One model as both servers serve it, and what was measured."""

    name: str
    label: str
    live: Any
    mlflow_payload: Callable[[dict[str, float]], dict[str, Any]]
    ours: list[dict[str, Any]] = field(default_factory=list)
    theirs: list[dict[str, Any]] = field(default_factory=list)
    breakdown: dict[str, float] = field(default_factory=dict)


def build_models() -> tuple[list[Model], list[dict[str, float]], Any]:
    import pandas as pd

    progress("training the forest (50 trees, 12 features), converting it to ONNX, training a LightGBM booster")
    models = []
    for model_format, name, label, payload in (
        ("skops", "fraud-skops", "forest, skops (scikit-learn)", lambda r: {"dataframe_records": [r]}),
        ("onnx", "fraud-onnx", "forest, ONNX (ONNX Runtime)", lambda r: {"inputs": [[r[f] for f in FEATURES]]}),
        ("lightgbm", "fraud-lightgbm", "LightGBM booster, 50 trees", lambda r: {"dataframe_records": [r]}),
    ):
        live, sample = train_as(model_format, 7)
        models.append(Model(name, label, live, payload))
    return models, sample, pd.DataFrame(sample, columns=FEATURES)


def save_for_mlflow(model: Model, folder: Path, frame: Any) -> None:
    import mlflow.lightgbm
    import mlflow.onnx
    import mlflow.sklearn
    import numpy as np
    from mlflow.models import infer_signature

    if model.name == "fraud-onnx":
        tensor = frame.to_numpy(dtype=np.float32)
        signature = infer_signature(tensor, np.zeros(len(tensor), dtype=np.int64))
        mlflow.onnx.save_model(model.live, folder, signature=signature)
    elif model.name == "fraud-lightgbm":
        mlflow.lightgbm.save_model(model.live, folder, signature=infer_signature(frame, model.live.predict(frame)))
    else:
        mlflow.sklearn.save_model(model.live, folder, signature=infer_signature(frame, model.live.predict(frame)),
                                  skops_trusted_types=["sklearn.tree._tree.Tree"])


class Server:
    """A server process on a loopback port, up once ``health`` answers 200."""

    def __init__(self, command: list[str], port: int, health: str, env: dict[str, str]) -> None:
        self.port = port
        self.health = health
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self) -> None:
        import httpx

        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server on port {self.port} exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}{self.health}", timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"server on port {self.port} did not answer within {START_TIMEOUT:g} s")

    def get(self, path: str) -> str:
        import httpx

        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=10, trust_env=False).text

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server process and its descendants (Linux's /proc; NaN elsewhere)."""
        return tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def tree_cpu_seconds(pid: int) -> float:
    total, pending, ticks = 0.0, [pid], os.sysconf("SC_CLK_TCK")
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            if current == pid:
                return float("nan")
    return total


def drive(
    server: Server, path: str, bodies: Path, connections: int, seconds: float, out: Path, *, warmup: float = 1.0
) -> dict[str, Any]:
    """One closed-loop run against ``server``; with the server's CPU seconds spent meanwhile."""
    port, cpu = server.port, server.cpu_seconds()
    subprocess.run(
        [sys.executable, str(HERE / "closed_loop_client.py"), "--port", str(port), "--path", path, "--bodies",
         str(bodies), "--connections", str(connections), "--seconds", str(seconds), "--warmup", str(warmup), "--out", str(out)],
        check=True, timeout=seconds + 120,
    )
    result = json.loads(out.read_text())
    result["cpu"] = server.cpu_seconds() - cpu
    return result


def summary(runs: list[dict[str, Any]]) -> tuple[float, float, float, int, float]:
    """Requests per second, p50 and p99 (seconds) over all rounds, the failed requests, server CPU per request."""
    latencies = [value for run in runs for value in run["latencies"]]
    span = sum(run["span"] for run in runs)
    failed = sum(len(run["failures"]) for run in runs)
    cpu = sum(run["cpu"] for run in runs) / max(sum(run["answered"] for run in runs), 1)
    return len(latencies) / span, percentile(latencies, 50), percentile(latencies, 99), failed, cpu


def per_call(function: Callable[[], Any], *, seconds: float = 1.0) -> float:
    """Mean seconds per call of ``function``, called for about ``seconds`` after one warm-up call."""
    function()
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        function()
        calls += 1
    return elapsed / calls


def in_process(registry: Any, model: Model, records: list[dict[str, float]]) -> dict[str, float]:
    """The stages of our /predict path timed in this process on the loaded version: parse, input, predict."""
    from registry_core.serving.payload import InputSchema, parse_predict_request, to_model_input

    info = registry.resolve(f"models:/{model.name}/Production")
    loaded = registry.load_model(info.uri)
    schema = InputSchema.of(loaded, info.signature)
    body = json.dumps({"records": [records[0]]}).encode()
    features = to_model_input([records[0]], schema)
    return {
        "parse": per_call(lambda: parse_predict_request(body, max_records=10_000)),
        "input": per_call(lambda: to_model_input([records[0]], schema)),
        "predict": per_call(lambda: loaded.predict(features)),
    }


def server_seconds(server: Server) -> tuple[float, float]:
    text = server.get("/metrics")
    total = re.search(r'registry_serving_request_seconds_sum\{endpoint="/predict"\} (\S+)', text)
    count = re.search(r'registry_serving_request_seconds_count\{endpoint="/predict"\} (\S+)', text)
    return (float(total.group(1)), float(count.group(1))) if total and count else (0.0, 0.0)


def run(args: argparse.Namespace) -> int:
    from registry_core import Registry

    models, records, frame = build_models()
    with tempfile.TemporaryDirectory(prefix="side-by-side-") as folder:
        root = Path(folder)
        database_url = f"sqlite:///{root / 'catalog.db'}"
        registry = Registry(database_url, root / "artifacts", actor="trainer")
        env = {**os.environ, "REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(root / "artifacts"),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        ours_bodies, load = root / "ours.json", os.getloadavg()
        ours_bodies.write_text(json.dumps([{"records": [record]} for record in records]))
        for model in models:
            version = registry.register(model.name, model.live, signature=None if model.name == "fraud-skops" else SIGNATURE)
            registry.transition(model.name, version.version, "Staging")
            registry.as_actor("reviewer").approve(model.name, version.version)
            registry.promote(model.name, version.version, reason="benchmark")
            save_for_mlflow(model, root / model.name, frame)
            theirs_bodies = root / f"{model.name}.json"
            theirs_bodies.write_text(json.dumps([model.mlflow_payload(record) for record in records]))
            model.breakdown = in_process(registry, model, records)
            ours_port, theirs_port = free_port(), free_port()
            progress(f"{model.name}: starting registry serve on {ours_port} and mlflow models serve on {theirs_port}")
            ours = Server([sys.executable, "-m", "registry_core.cli", "serve", f"models:/{model.name}/Production",
                           "--port", str(ours_port), "--log-level", "warning"], ours_port, "/health", env)
            theirs = Server([sys.executable, "-m", "mlflow", "models", "serve", "-m", str(root / model.name),
                             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(theirs_port)], theirs_port, "/ping", env)
            try:
                ours.wait()
                theirs.wait()
                for turn in range(args.rounds):
                    progress(f"{model.name}: round {turn + 1}/{args.rounds}")
                    model.ours.append(drive(ours, "/predict", ours_bodies, args.connections, args.seconds,
                                            root / "out.json"))
                    model.theirs.append(drive(theirs, "/invocations", theirs_bodies, args.connections,
                                              args.seconds, root / "out.json"))
                # The server's own time per request, and a lone connection's, for the breakdown.
                before = server_seconds(ours)
                # No warm-up here: the client's mean then covers the very requests the server's own figure does.
                single = drive(ours, "/predict", ours_bodies, 1, min(args.seconds, 3.0), root / "out.json", warmup=0)
                after = server_seconds(ours)
                model.breakdown["server"] = (after[0] - before[0]) / max(after[1] - before[1], 1)
                model.breakdown["client"] = sum(single["latencies"]) / max(len(single["latencies"]), 1)
            finally:
                ours.stop()
                theirs.stop()
        registry.close()
    return report(models, args, load)


def report(models: list[Model], args: argparse.Namespace, load: tuple[float, float, float]) -> int:
    command = "python benchmarks/serving_side_by_side.py " + shlex.join(sys.argv[1:])
    print(f"$ {command}".rstrip())
    print(f"{os.cpu_count()} cores, Python {platform.python_version()}, load average before "
          f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}, after {os.getloadavg()[0]:.2f}; "
          f"{args.connections} closed-loop connections, single-record requests, {args.rounds} rounds of "
          f"{args.seconds:g} s per server")
    print()
    rows = [("Model", "Server", "req/s", "p50 ms", "p99 ms", "server CPU / request", "failed", "vs MLflow: req/s, p99")]
    verdicts = []
    for model in models:
        ours, theirs = summary(model.ours), summary(model.theirs)
        speed, tail = ours[0] / theirs[0], ours[2] / theirs[2]
        if model.name != "fraud-skops":
            verdicts.append((model.label, speed, tail))
        rows.append((model.label, "registry serve", f"{ours[0]:.0f}", f"{ours[1] * 1e3:.2f}", f"{ours[2] * 1e3:.2f}",
                     f"{ours[4] * 1e6:.0f} µs", str(ours[3]), f"{speed:.1f}x, {tail:.2f}x"))
        rows.append(("", "mlflow models serve", f"{theirs[0]:.0f}", f"{theirs[1] * 1e3:.2f}", f"{theirs[2] * 1e3:.2f}",
                     f"{theirs[4] * 1e6:.0f} µs", str(theirs[3]), ""))
    table(rows, args.markdown)
    print()
    rows = [("Model", "predict in-process", "parse body", "build input", "predict", "server, whole request",
             "1 connection, mean", "outside the app (HTTP, event loop, client)")]
    for model in models:
        b = model.breakdown
        b["outside"] = b["client"] - b["server"]
        rows.append((model.label, f"{1 / b['predict']:.0f}/s", *(f"{b[k] * 1e6:.0f} µs" for k in (
            "parse", "input", "predict", "server", "client", "outside"))))
    table(rows, args.markdown)
    print()
    met = all(speed >= GOAL_THROUGHPUT and tail <= GOAL_P99 for _label, speed, tail in verdicts)
    for label, speed, tail in verdicts:
        print(f"{label}: {speed:.1f}x MLflow's requests per second (goal {GOAL_THROUGHPUT:g}x), "
              f"p99 {tail:.2f}x MLflow's (goal <= {GOAL_P99:g}x)")
    failed = sum(summary(m.ours)[3] + summary(m.theirs)[3] for m in models)
    print("goal met" if met and not failed else "GOAL MISSED" if not failed else f"{failed} FAILED REQUESTS")
    return 0 if met and not failed else 1


def table(rows: Sequence[Sequence[str]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(rows[0]) + " |")
        print("|" + "---|" * len(rows[0]))
        for row in rows[1:]:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per server per round")
    parser.add_argument("--rounds", type=int, default=3, help="turns each server takes, alternating")
    parser.add_argument("--connections", type=int, default=4, help="closed-loop keep-alive connections")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rounds < 1 or args.connections < 1:
        parser.error("seconds, rounds and connections must be positive")
    sys.exit(run(args))


if __name__ == "__main__":
    main()

"""What the webhook outbox costs a registry change: nothing measurable without subscriptions.

Every audited change calls ``enqueue_events`` in its own transaction. This
script times ``record_deployment`` (a small write of constant cost that raises a
``deployed`` event) on a fresh catalog per backend, in interleaved rounds of four setups:

* ``hook off``: ``enqueue_events`` replaced by a no-op (the registry as it was before webhooks);
* ``no subscriptions``: the real hook, nobody subscribed (one query on an empty table);
* ``1 other-event subscription``: subscribed to ``check_recorded`` only (one query, no row written);
* ``1 matching subscription``: subscribed to ``deployed`` (one outbox row per change).

It prints the median and p95 of the whole call and, separately, the time spent
inside the hook itself.

    python benchmarks/webhook_outbox_benchmark.py [--backends sqlite,postgresql] [--calls 300] [--rounds 3]
        [--postgres-url URL] [--markdown]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import registry_core.registry as registry_module
from registry_core import Registry

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SETUPS = ("hook off", "no subscriptions", "1 other-event subscription", "1 matching subscription")
SECRET = "benchmark-webhook-secret"


@contextmanager
def catalog(backend: str, postgres_url: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="outbox-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'catalog.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def measure(registry: Registry, setup: str, calls: int) -> tuple[list[float], list[float]]:
    """Whole-call and in-hook seconds for ``calls`` record_deployment calls under ``setup``."""
    real = registry_module.enqueue_events
    hook_times: list[float] = []

    def timed(session, event):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return real(session, event)
        finally:
            hook_times.append(time.perf_counter() - started)

    for webhook in registry.list_webhooks():
        registry.remove_webhook(webhook.id)
    if setup == "1 other-event subscription":
        registry.add_webhook("http://127.0.0.1:9/unused", events=["check_recorded"], secret=SECRET)
    elif setup == "1 matching subscription":
        registry.add_webhook("http://127.0.0.1:9/unused", events=["deployed"], secret=SECRET)
    registry_module.enqueue_events = (lambda session, event: 0) if setup == "hook off" else timed  # type: ignore[assignment]
    try:
        totals = []
        for i in range(calls):
            started = time.perf_counter()
            registry.record_deployment("bench", 1, target="bench-target", succeeded=bool(i % 2))
            totals.append(time.perf_counter() - started)
    finally:
        registry_module.enqueue_events = real
    return totals, hook_times


def run_backend(backend: str, args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    results: dict[str, tuple[list[float], list[float]]] = {setup: ([], []) for setup in SETUPS}
    with catalog(backend, args.postgres_url) as url, tempfile.TemporaryDirectory() as artifacts:
        with Registry(url, artifacts, actor="bench") as registry:
            artifact = Path(artifacts) / "model.bin"
            artifact.write_bytes(b"weights")
            registry.register("bench", artifact)
            for setup in SETUPS:  # warm-up
                measure(registry, setup, 20)
            for round_number in range(args.rounds):
                for setup in SETUPS:
                    totals, hooks = measure(registry, setup, args.calls)
                    results[setup][0].extend(totals)
                    results[setup][1].extend(hooks)
                print(f"[outbox-benchmark] {backend}: round {round_number + 1}/{args.rounds}", file=sys.stderr)
    rows = []
    for setup in SETUPS:
        totals, hooks = results[setup]
        p95 = sorted(totals)[int(0.95 * len(totals)) - 1]
        hook = f"{statistics.median(hooks) * 1e6:.0f} µs" if hooks else "-"
        rows.append((f"{backend}: {setup}", f"{statistics.median(totals) * 1000:.2f} ms", f"{p95 * 1000:.2f} ms", hook))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    rows: list[tuple[str, str, str, str]] = []
    for backend in args.backends.split(","):
        rows.extend(run_backend(backend.strip(), args))
    header = ("record_deployment, setup", "median", "p95", "inside the hook (median)")
    print(f"{args.rounds} interleaved rounds of {args.calls} calls per setup")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    width = max(len(r[0]) for r in rows + [header])
    for row in [header, *rows]:
        print(f"{row[0]:<{width}}  {row[1]:>9}  {row[2]:>9}  {row[3]:>12}")


if __name__ == "__main__":
    main()

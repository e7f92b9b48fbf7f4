"""A closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending its next request when the last answers.

Used by ``serving_side_by_side.py`` to drive ``registry serve`` and ``mlflow models serve``
with the very same client. It runs in a process of its own on asyncio (uvloop when
installed), writes pre-encoded requests and reads answers by ``Content-Length``, so that
the client costs a few tens of microseconds per request and the server is what is measured.

    python benchmarks/closed_loop_client.py --port 8000 --path /predict --bodies bodies.json \\
        --connections 4 --seconds 10 --out result.json

``bodies.json`` is a list of JSON documents, sent in turn. ``result.json`` gets the
latency of every request answered after the warm-up (seconds), the statuses that were not 200, the span, and
how many requests were answered in all (warm-up included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any


def encode(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def connection(
    host: str, port: int, requests: list[bytes], offset: int, warm_until: float, stop_at: float, out: dict[str, Any]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    index = offset
    try:
        while (sent := time.perf_counter()) < stop_at:
            writer.write(requests[index % len(requests)])
            index += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = None
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                raise SystemExit(f"an answer without Content-Length: {head[:200]!r}")
            body = await reader.readexactly(length)
            done = time.perf_counter()
            out["answered"] += 1
            if sent < warm_until:
                continue
            if status == 200:
                out["latencies"].append(done - sent)
            else:
                out["failures"].append([status, body[:200].decode("utf-8", "replace")])
    finally:
        writer.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bodies = json.loads(Path(args.bodies).read_text())
    requests = [encode(args.host, args.port, args.path, json.dumps(body).encode()) for body in bodies]
    out: dict[str, Any] = {"latencies": [], "failures": [], "answered": 0}
    start = time.perf_counter()
    warm_until = start + args.warmup
    stop_at = warm_until + args.seconds
    await asyncio.gather(*(
        connection(args.host, args.port, requests, i * 7919, warm_until, stop_at, out) for i in range(args.connections)
    ))
    out["span"] = time.perf_counter() - warm_until
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--bodies", required=True)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()

"""Misbehaving HTTP servers on 127.0.0.1 for the tests of outbound calls: one that redirects, one that trickles.

Both stop by themselves: the trickler sends a bounded number of bytes, and
every wait is bounded.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Every join and wait in these servers gives up after this long.
WAIT = 10.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]


class RecordingServer:
    """Answers every request, whatever its method, with ``status`` (and ``headers``), and records it."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.requests.append(Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_PATCH = answer  # noqa: N815 - the stdlib's hook names

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(WAIT)


def redirecting_to(location: str, status: int = 302) -> RecordingServer:
    """A server that answers every request with a redirect to ``location``."""
    return RecordingServer(status, {"Location": location})


@dataclass
class Connection:
    opened: float
    closed: float | None = None


@dataclass
class Trickler:
    """Reads a request, then sends the start of a 200 answer one byte every ``interval`` seconds, ``limit`` bytes at most.

    Without a total deadline, a client waits as long as the bytes keep coming.
    Each connection's open and close times (``time.monotonic()``) are recorded.
    """

    interval: float = 1.0
    limit: int = 10
    connections: list[Connection] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def in_flight(self) -> int:
        return sum(1 for c in self.connections if c.closed is None)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            record = Connection(time.monotonic())
            self.connections.append(record)
            worker = threading.Thread(target=self._trickle, args=(conn, record), daemon=True)
            self._threads.append(worker)
            worker.start()

    def _trickle(self, conn: socket.socket, record: Connection) -> None:
        try:
            conn.settimeout(WAIT)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                request += chunk
            head, _, body = request.partition(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"[: self.limit]:
                # Readable now means the client hung up: it gave up on this answer.
                readable, _, _ = select.select([conn], [], [], self.interval)
                if readable or self._stop.is_set():
                    return
                conn.sendall(bytes([byte]))
        except OSError:
            return
        finally:
            record.closed = time.monotonic()
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(WAIT)

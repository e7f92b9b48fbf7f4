"""Running the scoring server on uvicorn: in the foreground (``registry serve``) or on a thread (tests, benchmarks)."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import uvicorn

from ..errors import InvalidInput, RegistryError
from .app import create_app
from .header_deadline import with_header_deadline
from .options import ServingOptions
from .runtime import ServingRuntime

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = ["BackgroundServer", "listening_socket", "serve"]

#: Seconds uvicorn gives requests in flight to finish on shutdown.
GRACEFUL_SHUTDOWN_SECONDS = 10


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: any free port), or a one-line error saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


class _GracefulServer(uvicorn.Server):
    """uvicorn, except that SIGINT or SIGTERM ends :meth:`run` normally instead of re-raising the signal afterwards,
    so that the runtime is stopped (the prediction log flushed) and the command exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _config(app: Any, options: ServingOptions, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app, log_level=log_level, access_log=False, lifespan="on", server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS, http=with_header_deadline(options.body_timeout),
    )


def serve(
    registry: Registry, options: ServingOptions, *, host: str = "127.0.0.1", port: int = 8000,
    log_level: str = "info", on_ready: Any = None,
) -> None:
    """Load the served version, then answer HTTP on ``host:port`` until SIGINT or SIGTERM."""
    sock = listening_socket(host, port)
    runtime = ServingRuntime(registry, options)
    try:
        runtime.start()
        if on_ready is not None:
            on_ready(runtime, sock.getsockname())
        _GracefulServer(_config(create_app(runtime), options, log_level)).run(sockets=[sock])
    finally:
        runtime.stop()
        sock.close()


class BackgroundServer:
    """A started runtime served by uvicorn on a thread, on a free loopback port; a context manager."""

    def __init__(self, runtime: ServingRuntime, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        self.runtime = runtime
        self._sock = listening_socket(host, port)
        self.host, self.port = self._sock.getsockname()[:2]
        self._server = uvicorn.Server(_config(create_app(runtime), runtime.options, log_level))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="uvicorn", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RegistryError(f"the scoring server did not start within {timeout:g} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

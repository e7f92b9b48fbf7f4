"""Outbound HTTP: the one way the registry calls other systems (webhook receivers, deploy targets).

Every request made here keeps three promises:

* **It goes to the configured URL and nowhere else.** Redirects are answered,
  never followed: a 3xx is a failure that names its ``Location``. Proxy
  variables and ``.netrc`` are ignored, so headers carrying a secret reach only
  the address they were configured for.
* **It has a total deadline.** Looking up the name, connecting, TLS, sending
  and receiving the answer's status and headers all count against one
  monotonic deadline: each socket operation may wait only for what is left of
  it, so a receiver that trickles one byte at a time is cut off at the
  deadline, not at every read.
* **The answer's body is never read**: the status (and, for a redirect, its
  ``Location``) is all a caller learns.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpcore
import httpx

__all__ = ["HttpAnswer", "OutboundError", "OutboundHttp"]

_MAX_LOCATION = 300
#: The monotonic time by which the request running on this thread must be done; None outside a request.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("registry_outbound_deadline", default=None)


class OutboundError(Exception):
    """No answer came back: refused, unreachable, cut off, or not within the deadline."""


@dataclass(frozen=True)
class HttpAnswer:
    """The status line of an answer, and where it pointed if it was a redirect."""

    status_code: int
    reason: str = ""
    location: str | None = None

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def redirect(self) -> bool:
        return 300 <= self.status_code < 400

    def describe(self) -> str:
        """``HTTP 503 Service Unavailable``; for a redirect, where it pointed and that it was not followed."""
        if self.redirect:
            return f"HTTP {self.status_code} redirect to {self.location or '(no Location)'}, not followed"
        return f"HTTP {self.status_code}" + (f" {self.reason}" if self.reason else "")


class OutboundHttp:
    """A pooled HTTP(S) client that POSTs with a total deadline and never follows a redirect."""

    def __init__(self, *, user_agent: str, max_connections: int = 32) -> None:
        # Certificates from $SSL_CERT_FILE / $SSL_CERT_DIR still count: a private CA is configuration, a proxy
        # variable is not (it would see every header of a plain-HTTP request).
        context = httpx.create_ssl_context(verify=True, trust_env=True)
        self._client = httpx.Client(
            transport=_DeadlineTransport(context, max_connections=max_connections),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": user_agent},
        )

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, deadline: float) -> HttpAnswer:
        """POST ``body`` to ``url``, done within ``deadline`` seconds in all; raise :class:`OutboundError` without an answer."""
        if not deadline > 0:
            raise ValueError("a request needs a positive deadline")
        token = _DEADLINE.set(time.monotonic() + deadline)
        try:
            with self._client.stream(
                "POST", url, content=body, headers=dict(headers), timeout=httpx.Timeout(deadline)
            ) as response:
                location = response.headers.get("location") if 300 <= response.status_code < 400 else None
                return HttpAnswer(response.status_code, response.reason_phrase, _printable(location))
        except (httpx.TimeoutException, httpcore.TimeoutException):
            raise OutboundError(f"no answer within the {deadline:g} s deadline") from None
        except (httpx.HTTPError, httpx.InvalidURL, httpcore.NetworkError, httpcore.ProtocolError,
                httpcore.UnsupportedProtocol) as exc:
            raise OutboundError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
        finally:
            _DEADLINE.reset(token)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OutboundHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _printable(location: str | None) -> str | None:
    if location is None:
        return None
    clean = "".join(c for c in location if c.isprintable())
    return clean if len(clean) <= _MAX_LOCATION else clean[: _MAX_LOCATION - 1] + "…"


def _time_left(timeout: float | None, expired: type[Exception]) -> float | None:
    """How long one socket operation may wait: its own timeout, cut to what is left of the request's deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # One send may be partial; each chunk gets only what is left.
        view = memoryview(buffer)
        sock: socket.socket | None = self._stream.get_extra_info("socket")
        if sock is None:
            self._stream.write(buffer, _time_left(timeout, httpcore.WriteTimeout))
            return
        while view:
            sock.settimeout(_time_left(timeout, httpcore.WriteTimeout))
            try:
                sent = sock.send(view)
            except TimeoutError as exc:
                raise httpcore.WriteTimeout(str(exc)) from exc
            except OSError as exc:
                raise httpcore.WriteError(str(exc)) from exc
            view = view[sent:]

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        # The handshake as a whole is bounded by the socket timeout (CPython computes one deadline for it).
        return _DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, _time_left(timeout, httpcore.ConnectTimeout))
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in _resolve(host, port, _time_left(timeout, httpcore.ConnectTimeout)):
            try:
                stream = self._sockets.connect_tcp(
                    address, port, _time_left(timeout, httpcore.ConnectTimeout), local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _DeadlineStream(stream)
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.UnsupportedProtocol("outbound calls go over TCP only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """The host's addresses, looked up on a helper thread so that a stalled resolver cannot outlast the deadline."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    found: list[str] = []
    failed: list[OSError] = []
    done = threading.Event()

    def look_up() -> None:
        try:
            for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
                if sockaddr[0] not in found:
                    found.append(str(sockaddr[0]))
        except OSError as exc:
            failed.append(exc)
        finally:
            done.set()

    threading.Thread(target=look_up, name=f"resolve {host}", daemon=True).start()
    if not done.wait(timeout):
        raise httpcore.ConnectTimeout(f"looking up {host} took longer than the deadline")
    if failed:
        raise httpcore.ConnectError(f"cannot resolve {host}: {failed[0]}")
    return found


class _DeadlineTransport(httpx.BaseTransport):
    """httpx over an httpcore pool whose sockets honour the request's deadline."""

    def __init__(self, ssl_context: ssl.SSLContext, *, max_connections: int) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            network_backend=_DeadlineBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self._pool.handle_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(
                    scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port,
                    target=request.url.raw_path,
                ),
                headers=request.headers.raw,
                content=request.stream,  # type: ignore[arg-type] - a sync byte stream: httpx builds it from bytes
                extensions=request.extensions,
            )
        )
        return httpx.Response(
            status_code=answer.status, headers=answer.headers, stream=_Body(answer), extensions=answer.extensions
        )

    def close(self) -> None:
        self._pool.close()

    def __exit__(
        self, exc_type: type[BaseException] | None = None, exc: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.close()


class _Body(httpx.SyncByteStream):
    def __init__(self, answer: httpcore.Response) -> None:
        self._answer = answer

    def __iter__(self) -> Iterator[bytes]:
        yield from self._answer.iter_stream()

    def close(self) -> None:
        self._answer.close()

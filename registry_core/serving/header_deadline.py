"""A deadline for each request's headers, which uvicorn does not set.

uvicorn closes a connection only when it sits idle between requests, and
stops counting at the first byte of the next one: a client that connects and
sends nothing, or sends its headers a byte at a time, holds a connection (and
a file descriptor) for as long as it likes, and never reaches the app, whose
own deadline covers only the body. This protocol gives every request the same
number of seconds, from the connection or the previous answer, to finish its
headers, then closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

__all__ = ["with_header_deadline"]

log = logging.getLogger("registry.serving")


def with_header_deadline(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol (httptools, else h11), closing a connection whose headers take over ``seconds``."""

    class HeaderDeadline(AutoHTTPProtocol):  # type: ignore[valid-type,misc]
        _header_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm_header_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_deadline()
            super().connection_lost(exc)

        def _arm_header_deadline(self) -> None:
            self._cancel_header_deadline()
            if not self.transport.is_closing():
                self._header_deadline = self.loop.call_later(seconds, self._headers_overdue)

        def _cancel_header_deadline(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _headers_overdue(self) -> None:
            self._header_deadline = None
            if self.cycle is not None and not self.cycle.response_complete:
                return  # a request's headers arrived: its body has the app's deadline, its answer takes what it takes
            if not self.transport.is_closing():
                log.info("closed a connection whose request headers did not arrive within %g seconds", seconds)
                self.transport.close()

    return HeaderDeadline

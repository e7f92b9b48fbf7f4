"""How webhook bodies travel: a Protocol, and the HTTP implementation used by default."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ..outbound import HttpAnswer, OutboundError, OutboundHttp

__all__ = ["HttpAnswer", "HttpTransport", "TransportError", "WebhookTransport"]


class TransportError(Exception):
    """No HTTP answer came back: refused, unreachable, cut off, or not within the deadline."""


class WebhookTransport(Protocol):
    """Sends one signed webhook body to a receiver."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, deadline: float) -> HttpAnswer:
        """POST ``body`` to ``url`` and return the receiver's answer, or raise :class:`TransportError`.

        Must return or raise within ``deadline`` seconds (plus a moment): the
        delivery lease is sized on that promise.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class HttpTransport:
    """HTTP(S) through :class:`~registry_core.outbound.OutboundHttp`: a total deadline, redirects never followed."""

    def __init__(self, *, user_agent: str = "dagster-model-registry-webhooks/2", max_connections: int = 32) -> None:
        self._http = OutboundHttp(user_agent=user_agent, max_connections=max_connections)

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, deadline: float) -> HttpAnswer:
        try:
            return self._http.post(url, body, headers, deadline=deadline)
        except OutboundError as exc:
            raise TransportError(str(exc)) from None

    def close(self) -> None:
        self._http.close()

"""How webhook bodies travel: a Protocol, and the HTTP implementation used by default."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import httpx

__all__ = ["HttpTransport", "TransportError", "WebhookTransport"]


class TransportError(Exception):
    """No HTTP response came back: refused, unreachable, timed out, or cut off."""


class WebhookTransport(Protocol):
    """Sends one signed webhook body to a receiver."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float) -> int:
        """POST ``body`` to ``url``; the receiver's HTTP status. Raise :class:`TransportError` when none came back."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class HttpTransport:
    """HTTP(S) over a pooled httpx client. Redirects are not followed: a 3xx counts as a failed attempt."""

    def __init__(self, *, trust_env: bool = True) -> None:
        self._client = httpx.Client(follow_redirects=False, trust_env=trust_env)

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float) -> int:
        try:
            # Streamed so that a receiver's response body is never read into memory.
            with self._client.stream("POST", url, content=body, headers=dict(headers), timeout=timeout) as response:
                return response.status_code
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc

    def close(self) -> None:
        self._client.close()

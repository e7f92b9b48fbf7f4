"""Draining the outbox: sign, send, record every attempt, retry with exponential backoff.

Delivery is at least once and in order per subscription: a subscription's
oldest undelivered event must succeed before the next one is tried, so a
receiver that is down holds back only its own queue. Nothing here runs inside
a registry change, so a slow or dead receiver never delays one.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import InvalidInput, RegistryError
from ..schema import utcnow
from .outbox import (
    Attempt,
    DueSubscription,
    claim_subscription,
    next_pending,
    record_attempt,
    release_subscription,
    subscriptions_with_pending,
)
from .signature import SIGNATURE_HEADER, sign_body
from .transport import HttpTransport, TransportError, WebhookTransport

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = ["DeliveryRound", "RetryPolicy", "WebhookDeliverer"]

log = logging.getLogger("registry.webhooks")

USER_AGENT = "dagster-model-registry-webhooks/1"
_MAX_ERROR = 1000


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``first_delay * factor ** (n - 1)`` seconds after the n-th failure, capped, with jitter."""

    first_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    #: Each delay is spread by up to this fraction either way, so that retries of many events do not align.
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if not (0 < self.first_delay <= self.max_delay and self.factor >= 1 and 0 <= self.jitter < 1):
            raise InvalidInput("retry policy needs 0 < first delay <= max delay, factor >= 1 and 0 <= jitter < 1")

    def delay(self, failures: int, *, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure."""
        base = min(self.max_delay, self.first_delay * self.factor ** max(0, failures - 1))
        return base * (1 + self.jitter * (2 * rand() - 1))


@dataclass(frozen=True)
class DeliveryRound:
    """What one pass over the outbox did."""

    delivered: int
    failed: int
    #: When the earliest waiting retry falls due, if any is waiting.
    next_due: datetime | None


class WebhookDeliverer:
    """Delivers queued registry events to their subscribers."""

    def __init__(
        self,
        registry: Registry,
        transport: WebhookTransport | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        per_subscription: int = 100,
    ) -> None:
        if timeout <= 0:
            raise InvalidInput("the delivery timeout must be positive")
        self.registry = registry
        self.transport: WebhookTransport = transport or HttpTransport()
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.per_subscription = per_subscription
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Longer than any one attempt, so that a live worker never loses its lease mid-send.
        self.lease = timedelta(seconds=max(60.0, 3 * timeout))

    def close(self) -> None:
        self.transport.close()

    def deliver_due(self) -> DeliveryRound:
        """Send every event whose turn has come, oldest first per subscription."""
        with self.registry.db.read() as session:
            due = subscriptions_with_pending(session)
        delivered = failed = 0
        next_due: datetime | None = None
        for subscription in due:
            sent, broke, waiting = self._drain(subscription)
            delivered += sent
            failed += broke
            if waiting is not None and (next_due is None or waiting < next_due):
                next_due = waiting
        return DeliveryRound(delivered, failed, next_due)

    def run(self, stop: threading.Event, *, idle_interval: float = 1.0) -> None:
        """Deliver until ``stop`` is set, looking for new events every ``idle_interval`` seconds."""
        while not stop.is_set():
            try:
                result = self.deliver_due()
            except RegistryError as error:
                log.warning("webhook delivery pass failed, will retry: %s", error.message)
                stop.wait(idle_interval)
                continue
            if result.delivered:
                continue
            wait = idle_interval
            if result.next_due is not None:
                wait = min(wait, max(0.0, (result.next_due - utcnow()).total_seconds()))
            stop.wait(wait)

    def _drain(self, subscription: DueSubscription) -> tuple[int, int, datetime | None]:
        db = self.registry.db
        with db.write() as session:
            if not claim_subscription(session, subscription.id, self.owner, now=utcnow(), lease=self.lease):
                return 0, 0, None
        sent = 0
        try:
            for _ in range(self.per_subscription):
                with db.read() as session:
                    row = next_pending(session, subscription.id)
                    if row is None:
                        return sent, 0, None
                    outbox_id, body, event_type, event_id = row.id, row.body, row.event_type, row.event_id
                    number, due_at = row.attempts + 1, row.next_attempt_at
                if due_at > utcnow():
                    return sent, 0, due_at
                attempt = self._send(subscription, body.encode("utf-8"), event_type, event_id, number)
                retry_at = None if attempt.succeeded else utcnow() + timedelta(seconds=self.retry.delay(number))
                with db.write() as session:
                    record_attempt(session, outbox_id, attempt, retry_at=retry_at)
                    still_ours = claim_subscription(session, subscription.id, self.owner, now=utcnow(), lease=self.lease)
                if not attempt.succeeded:
                    log.info(
                        "webhook %s: %s %s attempt %d failed (%s), next try at %s",
                        subscription.id, event_type, event_id, number, attempt.error or f"HTTP {attempt.status_code}",
                        retry_at.isoformat() if retry_at else "-",
                    )
                    return sent, 1, retry_at
                sent += 1
                if not still_ours:
                    break
            return sent, 0, None
        finally:
            with db.write() as session:
                release_subscription(session, subscription.id, self.owner)

    def _send(self, subscription: DueSubscription, body: bytes, event_type: str, event_id: str, number: int) -> Attempt:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Registry-Event": event_type,
            "X-Registry-Event-Id": event_id,
            "X-Registry-Delivery-Attempt": str(number),
            SIGNATURE_HEADER: sign_body(subscription.secret, body),
        }
        started_at = utcnow()
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            status = self.transport.post(subscription.url, body, headers, timeout=self.timeout)
        except TransportError as exc:
            error = str(exc)[:_MAX_ERROR]
        elapsed = (time.perf_counter() - started) * 1000
        return Attempt(attempted_at=started_at, duration_ms=round(elapsed, 3), status_code=status, error=error)

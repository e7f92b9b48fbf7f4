"""Draining the outbox: sign, send, record every attempt, retry with exponential backoff.

Delivery is at least once and in order per subscription: a subscription's
oldest undelivered event must succeed before the next one is tried. Each
subscription is drained on its own thread (up to ``concurrency`` at once), so a
receiver that is down or slow holds back only its own queue. Nothing here runs
inside a registry change, so a receiver never delays one.

A lease on the subscription row keeps one worker at a time on a queue. It is
renewed before every request, outlasts the request's deadline by at least
:data:`LEASE_MARGIN`, and a request is not started when what is left of the
lease could run out under it: a second worker never sends while a first one's
request is in flight.
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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import InvalidInput, RegistryError
from ..schema import utcnow
from .mlflow_events import MLFLOW_FLAVOR, mlflow_headers
from .outbox import (
    Attempt,
    DueSubscription,
    claim_subscription,
    next_pending,
    record_attempt,
    release_subscription,
    subscriptions_with_pending,
)
from .signature import signature_headers
from .transport import HttpTransport, TransportError, WebhookTransport

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = ["LEASE_MARGIN", "DeliveryRound", "RetryPolicy", "WebhookDeliverer"]

log = logging.getLogger("registry.webhooks")

USER_AGENT = "dagster-model-registry-webhooks/2"
_MAX_ERROR = 1000
#: Seconds by which a delivery lease must outlast the deadline of a request made under it.
LEASE_MARGIN = 5.0
#: Of that margin, what must still be left when a request starts: the request's overrun (closing, recording)
#: and the difference between two workers' clocks. The rest absorbs a slow lease renewal.
_START_SLACK = 3.0
DEFAULT_LEASE = 60.0


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
    """Delivers queued registry events to their subscribers, each subscription independently of the others."""

    def __init__(
        self,
        registry: Registry,
        transport: WebhookTransport | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        per_subscription: int = 100,
        concurrency: int = 8,
        lease: float | None = None,
    ) -> None:
        """``timeout`` is each request's total deadline; ``lease`` (seconds) defaults to 60, or longer when needed."""
        if timeout <= 0:
            raise InvalidInput("the delivery timeout must be positive")
        if concurrency < 1 or per_subscription < 1:
            raise InvalidInput("delivery needs at least one thread and one event per subscription and pass")
        lease_seconds = max(DEFAULT_LEASE, timeout + LEASE_MARGIN) if lease is None else float(lease)
        if lease_seconds < timeout + LEASE_MARGIN:
            raise InvalidInput(
                f"a delivery lease of {lease_seconds:g} s could run out under a request: it must outlast the "
                f"{timeout:g} s timeout by {LEASE_MARGIN:g} s or more"
            )
        self.registry = registry
        self.transport: WebhookTransport = transport or HttpTransport(user_agent=USER_AGENT)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.per_subscription = per_subscription
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease_seconds)
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._draining: set[int] = set()
        self._lock = threading.Lock()

    def close(self) -> None:
        self.transport.close()

    def deliver_due(self) -> DeliveryRound:
        """Send every event whose turn has come, oldest first per subscription, subscriptions side by side."""
        with self.registry.db.read() as session:
            due = subscriptions_with_pending(session)
        if not due:
            return DeliveryRound(0, 0, None)
        halt = threading.Event()
        with ThreadPoolExecutor(min(self.concurrency, len(due)), thread_name_prefix="webhook-delivery") as pool:
            try:
                return _combine(list(pool.map(lambda subscription: self._drain(subscription, halt), due)))
            finally:
                halt.set()  # interrupted (Ctrl-C): the drains start no new request

    def run(self, stop: threading.Event, *, idle_interval: float = 1.0) -> None:
        """Deliver until ``stop`` is set, looking for new events every ``idle_interval`` seconds.

        A subscription whose drain is still running (a slow receiver) is
        skipped until it finishes; the others go on. Once ``stop`` is set, no
        new request starts and those in flight finish within their deadline.
        """
        halt = threading.Event()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="webhook-delivery") as pool:
            try:
                self._schedule(pool, stop, halt, idle_interval)
            finally:
                # However the loop ended (stop, Ctrl-C, an error): drains start no new request.
                halt.set()

    def _schedule(
        self, pool: ThreadPoolExecutor, stop: threading.Event, halt: threading.Event, idle_interval: float
    ) -> None:
        running: dict[int, Future[DeliveryRound]] = {}
        waiting: dict[int, datetime] = {}
        while not stop.is_set():
            for number, future in list(running.items()):
                if future.done():
                    del running[number]
                    waiting.pop(number, None)
                    try:
                        result = future.result()
                    except RegistryError as error:
                        log.warning("webhook %s: delivery failed, will retry: %s", number, error.message)
                        continue
                    if result.next_due is not None:
                        waiting[number] = result.next_due
            try:
                with self.registry.db.read() as session:
                    due = subscriptions_with_pending(session)
            except RegistryError as error:
                log.warning("webhook delivery pass failed, will retry: %s", error.message)
                stop.wait(idle_interval)
                continue
            now = utcnow()
            for subscription in due:
                if len(running) >= self.concurrency:
                    break
                if subscription.id not in running and waiting.get(subscription.id, now) <= now:
                    running[subscription.id] = pool.submit(self._drain, subscription, halt)
            wait = idle_interval
            retries = [at for number, at in waiting.items() if number not in running]
            if retries and len(running) < self.concurrency:
                wait = min(wait, max(0.0, (min(retries) - now).total_seconds()))
            stop.wait(wait)

    def _drain(self, subscription: DueSubscription, halt: threading.Event) -> DeliveryRound:
        with self._lock:
            if subscription.id in self._draining:
                return DeliveryRound(0, 0, None)
            self._draining.add(subscription.id)
        held = False
        sent = 0
        try:
            for _ in range(self.per_subscription):
                if halt.is_set():
                    break
                renewing = time.monotonic()
                with self.registry.db.write() as session:
                    if not claim_subscription(session, subscription.id, self.owner, now=utcnow(), lease=self.lease):
                        break  # another worker is on this queue
                    held = True
                    row = next_pending(session, subscription.id)
                    if row is None:
                        break
                    outbox_id, body, event_type, event_id = row.id, row.body, row.event_type, row.event_id
                    number, due_at = row.attempts + 1, row.next_attempt_at
                if due_at > utcnow():
                    return DeliveryRound(sent, 0, due_at)
                left = self.lease.total_seconds() - (time.monotonic() - renewing)
                if left < self.timeout + _START_SLACK:
                    log.warning("webhook %s: renewing the lease took too long to start a request under it; "
                                "trying again on the next pass", subscription.id)
                    break
                attempt = self._send(subscription, body.encode("utf-8"), event_type, event_id, number)
                retry_at = None if attempt.succeeded else utcnow() + timedelta(seconds=self.retry.delay(number))
                with self.registry.db.write() as session:
                    record_attempt(session, outbox_id, attempt, retry_at=retry_at)
                if not attempt.succeeded:
                    log.info(
                        "webhook %s: %s %s attempt %d failed (%s), next try at %s",
                        subscription.id, event_type, event_id, number, attempt.error or f"HTTP {attempt.status_code}",
                        retry_at.isoformat() if retry_at else "-",
                    )
                    return DeliveryRound(sent, 1, retry_at)
                sent += 1
            return DeliveryRound(sent, 0, None)
        finally:
            try:
                if held:
                    with self.registry.db.write() as session:
                        release_subscription(session, subscription.id, self.owner)
            finally:
                with self._lock:
                    self._draining.discard(subscription.id)

    def _send(self, subscription: DueSubscription, body: bytes, event_type: str, event_id: str, number: int) -> Attempt:
        if subscription.flavor == MLFLOW_FLAVOR:  # MLflow's headers and signature, not Standard Webhooks'
            headers = {"User-Agent": USER_AGENT, **mlflow_headers(subscription.secret, event_id, body.decode("utf-8"))}
        else:
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Registry-Event": event_type,
                "X-Registry-Event-Id": event_id,
                "X-Registry-Delivery-Attempt": str(number),
                # Signed per attempt: a retry carries the same webhook-id and a fresh timestamp.
                **signature_headers(subscription.secret, event_id, body),
            }
        started_at = utcnow()
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            answer = self.transport.post(subscription.url, body, headers, deadline=self.timeout)
        except TransportError as exc:
            error = str(exc)[:_MAX_ERROR]
        else:
            status = answer.status_code
            if answer.redirect:
                error = answer.describe()[:_MAX_ERROR]
        elapsed = (time.perf_counter() - started) * 1000
        return Attempt(attempted_at=started_at, duration_ms=round(elapsed, 3), status_code=status, error=error)


def _combine(rounds: list[DeliveryRound]) -> DeliveryRound:
    waits = [r.next_due for r in rounds if r.next_due is not None]
    return DeliveryRound(sum(r.delivered for r in rounds), sum(r.failed for r in rounds), min(waits, default=None))

"""Webhooks: events from the outbox reach real HTTP receivers on loopback, signed, in order, at least once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks
from click.testing import CliRunner, Result
from loopback import Trickler, redirecting_to
from sqlalchemy import create_engine, select, text

from registry_core import GateUnmet, InvalidInput, NotFound, Registry
from registry_core.cli import cli
from registry_core.schema import WebhookSubscription, utcnow
from registry_core.webhooks import ACTION_EVENTS, EventType, signature_headers, standard_secret, verify_signature
from registry_core.webhooks.delivery import LEASE_MARGIN, RetryPolicy, WebhookDeliverer

#: A secret as subscriptions made before the Standard Webhooks format have them: its UTF-8 bytes are the key.
SECRET = "whsec-for-the-risk-team"
#: A Standard Webhooks secret: whsec_ and the base64 of 32 random bytes.
STANDARD_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
#: Every wait in this module gives up after this long.
WAIT = 10.0
FAST_RETRIES = RetryPolicy(first_delay=0.05, factor=2.0, max_delay=0.2, jitter=0.0)
#: Retries far enough away that a test sees only first attempts.
NO_RETRY_SOON = RetryPolicy(first_delay=600.0, max_delay=600.0, jitter=0.0)


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes
    #: When it arrived (``time.monotonic()``).
    received_at: float = field(default_factory=time.monotonic)

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """A real HTTP server on a loopback port that records every POST; answers 200 unless told otherwise."""

    def __init__(self, port: int = 0) -> None:
        self.deliveries: list[Delivery] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    if 200 <= status < 300:
                        receiver.deliveries.append(Delivery({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/registry"

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d.event for d in self.deliveries]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(WAIT)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    up = Receiver()
    try:
        yield up
    finally:
        up.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def delivering(registry: Registry) -> Iterator[WebhookDeliverer]:
    """A delivery worker running on a thread, retrying fast."""
    deliverer = WebhookDeliverer(registry, retry=FAST_RETRIES, timeout=2.0)
    stop = threading.Event()
    worker = threading.Thread(target=deliverer.run, args=(stop,), kwargs={"idle_interval": 0.05}, daemon=True)
    worker.start()
    try:
        yield deliverer
    finally:
        stop.set()
        worker.join(WAIT)
        deliverer.close()


def wait_until(condition: Callable[[], Any], *, timeout: float = WAIT, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout} s")


def deliver_now(registry: Registry) -> None:
    deliverer = WebhookDeliverer(registry, retry=FAST_RETRIES, timeout=2.0)
    try:
        deliverer.deliver_due()
    finally:
        deliverer.close()


def ready_version(registry: Registry, model_file: Path, name: str = "fraud") -> int:
    """Register a version and take it to Staging with an approval from bob."""
    version = registry.register(name, model_file).version
    registry.transition(name, version, "Staging")
    registry.as_actor("bob").approve(name, version)
    return version


# --- signatures and event bodies -------------------------------------------------------------------


def test_deliveries_are_signed_in_the_standard_webhooks_format(registry: Registry, receiver: Receiver, model_file: Path):
    """webhook-signature is v1,base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")), the id the event's."""
    registry.add_webhook(receiver.url, events=["version_created"], secret=SECRET)
    registry.register("fraud", model_file)
    deliver_now(registry)
    [delivery] = receiver.deliveries
    message_id, timestamp = delivery.headers["webhook-id"], delivery.headers["webhook-timestamp"]
    signed = f"{message_id}.{timestamp}.".encode() + delivery.body
    expected = "v1," + base64.b64encode(hmac.new(SECRET.encode(), signed, hashlib.sha256).digest()).decode()
    assert delivery.headers["webhook-signature"] == expected
    assert message_id == delivery.event["id"] == delivery.headers["x-registry-event-id"]
    assert abs(int(timestamp) - time.time()) < WAIT
    assert verify_signature(SECRET, delivery.body, delivery.headers)
    assert not verify_signature("another-secret-entirely", delivery.body, delivery.headers)
    assert not verify_signature(SECRET, delivery.body + b" ", delivery.headers)
    assert not verify_signature(SECRET, delivery.body, {**delivery.headers, "webhook-id": "evt_other"})
    assert delivery.headers["x-registry-event"] == "version_created"
    assert delivery.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("secret", "as_the_library_takes_it"),
    [(STANDARD_SECRET, STANDARD_SECRET), (SECRET, standard_secret(SECRET)), (SECRET, SECRET.encode())],
    ids=["whsec-secret", "older-secret-in-whsec-form", "older-secret-as-key-bytes"],
)
def test_a_delivery_verifies_with_the_standardwebhooks_library(
    registry: Registry, receiver: Receiver, model_file: Path, secret: str, as_the_library_takes_it: str | bytes
):
    """The reference library accepts a real delivery: a whsec_ secret as it is, an older secret as its whsec_ form or bytes."""
    registry.add_webhook(receiver.url, events=["version_created"], secret=secret)
    registry.register("fraud", model_file)
    deliver_now(registry)
    [delivery] = receiver.deliveries
    assert standardwebhooks.Webhook(as_the_library_takes_it).verify(delivery.body, delivery.headers) == delivery.event
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(as_the_library_takes_it).verify(delivery.body.replace(b"fraud", b"frauD"), delivery.headers)


def test_a_replayed_delivery_is_refused_once_its_timestamp_is_stale(
    registry: Registry, receiver: Receiver, model_file: Path
):
    """A delivery captured and sent again ten minutes later fails both the reference library and verify_signature."""
    registry.add_webhook(receiver.url, events=["version_created"], secret=STANDARD_SECRET)
    registry.register("fraud", model_file)
    deliver_now(registry)
    [delivery] = receiver.deliveries
    sent_at = int(delivery.headers["webhook-timestamp"])
    wire = {name: delivery.headers[name] for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    # What the worker sent is exactly what signature_headers makes for that instant, so it can make the old one too.
    assert signature_headers(STANDARD_SECRET, delivery.event["id"], delivery.body, timestamp=sent_at) == wire
    captured = signature_headers(STANDARD_SECRET, delivery.event["id"], delivery.body, timestamp=int(time.time()) - 600)
    with pytest.raises(standardwebhooks.WebhookVerificationError, match="too old"):
        standardwebhooks.Webhook(STANDARD_SECRET).verify(delivery.body, captured)
    assert not verify_signature(STANDARD_SECRET, delivery.body, captured)
    assert verify_signature(STANDARD_SECRET, delivery.body, wire, now=sent_at + 299)
    assert not verify_signature(STANDARD_SECRET, delivery.body, wire, now=sent_at + 301)
    assert not verify_signature(STANDARD_SECRET, delivery.body, wire, now=sent_at - 301)


def test_a_retry_carries_the_same_webhook_id_and_verifies(registry: Registry, receiver: Receiver, model_file: Path):
    """A retry repeats the id (for deduplication) and is signed when sent, so it verifies however late it comes."""
    registry.add_webhook(receiver.url, events=["version_created"], secret=SECRET)
    receiver.statuses.append(503)
    registry.register("fraud", model_file)
    deliverer = WebhookDeliverer(registry, retry=FAST_RETRIES, timeout=2.0)
    try:
        wait_until(lambda: deliverer.deliver_due().delivered, what="delivered on a retry")
    finally:
        deliverer.close()
    [delivery] = receiver.deliveries
    assert delivery.headers["x-registry-delivery-attempt"] == "2"
    assert delivery.headers["webhook-id"] == delivery.event["id"]
    assert verify_signature(SECRET, delivery.body, delivery.headers)


def test_registry_changes_raise_the_documented_events(registry: Registry, receiver: Receiver, model_file: Path):
    """Register, check, stage, reject, approve, promote, roll back and deploy each reach a subscriber of 'all'."""
    registry.add_webhook(receiver.url, events=["all"], secret=SECRET)
    registry.register("fraud", model_file)
    registry.record_check("fraud", 1, "data_quality", passed=True)
    registry.transition("fraud", 1, "Staging")
    registry.as_actor("carol").reject("fraud", 1, comment="needs a fairness check")
    registry.as_actor("bob").approve("fraud", 1)
    registry.promote("fraud", 1)
    ready_version(registry, model_file)
    registry.promote("fraud", 2)
    registry.rollback("fraud", reason="latency regression")
    registry.record_deployment("fraud", 1, target="k8s/fraud-api", succeeded=True)
    registry.set_alias("fraud", "champion", 1)  # raises no event
    deliver_now(registry)

    received = [(e["type"], e["version"], e["data"]) for e in receiver.events()]
    assert [(kind, version) for kind, version, _ in received] == [
        ("version_created", 1), ("check_recorded", 1), ("stage_changed", 1), ("approval_recorded", 1),
        ("approval_recorded", 1), ("stage_changed", 1), ("promoted", 1),
        ("version_created", 2), ("stage_changed", 2), ("approval_recorded", 2),
        ("stage_changed", 1), ("stage_changed", 2), ("promoted", 2),
        ("stage_changed", 2), ("stage_changed", 1), ("rolled_back", 1),
        ("deployed", 1),
    ]
    data = [d for _, _, d in received]
    assert data[2] == {"from": "None", "to": "Staging", "reason": None}
    assert (data[3]["decision"], data[4]["decision"]) == ("reject", "approve")
    assert data[6] == {"from": "Staging", "previous_production": None, "approved_by": ["bob"], "reason": None}
    assert data[10]["from"] == "Production" and data[10]["to"] == "Archived"
    assert data[15] == {"previous_production": 2, "reason": "latency regression"}
    assert data[16]["target"] == "k8s/fraud-api" and data[16]["succeeded"] is True
    events = receiver.events()
    assert len({e["id"] for e in events}) == len(events)
    assert [e["audit_seq"] for e in events] == sorted(e["audit_seq"] for e in events)
    assert all(e["model"] == "fraud" and e["actor"] in ("alice", "bob", "carol") for e in events)


def test_a_subscription_gets_only_its_event_types_and_model(registry: Registry, receiver: Receiver, model_file: Path):
    registry.add_webhook(receiver.url, events=["promoted", "rolled_back"], secret=SECRET, model="fraud")
    ready_version(registry, model_file, name="churn")
    registry.promote("churn", 1)
    ready_version(registry, model_file)
    registry.promote("fraud", 1)
    deliver_now(registry)
    assert [(e["type"], e["model"]) for e in receiver.events()] == [("promoted", "fraud")]


# --- delivery: at least once, in order, never blocking a change ------------------------------------------


def test_a_receiver_down_during_three_promotions_gets_all_three_in_order_once_it_is_back(
    registry: Registry, delivering: WebhookDeliverer, model_file: Path
):
    """While the receiver is down the promotions return at once; when it comes back it gets all three, in order."""
    port = free_port()
    subscription = registry.add_webhook(
        f"http://127.0.0.1:{port}/hooks/registry", events=["promoted"], secret=SECRET
    )
    versions = [ready_version(registry, model_file) for _ in range(3)]
    for promoted, version in enumerate(versions, start=1):
        registry.promote("fraud", version)
        # Returned with its event queued and not delivered (the receiver is down): a promotion never waits on one.
        queued = registry.webhook_deliveries(subscription.id)
        assert len(queued) == promoted and all(d.delivered_at is None for d in queued)
    wait_until(
        lambda: registry.webhook_deliveries(subscription.id)[0].attempts >= 2, what="failed attempts recorded"
    )
    up = Receiver(port)
    try:
        wait_until(lambda: len(up.events()) >= 3, what="three events delivered")
        time.sleep(0.2)
        events = up.events()
    finally:
        up.close()
    assert [(e["type"], e["version"]) for e in events] == [("promoted", v) for v in versions]
    assert len({e["id"] for e in events}) == 3
    log = registry.webhook_deliveries(subscription.id)
    assert all(d.delivered_at is not None for d in log)
    first = log[0].attempt_log
    assert len(first) >= 2 and not first[0].succeeded and first[0].status_code is None and first[0].error
    assert first[-1].succeeded and first[-1].status_code == 200
    assert [a.number for a in first] == list(range(1, len(first) + 1))


def test_a_receiver_that_never_answers_does_not_slow_a_promotion(
    registry: Registry, model_file: Path
):
    """A receiver that accepts connections and then hangs holds only the delivery worker, never the change."""
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(8)
    port = hanging.getsockname()[1]
    # Each attempt waits 60 s on the receiver: a promotion that waited on one would take that long.
    deliverer = WebhookDeliverer(registry, retry=FAST_RETRIES, timeout=60.0)
    stop = threading.Event()
    worker = threading.Thread(target=deliverer.run, args=(stop,), kwargs={"idle_interval": 0.05}, daemon=True)
    try:
        subscription = registry.add_webhook(f"http://127.0.0.1:{port}/", events=["all"], secret=SECRET)
        worker.start()
        first = ready_version(registry, model_file)
        time.sleep(0.3)  # the worker is now stuck waiting on the receiver
        second = ready_version(registry, model_file)
        started = time.perf_counter()
        registry.promote("fraud", first)
        registry.promote("fraud", second)
        elapsed = time.perf_counter() - started
        stuck = [d.delivered_at for d in registry.webhook_deliveries(subscription.id, limit=100)]
    finally:
        stop.set()
        hanging.close()
        worker.join(WAIT)
        deliverer.close()
    assert elapsed < 30.0
    assert len(stuck) == 11 and all(at is None for at in stuck)


# --- outbound calls: redirects, deadlines, independent subscriptions, leases -------------------------------------------


@pytest.fixture
def trickler() -> Iterator[Trickler]:
    """A receiver that answers one byte a second, ten bytes at most."""
    slow = Trickler(interval=1.0, limit=10)
    try:
        yield slow
    finally:
        slow.close()


def test_a_redirect_is_a_failed_attempt_naming_its_location_and_is_not_followed(registry: Registry, receiver: Receiver, model_file: Path):
    """A 302 to another loopback port: recorded as failed with its status and Location; the other port hears nothing."""
    redirector = redirecting_to(receiver.url)
    try:
        subscription = registry.add_webhook(redirector.url("/hooks"), events=["version_created"], secret=SECRET)
        registry.register("fraud", model_file)
        result = WebhookDeliverer(registry, retry=NO_RETRY_SOON, timeout=2.0).deliver_due()
    finally:
        redirector.close()
    [delivery] = registry.webhook_deliveries(subscription.id)
    [attempt] = delivery.attempt_log
    assert (result.delivered, result.failed) == (0, 1)
    assert (attempt.succeeded, attempt.status_code) == (False, 302)
    assert attempt.error == f"HTTP 302 redirect to {receiver.url}, not followed"
    assert delivery.delivered_at is None and delivery.last_error == attempt.error
    assert [r.method for r in redirector.requests] == ["POST"]
    assert receiver.deliveries == []


def test_a_trickling_receiver_is_cut_off_at_the_deadline_and_delays_no_other_subscriber(
    registry: Registry, receiver: Receiver, trickler: Trickler, model_file: Path
):
    """One byte a second never ends a 2 s attempt late, and the healthy subscriber is not kept waiting for it."""
    slow = registry.add_webhook(trickler.url(), events=["version_created"], secret=SECRET)
    registry.add_webhook(receiver.url, events=["version_created"], secret=SECRET)
    registry.register("fraud", model_file)
    deliverer = WebhookDeliverer(registry, retry=NO_RETRY_SOON, timeout=2.0)
    started = time.monotonic()
    try:
        result = deliverer.deliver_due()
    finally:
        elapsed = time.monotonic() - started
        deliverer.close()
    [delivery] = receiver.deliveries
    [attempt] = registry.webhook_deliveries(slow.id)[0].attempt_log
    assert (result.delivered, result.failed) == (1, 1)
    assert delivery.received_at - started < 1.5
    assert elapsed < 2.0 + 1.5
    assert not attempt.succeeded and "deadline" in (attempt.error or "")
    assert 1.9 <= attempt.duration_ms / 1000 < 2.0 + 1.5


def test_the_running_worker_keeps_delivering_to_others_while_one_receiver_trickles(
    registry: Registry, receiver: Receiver, trickler: Trickler, model_file: Path
):
    """With a slow request in flight, each new event reaches the healthy subscriber at once."""
    registry.add_webhook(trickler.url(), events=["version_created"], secret=SECRET)
    registry.add_webhook(receiver.url, events=["version_created"], secret=SECRET)
    deliverer = WebhookDeliverer(registry, retry=NO_RETRY_SOON, timeout=4.0)
    stop = threading.Event()
    worker = threading.Thread(target=deliverer.run, args=(stop,), kwargs={"idle_interval": 0.05}, daemon=True)
    worker.start()
    waits = []
    try:
        for expected in (1, 2, 3):
            registered = time.monotonic()
            registry.register("fraud", model_file)
            wait_until(lambda n=expected: len(receiver.deliveries) == n, what=f"event {expected} delivered")
            waits.append(receiver.deliveries[-1].received_at - registered)
            if expected == 1:
                wait_until(lambda: trickler.in_flight() == 1, what="the slow request in flight")
        still_trickling = trickler.in_flight() == 1
    finally:
        stop.set()
        worker.join(WAIT)
        deliverer.close()
    assert still_trickling
    assert max(waits) < 1.5


def test_a_lease_that_could_run_out_under_a_request_is_refused(registry: Registry):
    """The lease must outlast the request deadline by LEASE_MARGIN; by default it does, however long the deadline."""
    with pytest.raises(InvalidInput, match="could run out under a request"):
        WebhookDeliverer(registry, timeout=10.0, lease=10.0 + LEASE_MARGIN - 1)
    shortest = WebhookDeliverer(registry, timeout=10.0, lease=10.0 + LEASE_MARGIN)
    long_deadline = WebhookDeliverer(registry, timeout=120.0)
    shortest.close()
    long_deadline.close()
    assert shortest.lease.total_seconds() == 10.0 + LEASE_MARGIN
    assert long_deadline.lease.total_seconds() >= 120.0 + LEASE_MARGIN


def test_a_second_worker_sends_nothing_while_the_first_ones_request_is_in_flight(
    registry: Registry, trickler: Trickler, model_file: Path
):
    """With the shortest lease allowed, the lease is renewed before the request and outlasts it: never two at once."""
    subscription = registry.add_webhook(trickler.url(), events=["version_created"], secret=SECRET)
    registry.register("fraud", model_file)
    first = WebhookDeliverer(registry, retry=NO_RETRY_SOON, timeout=2.0, lease=2.0 + LEASE_MARGIN)
    second = WebhookDeliverer(registry, retry=NO_RETRY_SOON, timeout=2.0, lease=2.0 + LEASE_MARGIN)
    sending = threading.Thread(target=first.deliver_due, daemon=True)
    sending.start()
    try:
        wait_until(lambda: trickler.in_flight() == 1, what="the first worker's request in flight")
        lease_left = lease_seconds_left(registry, subscription.id)
        tries = 0
        while sending.is_alive() and tries < 100:
            second.deliver_due()
            tries += 1
            time.sleep(0.05)
        sending.join(WAIT)
    finally:
        first.close()
        second.close()
    assert not sending.is_alive() and tries > 5
    assert lease_left > 2.0 + 1.0  # more than what is left of the request's deadline, with a margin
    assert len(trickler.connections) == 1
    [attempt] = registry.webhook_deliveries(subscription.id)[0].attempt_log
    assert not attempt.succeeded


def lease_seconds_left(registry: Registry, subscription_id: int) -> float:
    with registry.db.read() as session:
        until = session.scalar(select(WebhookSubscription.lease_until).where(WebhookSubscription.id == subscription_id))
    assert until is not None
    return (until - utcnow()).total_seconds()


def test_every_attempt_is_recorded_and_retries_back_off(registry: Registry, receiver: Receiver, model_file: Path):
    """Two 500s then a 200: three attempts on record, the event delivered once, the retries spaced by the backoff."""
    subscription = registry.add_webhook(receiver.url, events=["version_created"], secret=SECRET)
    receiver.statuses.extend([500, 503])
    registry.register("fraud", model_file)
    backoff = RetryPolicy(first_delay=0.3, factor=2.0, max_delay=0.6, jitter=0.0)
    deliverer = WebhookDeliverer(registry, retry=backoff, timeout=2.0)
    try:
        first = deliverer.deliver_due()
        asked_again = datetime.now(UTC)
        again_at_once = deliverer.deliver_due()
        wait_until(lambda: deliverer.deliver_due().delivered or receiver.deliveries, what="delivered")
    finally:
        deliverer.close()
    [delivery] = registry.webhook_deliveries(subscription.id)
    assert (first.failed, first.next_due is not None) == (1, True)
    # Not due yet: backing off (a machine so busy that the first round outlasted the backoff has nothing to show here;
    # the gaps below still show the backoff).
    assert again_at_once.failed == 0 or asked_again >= first.next_due
    assert [(a.status_code, a.succeeded) for a in delivery.attempt_log] == [(500, False), (503, False), (200, True)]
    assert gap(delivery.attempt_log[0], delivery.attempt_log[1]) >= 0.3
    assert gap(delivery.attempt_log[1], delivery.attempt_log[2]) >= 0.6
    assert len(receiver.deliveries) == 1
    assert [h.headers["x-registry-delivery-attempt"] for h in receiver.deliveries] == ["3"]


def gap(a: Any, b: Any) -> float:
    return (b.attempted_at - a.attempted_at).total_seconds()


def test_retry_delays_double_up_to_the_cap():
    policy = RetryPolicy(first_delay=1.0, factor=2.0, max_delay=60.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    spread = RetryPolicy(first_delay=10.0, max_delay=60.0, jitter=0.1)
    assert spread.delay(1, rand=lambda: 0.0) == pytest.approx(9.0)
    assert spread.delay(1, rand=lambda: 1.0) == pytest.approx(11.0)


def test_two_delivery_workers_deliver_each_event_once_and_in_order(
    registry: Registry, receiver: Receiver, model_file: Path
):
    """The subscription lease keeps two workers from interleaving one subscriber's queue."""
    registry.add_webhook(receiver.url, events=["version_created"], secret=SECRET)
    for _ in range(12):
        registry.register("fraud", model_file)
    workers = [WebhookDeliverer(registry, retry=FAST_RETRIES, timeout=2.0) for _ in range(2)]
    try:
        threads = [threading.Thread(target=w.deliver_due) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        deliver_now(registry)
    finally:
        for worker in workers:
            worker.close()
    assert [e["version"] for e in receiver.events()] == list(range(1, 13))


def test_a_refused_change_queues_no_event(registry: Registry, model_file: Path):
    """The outbox is written in the change's transaction: a promotion refused by its gates leaves nothing to deliver."""
    subscription = registry.add_webhook("http://127.0.0.1:9/unused", events=["promoted", "stage_changed"], secret=SECRET)
    registry.register("fraud", model_file)
    registry.transition("fraud", 1, "Staging")
    with pytest.raises(GateUnmet):
        registry.promote("fraud", 1)
    assert [d.event_type for d in registry.webhook_deliveries(subscription.id)] == ["stage_changed"]


def test_a_removed_subscription_receives_nothing_more(registry: Registry, receiver: Receiver, model_file: Path):
    subscription = registry.add_webhook(receiver.url, events=["version_created"], secret=SECRET)
    registry.register("fraud", model_file)
    removed = registry.remove_webhook(subscription.id)
    registry.register("fraud", model_file)
    deliver_now(registry)
    assert receiver.deliveries == []
    assert removed.pending == 1
    assert registry.list_webhooks() == []
    assert [w.id for w in registry.list_webhooks(include_removed=True)] == [subscription.id]
    with pytest.raises(NotFound, match="no webhook subscription"):
        registry.remove_webhook(subscription.id)


# --- subscriptions: validation and audit ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["ftp://hooks.example.com/registry", "file:///etc/passwd", "javascript:alert(1)", "hooks.example.com/registry",
     "http:///no-host", "https://", "http://exa mple.com/", "", "http://example.com:99999/"],
    ids=["ftp", "file", "javascript", "no-scheme", "no-host", "bare-scheme", "space", "empty", "bad-port"],
)
def test_a_webhook_url_outside_http_is_refused(registry: Registry, url: str):
    with pytest.raises(InvalidInput):
        registry.add_webhook(url, events=["promoted"], secret=SECRET)
    assert registry.list_webhooks(include_removed=True) == []
    assert registry.audit_events() == []


@pytest.mark.parametrize(
    ("events", "secret", "message"),
    [(["promotd"], SECRET, "unknown event type"), ([], SECRET, "at least one event type"),
     (["promoted"], "short", "16 to 512 characters"), ("promoted", SECRET, "list of names"),
     (["promoted"], "whsec_not-base64-at-all!", "must be base64"),
     (["promoted"], "whsec_" + base64.b64encode(b"16 bytes of key.").decode(), "24 to 64 bytes, not 16")],
    ids=["unknown-event", "no-events", "short-secret", "events-as-string", "whsec-not-base64", "whsec-short-key"],
)
def test_a_bad_subscription_is_refused_with_the_reason(registry: Registry, events: Any, secret: str, message: str):
    with pytest.raises(InvalidInput, match=message):
        registry.add_webhook("https://hooks.example.com/registry", events=events, secret=secret)


def test_subscription_changes_are_audited_without_the_secret(registry: Registry):
    added = registry.add_webhook("https://hooks.example.com/registry", events=["promoted", "deployed"], secret=SECRET)
    registry.as_actor("bob").remove_webhook(added.id)
    events = registry.audit_events()
    assert [(e.action, e.actor) for e in events] == [("webhook.add", "alice"), ("webhook.remove", "bob")]
    digest = events[0].after.pop("secret_digest")
    assert events[0].after == {"id": added.id, "url": "https://hooks.example.com/registry",
                               "events": ["deployed", "promoted"], "model": None}
    assert digest.startswith("scrypt$")  # salted and slow: the secret cannot be read back from the log
    assert SECRET not in json.dumps([e.before for e in events] + [e.after for e in events])
    assert registry.verify_audit().intact


def test_without_subscriptions_a_change_queues_nothing(registry: Registry, database_url: str, model_file: Path):
    ready_version(registry, model_file)
    registry.promote("fraud", 1)
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM webhook_outbox")).scalar_one() == 0
    finally:
        engine.dispose()


def test_every_event_type_is_raised_by_some_audit_action():
    assert {t for types in ACTION_EVENTS.values() for t in types} == set(EventType)


# --- the command line ---------------------------------------------------------------------------------------------


@pytest.fixture
def run(database_url: str, artifact_root: Path) -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root),
               "REGISTRY_ACTOR": "alice"}
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_webhook_commands_add_list_deliver_and_remove(run: Callable[..., Result], receiver: Receiver, model_file: Path):
    added = run("webhook", "add", receiver.url, "--event", "version_created", "--event", "promoted",
                "--secret", SECRET, "--json")
    assert added.exit_code == 0, added.stderr
    subscription = json.loads(added.stdout)
    assert subscription["events"] == ["promoted", "version_created"] and "secret" not in subscription
    assert run("register", "fraud", str(model_file)).exit_code == 0
    listed = run("webhook", "list")
    assert f"{receiver.url}" in listed.stdout and "promoted,version_created" in listed.stdout and SECRET not in listed.stdout
    delivered = run("webhook", "deliver", "--once", "--json")
    assert delivered.exit_code == 0, delivered.stderr
    assert json.loads(delivered.stdout)["delivered"] == 1
    assert [e["type"] for e in receiver.events()] == ["version_created"]
    history = run("webhook", "deliveries", str(subscription["id"]))
    assert "version_created" in history.stdout and "HTTP 200" in history.stdout
    removed = run("webhook", "remove", str(subscription["id"]))
    assert removed.exit_code == 0 and "Removed webhook" in removed.stdout
    assert run("webhook", "list").stdout.strip() == "no webhooks"


@pytest.mark.parametrize(
    "args",
    [("webhook", "add", "ftp://example.com/x", "--event", "promoted", "--secret", SECRET),
     ("webhook", "add", "https://example.com/x", "--event", "nope", "--secret", SECRET),
     ("webhook", "remove", "42"), ("webhook", "remove", "abc")],
    ids=["ftp-url", "unknown-event", "missing-id", "bad-id"],
)
def test_webhook_commands_refuse_with_one_line_and_exit_1(run: Callable[..., Result], args: tuple[str, ...]):
    result = run(*args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("registry: error: ")

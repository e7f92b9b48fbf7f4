"""Webhooks: events from the outbox reach real HTTP receivers on loopback, signed, in order, at least once."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from registry_core import GateUnmet, InvalidInput, NotFound, Registry
from registry_core.cli import cli
from registry_core.webhooks import ACTION_EVENTS, EventType, verify_signature
from registry_core.webhooks.delivery import RetryPolicy, WebhookDeliverer

SECRET = "whsec-for-the-risk-team"
#: Every wait in this module gives up after this long.
WAIT = 10.0
FAST_RETRIES = RetryPolicy(first_delay=0.05, factor=2.0, max_delay=0.2, jitter=0.0)


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes

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


def test_deliveries_are_signed_with_the_subscriber_secret(registry: Registry, receiver: Receiver, model_file: Path):
    """X-Registry-Signature is sha256=HMAC-SHA256(secret, body): it verifies with the subscriber's secret and no other."""
    registry.add_webhook(receiver.url, events=["version_created"], secret=SECRET)
    registry.register("fraud", model_file)
    deliver_now(registry)
    [delivery] = receiver.deliveries
    expected = "sha256=" + hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["x-registry-signature"] == expected
    assert verify_signature(SECRET, delivery.body, delivery.headers["x-registry-signature"])
    assert not verify_signature("another-secret-entirely", delivery.body, delivery.headers["x-registry-signature"])
    assert not verify_signature(SECRET, delivery.body + b" ", delivery.headers["x-registry-signature"])
    assert delivery.headers["x-registry-event"] == "version_created"
    assert delivery.headers["x-registry-event-id"] == delivery.event["id"]
    assert delivery.headers["content-type"] == "application/json"


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
    durations = []
    for version in versions:
        started = time.perf_counter()
        registry.promote("fraud", version)
        durations.append(time.perf_counter() - started)
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
    assert max(durations) < 0.5, durations
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
    deliverer = WebhookDeliverer(registry, retry=FAST_RETRIES, timeout=3.0)
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
    assert elapsed < 1.0
    assert len(stuck) == 11 and all(at is None for at in stuck)


def test_every_attempt_is_recorded_and_retries_back_off(registry: Registry, receiver: Receiver, model_file: Path):
    """Two 500s then a 200: three attempts on record, the event delivered once, the retries spaced by the backoff."""
    subscription = registry.add_webhook(receiver.url, events=["version_created"], secret=SECRET)
    receiver.statuses.extend([500, 503])
    registry.register("fraud", model_file)
    backoff = RetryPolicy(first_delay=0.3, factor=2.0, max_delay=0.6, jitter=0.0)
    deliverer = WebhookDeliverer(registry, retry=backoff, timeout=2.0)
    try:
        first = deliverer.deliver_due()
        again_at_once = deliverer.deliver_due()
        wait_until(lambda: deliverer.deliver_due().delivered or receiver.deliveries, what="delivered")
    finally:
        deliverer.close()
    [delivery] = registry.webhook_deliveries(subscription.id)
    assert (first.failed, first.next_due is not None) == (1, True)
    assert again_at_once.failed == 0  # not due yet: backing off
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
     (["promoted"], "short", "16 to 512 characters"), ("promoted", SECRET, "list of names")],
    ids=["unknown-event", "no-events", "short-secret", "events-as-string"],
)
def test_a_bad_subscription_is_refused_with_the_reason(registry: Registry, events: Any, secret: str, message: str):
    with pytest.raises(InvalidInput, match=message):
        registry.add_webhook("https://hooks.example.com/registry", events=events, secret=secret)


def test_subscription_changes_are_audited_without_the_secret(registry: Registry):
    added = registry.add_webhook("https://hooks.example.com/registry", events=["promoted", "deployed"], secret=SECRET)
    registry.as_actor("bob").remove_webhook(added.id)
    events = registry.audit_events()
    assert [(e.action, e.actor) for e in events] == [("webhook.add", "alice"), ("webhook.remove", "bob")]
    assert events[0].after == {"id": added.id, "url": "https://hooks.example.com/registry",
                               "events": ["deployed", "promoted"], "model": None}
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

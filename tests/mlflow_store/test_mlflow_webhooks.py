"""MLflow's webhooks API through MlflowClient on the catalog: CRUD, MLflow's errors, deliveries through the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback import RecordingServer, redirecting_to
from mlflow import MlflowClient
from mlflow.entities.webhook import WebhookEvent, WebhookStatus
from mlflow.exceptions import MlflowException
from sqlalchemy import text
from tampering import verify_divergences

from registry_core.webhooks.delivery import WebhookDeliverer

from .conftest import MlflowSetup
from .mlflow_receiver import MlflowReceiver

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

SECRET = "a-secret-known-to-the-receiver"
ALL = [
    "registered_model.created", "model_version.created", "model_version_tag.set", "model_version_tag.deleted",
    "model_version_alias.created", "model_version_alias.deleted",
]


@pytest.fixture
def receiver() -> Iterator[MlflowReceiver]:
    server = MlflowReceiver(SECRET)
    try:
        yield server
    finally:
        server.close()


def _events(*names: str) -> list[WebhookEvent]:
    return [WebhookEvent.from_str(name) for name in names]


def _register(client: MlflowClient, folder: Path, name: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    client.create_model_version(name, str(folder), run_id="run-1")


def _deliver(setup: MlflowSetup) -> int:
    with setup.registry() as registry:
        deliverer = WebhookDeliverer(registry, timeout=5.0)
        try:
            return deliverer.deliver_due().delivered
        finally:
            deliverer.close()


def test_create_get_update_list_delete(mlflow_setup: MlflowSetup):
    """The whole lifecycle with MLflow's entities; the secret is never read back (create echoes the caller's own)."""
    client = MlflowClient()
    hook = client.create_webhook("ci-hook", "https://hooks.example.com/mlflow", _events("model_version.created"),
                                 description="CI", secret=SECRET)
    assert hook.name == "ci-hook" and hook.status == WebhookStatus.ACTIVE and hook.secret == SECRET
    assert hook.events == _events("model_version.created") and hook.description == "CI"
    fetched = client.get_webhook(hook.webhook_id)
    assert fetched.url == hook.url and fetched.secret is None
    changed = client.update_webhook(hook.webhook_id, name="ci-hook-2", status=WebhookStatus.DISABLED,
                                    events=_events("model_version_alias.created", "model_version.created"))
    assert changed.name == "ci-hook-2" and changed.status == WebhookStatus.DISABLED
    assert sorted(str(e) for e in changed.events) == ["model_version.created", "model_version_alias.created"]
    assert changed.last_updated_timestamp >= changed.creation_timestamp
    assert [w.webhook_id for w in client.list_webhooks()] == [hook.webhook_id]
    client.delete_webhook(hook.webhook_id)
    assert list(client.list_webhooks()) == []
    with pytest.raises(MlflowException) as caught:
        client.get_webhook(hook.webhook_id)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_list_pages_newest_first_as_mlflow_does(mlflow_setup: MlflowSetup):
    client = MlflowClient()
    ids = [client.create_webhook(f"hook-{n}", f"https://h{n}.example.com/x", _events("model_version.created")).webhook_id
           for n in range(5)]
    first = client.list_webhooks(max_results=2)
    second = client.list_webhooks(max_results=2, page_token=first.token)
    third = client.list_webhooks(max_results=2, page_token=second.token)
    assert [w.webhook_id for w in [*first, *second, *third]] == list(reversed(ids))
    assert first.token and second.token and third.token is None
    with pytest.raises(MlflowException) as caught:
        client.list_webhooks(max_results=1001)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda c: c.create_webhook("bad name!", "https://h.example.com/", _events("model_version.created")),
         "INVALID_PARAMETER_VALUE"),
        (lambda c: c.create_webhook("ok", "ftp://h.example.com/", _events("model_version.created")),
         "INVALID_PARAMETER_VALUE"),
        (lambda c: c.create_webhook("ok", "https://h.example.com/", []), "INVALID_PARAMETER_VALUE"),
        (lambda c: c.create_webhook("ok", "https://h.example.com/", _events("prompt.created")),
         "INVALID_PARAMETER_VALUE"),
        (lambda c: c.get_webhook("999"), "RESOURCE_DOES_NOT_EXIST"),
        (lambda c: c.get_webhook("not-an-id"), "RESOURCE_DOES_NOT_EXIST"),
        (lambda c: c.update_webhook("999", name="x"), "RESOURCE_DOES_NOT_EXIST"),
        (lambda c: c.delete_webhook("999"), "RESOURCE_DOES_NOT_EXIST"),
    ],
    ids=["bad-name", "bad-scheme", "no-events", "prompt-event", "missing", "malformed-id", "update-missing",
         "delete-missing"],
)
def test_bad_input_is_mlflows_error_and_changes_nothing(mlflow_setup: MlflowSetup, call, code: str):
    client = MlflowClient()
    with mlflow_setup.registry() as registry:
        before = len(registry.audit_events(None, limit=100))
    with pytest.raises(MlflowException) as caught:
        call(client)
    assert caught.value.error_code == code
    assert list(client.list_webhooks()) == []
    with mlflow_setup.registry() as registry:
        assert len(registry.audit_events(None, limit=100)) == before


def test_deliveries_carry_mlflows_payloads_and_verify_against_its_documented_scheme(
    mlflow_setup: MlflowSetup, receiver: MlflowReceiver, tmp_path: Path
):
    client = MlflowClient()
    client.create_webhook("all", receiver.url, _events(*ALL), secret=SECRET)
    client.create_registered_model("fraud")
    _register(client, tmp_path / "m", "fraud")
    client.set_model_version_tag("fraud", "1", "validated", "yes")
    client.delete_model_version_tag("fraud", "1", "validated")
    client.set_registered_model_alias("fraud", "champion", "1")
    client.delete_registered_model_alias("fraud", "champion")
    assert _deliver(mlflow_setup) == 6
    assert receiver.events() == ALL
    assert all(r.verified for r in receiver.received), receiver.received
    assert len({r.delivery_id for r in receiver.received}) == 6
    bodies = [r.body for r in receiver.received]
    assert bodies[0]["data"] == {"name": "fraud", "tags": {}, "description": None}
    created = bodies[1]["data"]
    assert (created["name"], created["version"], created["run_id"]) == ("fraud", "1", "run-1")
    assert created["source"] == str(tmp_path / "m") and set(created) == {
        "name", "version", "source", "run_id", "tags", "description"}
    assert bodies[2]["data"] == {"name": "fraud", "version": "1", "key": "validated", "value": "yes"}
    assert bodies[3]["data"] == {"name": "fraud", "version": "1", "key": "validated"}
    assert bodies[4]["data"] == {"name": "fraud", "alias": "champion", "version": "1"}
    assert bodies[5]["data"] == {"name": "fraud", "alias": "champion"}
    assert all(set(b) == {"entity", "action", "timestamp", "data"} for b in bodies)
    assert _deliver(mlflow_setup) == 0  # delivered once


def test_only_subscribed_events_and_no_deliveries_while_disabled(
    mlflow_setup: MlflowSetup, receiver: MlflowReceiver, tmp_path: Path
):
    client = MlflowClient()
    hook = client.create_webhook("versions", receiver.url, _events("model_version.created"), secret=SECRET)
    client.create_registered_model("fraud")
    client.update_webhook(hook.webhook_id, status=WebhookStatus.DISABLED)
    _register(client, tmp_path / "m", "fraud")
    assert _deliver(mlflow_setup) == 0
    client.update_webhook(hook.webhook_id, status=WebhookStatus.ACTIVE)
    client.set_model_version_tag("fraud", "1", "k", "v")
    _register(client, tmp_path / "m2", "fraud")
    assert _deliver(mlflow_setup) == 1
    assert receiver.events() == ["model_version.created"] and receiver.received[0].body["data"]["version"] == "2"


def test_a_forged_signature_fails_the_documented_check(mlflow_setup: MlflowSetup, receiver: MlflowReceiver):
    """A receiver that knows another secret rejects our delivery: the check is not vacuous."""
    client = MlflowClient()
    client.create_webhook("wrong", receiver.url, _events("registered_model.created"), secret="not-" + SECRET)
    client.create_registered_model("fraud")
    assert _deliver(mlflow_setup) == 0  # 401: retried later, never counted as delivered
    assert len(receiver.received) == 1 and not receiver.received[0].verified


def test_test_webhook_sends_mlflows_example_payload(mlflow_setup: MlflowSetup, receiver: MlflowReceiver):
    client = MlflowClient()
    hook = client.create_webhook("t", receiver.url, _events("model_version_alias.created"), secret=SECRET)
    result = client.test_webhook(hook.webhook_id)
    assert result.success and result.response_status == 200 and result.error_message is None
    (received,) = receiver.received
    assert received.verified and received.event == "model_version_alias.created"
    assert set(received.body["data"]) == {"name", "alias", "version"}
    tag = client.test_webhook(hook.webhook_id, event=WebhookEvent.from_str("model_version_tag.set"))
    assert tag.success and receiver.received[1].event == "model_version_tag.set"


def test_test_webhook_reports_an_unreachable_receiver(mlflow_setup: MlflowSetup, receiver: MlflowReceiver):
    client = MlflowClient()
    url = receiver.url
    receiver.close()
    hook = client.create_webhook("gone", url, _events("model_version.created"), secret=SECRET)
    result = client.test_webhook(hook.webhook_id)
    assert not result.success and result.response_status is None and "Failed to test webhook" in result.error_message


def test_changes_are_audited_and_verified(mlflow_setup: MlflowSetup, receiver: MlflowReceiver, tmp_path: Path):
    client = MlflowClient()
    hook = client.create_webhook("audited", receiver.url, _events(*ALL), secret=SECRET)
    client.create_registered_model("fraud")
    _register(client, tmp_path / "m", "fraud")
    client.set_model_version_tag("fraud", "1", "a", "1")
    client.update_webhook(hook.webhook_id, secret="another-secret-value", events=_events("model_version_tag.set"))
    client.set_model_version_tag("fraud", "1", "b", "2")
    client.delete_webhook(hook.webhook_id)
    client.set_model_version_tag("fraud", "1", "c", "3")
    with mlflow_setup.registry() as registry:
        actions = [e.action for e in registry.audit_events(None, limit=100, actions=[
            "webhook.add", "webhook.update", "webhook.remove"])]
        assert sorted(actions) == ["webhook.add", "webhook.remove", "webhook.update"]
        assert all(SECRET not in repr(e.after) for e in registry.audit_events(None, limit=100))
        report = registry.verify_audit()
        assert report.intact, report.divergences


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("UPDATE webhook_subscriptions SET status = 'ACTIVE'", "its status is 'ACTIVE', the audit log says 'DISABLED'"),
        ("UPDATE webhook_subscriptions SET url = 'https://evil.example.net/x'", "its URL differs"),
        ("UPDATE webhook_subscriptions SET secret = 'stolen-and-replaced'", "its secret is not the one"),
        ("UPDATE webhook_outbox SET body = replace(body, 'fraud', 'other')", "its body differs"),
    ],
    ids=["status", "url", "secret", "outbox-body"],
)
def test_verify_names_an_mlflow_webhook_edited_behind_the_log(
    mlflow_setup: MlflowSetup, tmp_path: Path, statement: str, expected: str
):
    client = MlflowClient()
    hook = client.create_webhook("edited", "https://hooks.example.com/x", _events(*ALL), secret=SECRET)
    client.create_registered_model("fraud")
    client.update_webhook(hook.webhook_id, status=WebhookStatus.DISABLED)
    with mlflow_setup.registry() as registry:
        assert registry.verify_audit().intact
        with registry.db.engine.begin() as connection:
            connection.execute(text(statement))
    lines = verify_divergences(mlflow_setup.database_url, mlflow_setup.artifact_root)
    assert len(lines) == 1 and expected in lines[0], lines


def test_a_redirecting_receiver_is_a_failed_delivery_and_the_redirect_is_never_followed(mlflow_setup: MlflowSetup):
    """An attacker who controls the receiver cannot bounce the signed delivery elsewhere (e.g. an internal host)."""
    target = RecordingServer()
    bouncer = redirecting_to(target.url("/internal"), status=307)
    try:
        client = MlflowClient()
        client.create_webhook("bounce", bouncer.url("/hook"), _events("registered_model.created"), secret=SECRET)
        client.create_registered_model("fraud")
        assert _deliver(mlflow_setup) == 0
        assert len(bouncer.requests) == 1 and target.requests == []
        with mlflow_setup.registry() as registry:
            (hook,) = registry.list_webhooks()
            (delivery,) = registry.webhook_deliveries(hook.id)
        assert delivery.delivered_at is None and "307" in (delivery.last_error or "")
    finally:
        bouncer.close()
        target.close()

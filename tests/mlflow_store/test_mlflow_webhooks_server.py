"""MLflow's webhooks REST API through a live `mlflow server` on the catalog: each event reaches a receiver once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.entities.webhook import WebhookEvent
from mlflow.exceptions import MlflowException

from .live_server import LiveServer
from .mlflow_receiver import MlflowReceiver

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

SECRET = "a-secret-known-to-the-receiver"
EVENTS = ["registered_model.created", "model_version.created", "model_version_tag.set",
          "model_version_alias.created", "model_version_alias.deleted"]


def test_each_event_is_delivered_once_through_mlflow_server(live_server: LiveServer, tmp_path: Path):
    """The server's own delivery finds no webhooks; the outbox delivers each event once, verified by the receiver."""
    receiver = MlflowReceiver(SECRET)
    try:
        client = MlflowClient(tracking_uri=live_server.url, registry_uri=live_server.url)
        hook = client.create_webhook("live", receiver.url, [WebhookEvent.from_str(e) for e in EVENTS], secret=SECRET)
        assert client.get_webhook(hook.webhook_id).secret is None
        client.create_registered_model("fraud")
        artifact = tmp_path / "model.bin"
        artifact.write_bytes(b"weights")
        # `mlflow server` takes no local source; a version registered by the registry raises MLflow's event too.
        registered = live_server.registry_cli("register", "fraud", str(artifact))
        assert registered.returncode == 0, registered.stderr
        client.set_model_version_tag("fraud", "1", "validated", "yes")
        client.set_registered_model_alias("fraud", "champion", "1")
        client.delete_registered_model_alias("fraud", "champion")
        time.sleep(1.0)  # what mlflow server would deliver by itself, it would have sent by now
        assert receiver.received == []
        delivered = live_server.registry_cli("webhook", "deliver", "--once", "--timeout", "5")
        assert delivered.returncode == 0, delivered.stderr
        receiver.wait_for(len(EVENTS))
        assert receiver.events() == EVENTS
        assert all(r.verified for r in receiver.received)
        assert len({r.delivery_id for r in receiver.received}) == len(EVENTS)
        again = live_server.registry_cli("webhook", "deliver", "--once", "--timeout", "5")
        assert again.returncode == 0 and len(receiver.received) == len(EVENTS)
        client.delete_webhook(hook.webhook_id)
        assert list(client.list_webhooks()) == []
        assert live_server.registry_cli("audit", "--verify").returncode == 0
    finally:
        receiver.close()


def test_bad_input_over_rest_is_a_4xx_with_mlflows_code(live_server: LiveServer):
    client = MlflowClient(tracking_uri=live_server.url, registry_uri=live_server.url)
    with pytest.raises(MlflowException) as caught:
        client.create_webhook("bad name!", "https://h.example.com/", [WebhookEvent.from_str("model_version.created")])
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    response = httpx.get(f"{live_server.url}/api/2.0/mlflow/webhooks/12345", timeout=10)
    assert response.status_code == 404 and response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert list(client.list_webhooks()) == []
    assert "Traceback" not in live_server.log.read_text()

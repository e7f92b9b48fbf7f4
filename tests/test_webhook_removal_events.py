"""Deleted versions and models, and bytes attached to a reference, reach webhook receivers like every other event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import standardwebhooks
from sqlalchemy import text
from tampering import sql, verify_divergences
from test_webhooks import STANDARD_SECRET, Receiver, deliver_now

from registry_core import ArtifactReference, Registry, SchemaMismatch
from registry_core.webhooks import EventType
from registry_core.webhooks.events import parse_event_types

NEW = ["version_deleted", "model_deleted", "artifact_attached"]


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """The migration test downgrades the catalog the ``registry`` fixture opened."""
    return empty_database_url


@pytest.fixture
def receiver() -> Any:
    up = Receiver()
    try:
        yield up
    finally:
        up.close()


def delivered(receiver: Receiver) -> list[dict[str, Any]]:
    """Each delivery's event, after the reference library verified its signature."""
    return [standardwebhooks.Webhook(STANDARD_SECRET).verify(d.body, d.headers) for d in receiver.deliveries]


def test_all_takes_the_new_types():
    assert set(NEW) <= {event.value for event in parse_event_types(["all"])}
    assert {event.value for event in EventType} >= set(NEW)


def test_a_deleted_version_is_delivered_with_what_it_was(registry: Registry, receiver: Receiver, model_file: Path):
    registry.add_webhook(receiver.url, events=["version_deleted"], secret=STANDARD_SECRET)
    kept = registry.register("fraud", model_file)
    gone = registry.register("fraud", model_file)
    registry.set_alias("fraud", "challenger", gone.version)
    registry.delete_version("fraud", gone.version)
    deliver_now(registry)
    [event] = delivered(receiver)
    assert (event["type"], event["model"], event["version"], event["actor"]) == ("version_deleted", "fraud", 2, "alice")
    assert event["data"] == {"stage": "None", "artifact_sha256": gone.artifact_sha256, "artifact_kind": gone.artifact_kind,
                             "aliases": ["challenger"]}
    assert registry.get_version("fraud", kept.version).version == 1
    assert registry.verify_audit().intact


def test_a_deleted_model_reaches_the_subscription_filtered_to_it(
    registry: Registry, receiver: Receiver, model_file: Path
):
    """The subscription names the model by name: it still gets the model's last event once every row is gone."""
    registry.add_webhook(receiver.url, events=["model_deleted"], secret=STANDARD_SECRET, model="churn")
    for name in ("churn", "churn", "fraud"):
        registry.register(name, model_file)
    registry.set_alias("churn", "champion", 1)
    registry.transition("churn", 2, "Archived")
    registry.delete_model("fraud")
    registry.delete_model("churn")
    deliver_now(registry)
    [event] = delivered(receiver)
    assert (event["type"], event["model"], event["version"]) == ("model_deleted", "churn", None)
    assert event["data"] == {"versions": {"1": "None", "2": "Archived"}, "aliases": {"champion": 1}}
    assert registry.list_models() == []
    assert registry.verify_audit().intact


def test_attached_bytes_are_delivered_with_the_source_they_replace(
    registry: Registry, receiver: Receiver, model_file: Path
):
    registry.add_webhook(receiver.url, events=["all"], secret=STANDARD_SECRET)
    registry.register("fraud", ArtifactReference("s3://team-bucket/model"))
    version = registry.attach("fraud", 1, model_file)
    deliver_now(registry)
    events = delivered(receiver)
    assert [e["type"] for e in events] == ["version_created", "artifact_attached"]
    assert events[1]["data"] == {"source": "s3://team-bucket/model", "artifact_sha256": version.artifact_sha256,
                                 "artifact_kind": version.artifact_kind, "artifact_size": version.artifact_size}


def test_verify_names_a_rewritten_deletion_delivery(
    registry: Registry, model_file: Path, engine, database_url: str, artifact_root: Path
):
    """A delivery that would tell a receiver another version went is named, like every other rewritten body."""
    registry.add_webhook("https://hooks.example.com/registry", events=["version_deleted"], secret=STANDARD_SECRET)
    registry.register("fraud", model_file)
    registry.register("fraud", model_file)
    registry.delete_version("fraud", 2)
    sql(engine, "UPDATE webhook_outbox SET body = REPLACE(body, :was, :now)", was='"version":2', now='"version":1')
    lines = verify_divergences(database_url, artifact_root)
    assert any("version_deleted" in line and "its body differs from the event it reports" in line for line in lines), lines


def test_a_downgrade_below_0013_keeps_queued_deliveries_of_the_new_types(
    registry: Registry, model_file: Path, engine
):
    """Refused in one line while the outbox holds such a delivery, and nothing changes; allowed without one."""
    registry.register("fraud", model_file)
    assert registry.db.downgrade("0012").current == "0012"
    assert registry.db.upgrade().up_to_date
    registry.add_webhook("https://hooks.example.com/registry", events=["model_deleted"], secret=STANDARD_SECRET)
    registry.delete_model("fraud")
    with pytest.raises(SchemaMismatch, match="cannot hold; downgrading would lose their delivery history"):
        registry.db.downgrade("0012")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0013"
        assert connection.execute(text("SELECT event_type FROM webhook_outbox")).scalars().all() == ["model_deleted"]

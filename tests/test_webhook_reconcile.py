"""`registry audit --verify` checks webhook subscriptions and the outbox against the audit log."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from tampering import sql, verify_divergences

from registry_core import Registry

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"m" * 32).decode()
HOOK = "https://hooks.example.com/registry"


@pytest.fixture
def subscribed(registry: Registry, model_file) -> Registry:
    """Two subscriptions (every event; fraud's promotions) and two events queued for the first, none delivered."""
    registry.add_webhook(HOOK, events=["all"], secret=SECRET)
    registry.add_webhook("https://ci.example.com/hooks", events=["promoted"], secret=SECRET, model="fraud")
    registry.register("fraud", model_file)
    registry.record_check("fraud", 1, "auc", passed=True)
    assert registry.verify_audit().intact
    return registry


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (f"UPDATE webhook_subscriptions SET url = 'https://evil.example.net/registry' WHERE url = '{HOOK}'",
         "webhook_subscriptions 1 (https://evil.example.net/registry): its URL differs from the one added"),
        (f"UPDATE webhook_subscriptions SET secret = '{OTHER_SECRET}' WHERE url = '{HOOK}'",
         f"webhook_subscriptions 1 ({HOOK}): its secret is not the one it was added with"),
        (f"""UPDATE webhook_subscriptions SET events = '["promoted"]' WHERE url = '{HOOK}'""",
         f"webhook_subscriptions 1 ({HOOK}): its events ['promoted'] differ"),
        (f"UPDATE webhook_subscriptions SET removed_at = CURRENT_TIMESTAMP, removed_by = 'x' WHERE url = '{HOOK}'",
         f"webhook_subscriptions 1 ({HOOK}): is marked removed without an audit event"),
        ("INSERT INTO webhook_subscriptions (url, events, model, secret, created_by, created_at) "
         f"""VALUES ('https://evil.example.net/x', '["all"]', NULL, '{SECRET}', 'alice', CURRENT_TIMESTAMP)""",
         "webhook_subscriptions 3 (https://evil.example.net/x): no audit event added this subscription"),
        ("DELETE FROM webhook_subscriptions WHERE model = 'fraud'",
         "webhook_subscriptions 2 (https://ci.example.com/hooks): added but missing"),
        ("DELETE FROM webhook_outbox WHERE event_type = 'check_recorded'",
         "webhook_outbox check_recorded of event 5 for subscription 1: owed but missing"),
        ("""UPDATE webhook_outbox SET body = '{"id": "x", "type": "check_recorded"}' """
         "WHERE event_type = 'check_recorded'",
         "its body differs from the event it reports"),
        ("INSERT INTO webhook_outbox (subscription_id, audit_seq, event_id, event_type, body, created_at, attempts, "
         "next_attempt_at) SELECT subscription_id, audit_seq, 'evt_copy', event_type, body, created_at, 0, "
         "next_attempt_at FROM webhook_outbox WHERE event_type = 'check_recorded'",
         "no event owes this delivery: it was inserted or copied"),
    ],
    ids=["url-moved", "secret-replaced", "events-changed", "removed-silently", "inserted", "deleted",
         "outbox-row-deleted", "outbox-body-rewritten", "outbox-row-copied"],
)
def test_verify_names_a_webhook_row_changed_around_the_registry(
    subscribed: Registry, engine, database_url: str, artifact_root: Path, statement: str, expected: str
):
    sql(engine, statement)
    lines = verify_divergences(database_url, artifact_root)
    assert len(lines) == 1 and expected in lines[0], lines


def test_the_add_event_records_a_digest_of_the_secret_never_the_secret(subscribed: Registry):
    from registry_core.webhooks.ledger import secret_matches

    event = subscribed.audit_events(None, limit=10, actions=["webhook.add"])[0]
    assert SECRET not in repr(event.after) and SECRET[6:] not in repr(event.after)
    assert secret_matches(SECRET, event.after["secret_digest"])
    assert not secret_matches(OTHER_SECRET, event.after["secret_digest"])


def test_removing_and_promoting_through_the_registry_stays_intact(subscribed: Registry):
    """Events raised after a removal are owed to no one; the live subscriptions' ones are all there."""
    subscribed.remove_webhook(1)
    subscribed.transition("fraud", 1, "Staging")
    subscribed.as_actor("bob").approve("fraud", 1)
    subscribed.promote("fraud", 1)
    subscribed.add_webhook(HOOK, events=["stage_changed"], secret=OTHER_SECRET)
    subscribed.transition("fraud", 1, "Archived")
    report = subscribed.verify_audit()
    assert report.intact, report.divergences

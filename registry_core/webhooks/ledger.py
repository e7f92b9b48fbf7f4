"""What the audit log says the webhook tables hold: subscriptions as added and removed, and every event owed.

A subscription's URL, events, model and (as a salted scrypt digest, never the
secret) its secret are recorded by ``webhook.add``; its end by ``webhook.remove``.
Replaying those events, and every event that raises a webhook, gives the
outbox rows each subscription is owed: one per (subscription, audit event,
event type) for every subscription live when the event was appended, whose
body is the one :func:`~registry_core.webhooks.events.event_body` makes of it.
A row deleted before delivery, inserted, or rewritten is named.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from ..actions import AuditAction
from ..audit import canonical_json
from ..divergence import Divergence
from ..schema import WebhookOutbox, WebhookSubscription
from .events import EventType, event_body, events_for
from .mlflow_events import MLFLOW_ACTIONS, MLFLOW_FLAVOR, mlflow_body, mlflow_events_for

__all__ = ["WebhookLedger", "secret_digest", "secret_matches"]

_SUBSCRIPTIONS = WebhookSubscription.__table__
_OUTBOX = WebhookOutbox.__table__
#: scrypt's cost: a secret without the ``whsec_`` prefix may be a guessable phrase, and the log is widely read.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SUBSCRIPTION_ACTIONS = frozenset({AuditAction.WEBHOOK_ADD, AuditAction.WEBHOOK_UPDATE, AuditAction.WEBHOOK_REMOVE})


def secret_digest(secret: str) -> str:
    """A salted scrypt digest of a webhook secret, fit for the audit log: ``scrypt$n$r$p$salt$digest``."""
    salt = secrets.token_hex(16)
    digest = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt}${digest.hex()}"


def secret_matches(secret: str, digest: str) -> bool:
    """Whether ``secret`` is the one :func:`secret_digest` made ``digest`` of."""
    try:
        scheme, n, r, p, salt, expected = digest.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual.hex(), expected)


@dataclass
class _Subscription:
    seq: int
    actor: str
    url: str
    events: list[str]
    model: str | None
    #: None for a subscription added before the digest was recorded: its secret cannot be compared.
    digest: str | None
    removed_seq: int | None = None
    flavor: str | None = None
    status: str | None = None


def _body_digest(body: str) -> bytes:
    """A delivery body without its random event id, hashed: what the outbox row must carry."""
    document = json.loads(body)
    document["id"] = ""
    return hashlib.sha256(canonical_json(document).encode()).digest()[:16]


class WebhookLedger:
    """The webhook rows the audit log vouches for, built by :meth:`see` -ing every event in order."""

    def __init__(self) -> None:
        self.subscriptions: dict[int, _Subscription] = {}
        self._live: dict[int, _Subscription] = {}
        #: (subscription, audit event, event type) -> digest of the body owed.
        self.owed: dict[tuple[int, int, str], bytes] = {}
        #: The same for MLflow subscriptions, where one audit event may owe several rows of a type (one per tag).
        self.mlflow_owed: dict[tuple[int, int, str], list[bytes]] = {}

    def see(
        self, seq: int, recorded_at: str, actor: str, action: str, model: str | None, version: int | None,
        before_text: str, after: dict[str, Any],
    ) -> None:
        """Take one audit event, in sequence order (``before`` is parsed only when it matters)."""
        if action == AuditAction.WEBHOOK_ADD:
            added = _Subscription(
                seq, actor, after["url"], sorted(after["events"]), after.get("model"), after.get("secret_digest"),
                flavor=after.get("flavor"), status=after.get("status"),
            )
            self.subscriptions[after["id"]] = self._live[after["id"]] = added
        elif action == AuditAction.WEBHOOK_UPDATE:
            changed = self._live.get(after.get("id"))
            if changed is not None:
                changed.url, changed.events, changed.status = after["url"], sorted(after["events"]), after.get("status")
                changed.digest = after.get("secret_digest", changed.digest)
        elif action == AuditAction.WEBHOOK_REMOVE:
            removed = self._live.pop(json.loads(before_text).get("id"), None)
            if removed is not None:
                removed.removed_seq = seq
        elif self._live and action in MLFLOW_ACTIONS and any(s.flavor == MLFLOW_FLAVOR for s in self._live.values()):
            self._see_mlflow(seq, recorded_at, action, model, version, json.loads(before_text), after)
        if action not in _SUBSCRIPTION_ACTIONS and self._live and events_for(action):
            before = json.loads(before_text)
            for event_type in events_for(action):
                body: bytes | None = None
                for number, subscription in self._live.items():
                    if (subscription.flavor is None and event_type.value in subscription.events
                            and subscription.model in (None, model)):
                        if body is None:
                            body = _body_digest(self._body(event_type, seq, recorded_at, actor, model, version, before, after))
                        self.owed[(number, seq, event_type.value)] = body

    def _see_mlflow(
        self, seq: int, recorded_at: str, action: str, model: str | None, version: int | None,
        before: dict[str, Any], after: dict[str, Any],
    ) -> None:
        raised = mlflow_events_for(action, model, version, before, after)
        for number, subscription in self._live.items():
            if subscription.flavor != MLFLOW_FLAVOR or subscription.status != "ACTIVE":
                continue
            for name, data in raised:
                if name in subscription.events:
                    body = _body_digest(mlflow_body(name, data, recorded_at))
                    self.mlflow_owed.setdefault((number, seq, name), []).append(body)

    @staticmethod
    def _body(
        event_type: EventType, seq: int, recorded_at: str, actor: str, model: str | None, version: int | None,
        before: dict[str, Any], after: dict[str, Any],
    ) -> str:
        return event_body(
            event_type, event_id="", seq=seq, recorded_at=recorded_at, actor=actor, model=model, version=version,
            before=before, after=after,
        )

    def diverging(self, connection: Connection, *, batch: int) -> Iterator[Divergence]:
        """Every subscription and outbox row that differs from the log, is missing, or has no event."""
        yield from self._subscriptions(connection)
        yield from self._outbox(connection, batch)

    def _subscriptions(self, connection: Connection) -> Iterator[Divergence]:
        seen: set[int] = set()
        for row in connection.execute(select(_SUBSCRIPTIONS).order_by(_SUBSCRIPTIONS.c.id)):
            seen.add(row.id)
            label = f"{row.id} ({row.url})"
            wanted = self.subscriptions.get(row.id)
            if wanted is None:
                yield Divergence("webhook_subscriptions", label, "no audit event added this subscription")
                continue
            differences = [
                f"its URL differs from the one added ({wanted.url})" if row.url != wanted.url else None,
                f"its events {sorted(row.events)} differ from those added {wanted.events}"
                if sorted(row.events) != wanted.events else None,
                f"its model is {row.model!r}, the audit log says {wanted.model!r}" if row.model != wanted.model else None,
                f"created_by is {row.created_by!r}, the event says {wanted.actor!r}"
                if row.created_by != wanted.actor else None,
                f"its status is {row.status!r}, the audit log says {wanted.status!r}"
                if row.status != wanted.status else None,
                "its secret is not the one it was added with"
                if wanted.digest is not None and not secret_matches(row.secret, wanted.digest) else None,
            ]
            for problem in differences:
                if problem is not None:
                    yield Divergence("webhook_subscriptions", label, problem, wanted.seq)
            if row.removed_at is None and wanted.removed_seq is not None:
                yield Divergence("webhook_subscriptions", label, "was removed but is active again", wanted.removed_seq)
            elif row.removed_at is not None and wanted.removed_seq is None:
                yield Divergence("webhook_subscriptions", label, "is marked removed without an audit event", wanted.seq)
        for number in sorted(self.subscriptions.keys() - seen):
            wanted = self.subscriptions[number]
            yield Divergence("webhook_subscriptions", f"{number} ({wanted.url})", "added but missing", wanted.seq)

    def _outbox(self, connection: Connection, batch: int) -> Iterator[Divergence]:
        owed = dict(self.owed)
        mlflow_owed = {key: list(bodies) for key, bodies in self.mlflow_owed.items()}
        columns = (_OUTBOX.c.id, _OUTBOX.c.subscription_id, _OUTBOX.c.audit_seq, _OUTBOX.c.event_type, _OUTBOX.c.body)
        after = 0
        while True:
            rows = connection.execute(select(*columns).where(_OUTBOX.c.id > after).order_by(_OUTBOX.c.id).limit(batch)).all()
            if not rows:
                break
            after = rows[-1].id
            for row in rows:
                label = f"row {row.id} ({row.event_type} of event {row.audit_seq} for subscription {row.subscription_id})"
                key = (row.subscription_id, row.audit_seq, row.event_type)
                if key in mlflow_owed:
                    digest = _safe_body_digest(row.body)
                    if digest in mlflow_owed[key]:
                        mlflow_owed[key].remove(digest)
                    elif mlflow_owed[key]:
                        mlflow_owed[key].pop()
                        yield Divergence("webhook_outbox", label, "its body differs from the event it reports", row.audit_seq)
                    else:
                        yield Divergence("webhook_outbox", label, "no event owes this delivery: it was inserted or copied")
                    continue
                wanted = owed.pop(key, None)
                if wanted is None:
                    yield Divergence("webhook_outbox", label, "no event owes this delivery: it was inserted or copied")
                elif _safe_body_digest(row.body) != wanted:
                    yield Divergence("webhook_outbox", label, "its body differs from the event it reports", row.audit_seq)
        owed.update({key: b"" for key, bodies in mlflow_owed.items() if bodies})
        for (number, seq, event_type) in sorted(owed):
            yield Divergence(
                "webhook_outbox", f"{event_type} of event {seq} for subscription {number}",
                "owed but missing: deleted before or after delivery", seq,
            )


def _safe_body_digest(body: str) -> bytes | None:
    try:
        return _body_digest(body)
    except (ValueError, TypeError):
        return None

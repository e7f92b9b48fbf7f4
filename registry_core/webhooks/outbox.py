"""The transactional outbox: events owed to subscribers, written with the change, drained by the deliverer.

:func:`enqueue_events` runs inside the transaction of every audited change, so an
event is queued if and only if its change commits. The deliverer drains each
subscription's queue oldest first, one worker at a time (a lease on the
subscription row), and never holds a database transaction open across a
network call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ..records import AuditEntry
from ..schema import WebhookAttempt, WebhookOutbox, WebhookSubscription, utcnow
from .events import event_body, events_for, new_event_id
from .mlflow_events import MLFLOW_ACTIONS, MLFLOW_FLAVOR, mlflow_body, mlflow_events_for, new_delivery_id

if TYPE_CHECKING:
    from ..unit_of_work import UnitOfWork

__all__ = [
    "Attempt",
    "DueSubscription",
    "claim_subscription",
    "enqueue_events",
    "next_pending",
    "record_attempt",
    "release_subscription",
    "subscriptions_with_pending",
]


_CACHE_KEY = "registry.webhook_subscriptions"
_SUBSCRIPTIONS = WebhookSubscription.__table__
_OUTBOX = WebhookOutbox.__table__
_LIVE_SUBSCRIPTIONS = select(
    _SUBSCRIPTIONS.c.id, _SUBSCRIPTIONS.c.events, _SUBSCRIPTIONS.c.model, _SUBSCRIPTIONS.c.flavor
).where(_SUBSCRIPTIONS.c.removed_at.is_(None), or_(_SUBSCRIPTIONS.c.status.is_(None), _SUBSCRIPTIONS.c.status == "ACTIVE"))


def enqueue_events(work: UnitOfWork, event: AuditEntry) -> int:
    """Queue the events ``event`` raises for every live subscription that wants them; returns how many.

    A :class:`~registry_core.unit_of_work.ChangeListener`: it runs inside the
    change's transaction. Costs nothing for audit actions that raise no event,
    and one query on the (small) subscriptions table per transaction for those
    that do.
    """
    types = events_for(event.action)
    if not types and event.action not in MLFLOW_ACTIONS:
        return 0
    # Once per transaction (a promotion appends two events).
    subscriptions = work.scratch.get(_CACHE_KEY)
    if subscriptions is None:
        subscriptions = work.scratch[_CACHE_KEY] = work.connection.execute(_LIVE_SUBSCRIPTIONS).all()
    if not subscriptions:
        return 0
    now = utcnow()
    rows = _mlflow_rows(event, [s for s in subscriptions if s.flavor == MLFLOW_FLAVOR], now)
    wanted = [
        (subscription_id, event_type)
        for subscription_id, names, model, flavor in subscriptions
        if flavor is None and (model is None or model == event.model)
        for event_type in types
        if event_type.value in names
    ]
    for subscription_id, event_type in wanted:
        event_id = new_event_id()
        body = event_body(
            event_type, event_id=event_id, seq=event.seq, recorded_at=event.recorded_at, actor=event.actor,
            model=event.model, version=event.version, before=event.before, after=event.after,
        )
        rows.append(
            {
                "subscription_id": subscription_id, "audit_seq": event.seq, "event_id": event_id,
                "event_type": event_type.value, "body": body, "created_at": now, "attempts": 0,
                "next_attempt_at": now, "delivered_at": None, "last_error": None,
            }
        )
    if rows:
        work.connection.execute(insert(_OUTBOX), rows)
    return len(rows)


def _mlflow_rows(event: AuditEntry, subscriptions: list[Any], now: datetime) -> list[dict[str, Any]]:
    if not subscriptions:
        return []
    raised = mlflow_events_for(event.action, event.model, event.version, event.before, event.after)
    rows = []
    for subscription in subscriptions:
        for name, data in raised:
            if name in subscription.events:
                rows.append({
                    "subscription_id": subscription.id, "audit_seq": event.seq, "event_id": new_delivery_id(),
                    "event_type": name, "body": mlflow_body(name, data, event.recorded_at), "created_at": now,
                    "attempts": 0, "next_attempt_at": now, "delivered_at": None, "last_error": None,
                })
    return rows


@dataclass(frozen=True)
class DueSubscription:
    """A live subscription with undelivered events."""

    id: int
    url: str
    secret: str
    flavor: str | None = None


@dataclass(frozen=True)
class Attempt:
    """The outcome of one delivery attempt."""

    attempted_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


def subscriptions_with_pending(session: Session) -> list[DueSubscription]:
    """Live subscriptions that have at least one undelivered event."""
    pending = exists().where(
        WebhookOutbox.subscription_id == WebhookSubscription.id, WebhookOutbox.delivered_at.is_(None)
    )
    rows = session.execute(
        select(WebhookSubscription.id, WebhookSubscription.url, WebhookSubscription.secret, WebhookSubscription.flavor)
        .where(WebhookSubscription.removed_at.is_(None), pending)
        .order_by(WebhookSubscription.id)
    ).all()
    return [DueSubscription(*row) for row in rows]


def claim_subscription(session: Session, subscription_id: int, owner: str, *, now: datetime, lease: timedelta) -> bool:
    """Take (or renew) the delivery lease on a live subscription; False when another worker holds it."""
    result = session.execute(
        update(WebhookSubscription)
        .where(
            WebhookSubscription.id == subscription_id,
            WebhookSubscription.removed_at.is_(None),
            or_(
                WebhookSubscription.lease_owner.is_(None),
                WebhookSubscription.lease_owner == owner,
                WebhookSubscription.lease_until < now,
            ),
        )
        .values(lease_owner=owner, lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def release_subscription(session: Session, subscription_id: int, owner: str) -> None:
    """Give the lease back, if this worker still holds it."""
    session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id, WebhookSubscription.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def next_pending(session: Session, subscription_id: int) -> WebhookOutbox | None:
    """The oldest undelivered event of a subscription: it goes out before any later one."""
    return session.scalars(
        select(WebhookOutbox)
        .where(WebhookOutbox.subscription_id == subscription_id, WebhookOutbox.delivered_at.is_(None))
        .order_by(WebhookOutbox.audit_seq, WebhookOutbox.id)
        .limit(1)
    ).first()


def record_attempt(session: Session, outbox_id: int, attempt: Attempt, *, retry_at: datetime | None) -> None:
    """Record an attempt and its effect: delivered, or due again at ``retry_at``."""
    row = session.get(WebhookOutbox, outbox_id, with_for_update=True)
    if row is None or row.delivered_at is not None:
        return
    row.attempts += 1
    session.add(
        WebhookAttempt(
            outbox_id=outbox_id, number=row.attempts, attempted_at=attempt.attempted_at,
            duration_ms=attempt.duration_ms, status_code=attempt.status_code,
            succeeded=attempt.succeeded, error=attempt.error,
        )
    )
    if attempt.succeeded:
        row.delivered_at = attempt.attempted_at
        row.last_error = None
    else:
        row.last_error = attempt.error or f"HTTP {attempt.status_code}"
        row.next_attempt_at = retry_at or utcnow()


def pending_counts(session: Session | Connection) -> dict[int, tuple[int, int]]:
    """Per subscription: (undelivered, delivered) event counts."""
    rows = session.execute(
        select(
            WebhookOutbox.subscription_id,
            func.count().filter(WebhookOutbox.delivered_at.is_(None)),
            func.count().filter(WebhookOutbox.delivered_at.is_not(None)),
        ).group_by(WebhookOutbox.subscription_id)
    ).all()
    return {subscription_id: (pending, delivered) for subscription_id, pending, delivered in rows}

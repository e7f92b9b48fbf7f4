"""Webhook subscriptions: who receives which registry events, added and removed through the audited API.

The secret signs every delivery to the subscriber (Standard Webhooks); it is
stored in the catalog (the deliverer needs it) and never shown or audited: the
``webhook.add`` event records a salted scrypt digest of it, for ``--verify``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import insert, select, update

from ..actions import AuditAction
from ..errors import InvalidInput, NotFound
from ..schema import WebhookAttempt, WebhookOutbox, WebhookSubscription
from ..validation import validate_name
from .events import parse_event_types
from .ledger import secret_digest
from .outbox import pending_counts
from .signature import SECRET_PREFIX

if TYPE_CHECKING:
    from ..unit_of_work import Catalog

_SUBSCRIPTIONS = WebhookSubscription.__table__

__all__ = [
    "MAX_SECRET",
    "MAX_URL",
    "MIN_SECRET",
    "WebhookAttemptRecord",
    "WebhookDeliveryRecord",
    "WebhookInfo",
    "add_webhook",
    "list_webhooks",
    "remove_webhook",
    "validate_secret",
    "validate_webhook_url",
    "webhook_deliveries",
]

MAX_URL = 2048
MIN_SECRET = 16
MAX_SECRET = 512
#: Key sizes the Standard Webhooks specification asks of a ``whsec_`` secret.
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
MAX_DELIVERIES = 1000


@dataclass(frozen=True)
class WebhookInfo:
    """A subscription as the API shows it: never its secret."""

    id: int
    url: str
    events: list[str]
    model: str | None
    created_by: str
    created_at: datetime
    removed_at: datetime | None
    #: Events queued and not yet delivered.
    pending: int
    delivered: int


@dataclass(frozen=True)
class WebhookAttemptRecord:
    """One try at delivering an event."""

    number: int
    attempted_at: datetime
    duration_ms: float
    status_code: int | None
    succeeded: bool
    error: str | None


@dataclass(frozen=True)
class WebhookDeliveryRecord:
    """One event owed to a subscription, with every attempt made so far."""

    event_id: str
    event_type: str
    audit_seq: int
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    attempt_log: list[WebhookAttemptRecord]


def validate_webhook_url(url: Any) -> str:
    """An absolute http(s) URL with a host; anything else is refused."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("a webhook needs a URL")
    url = url.strip()
    if len(url) > MAX_URL:
        raise InvalidInput(f"webhook URL is {len(url)} characters; the limit is {MAX_URL}")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise InvalidInput(f"webhook URL {url!r} contains spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise InvalidInput(f"invalid webhook URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidInput(f"webhook URL {url!r} must use http:// or https://, not {scheme or 'no scheme'}")
    if not host:
        raise InvalidInput(f"webhook URL {url!r} names no host")
    return scheme + url[len(parts.scheme):]


def validate_secret(secret: Any) -> str:
    """A Standard Webhooks secret (``whsec_`` + base64 of 24 to 64 bytes), or any other of 16 to 512 characters.

    A secret without the prefix signs with its own UTF-8 bytes as the key (see
    :mod:`~registry_core.webhooks.signature`), as subscriptions did before the
    Standard Webhooks format.
    """
    if not isinstance(secret, str) or not secret:
        raise InvalidInput("a webhook needs a secret to sign its deliveries")
    if not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise InvalidInput(f"a webhook secret must be {MIN_SECRET} to {MAX_SECRET} characters long, not {len(secret)}")
    if secret != secret.strip() or any(ord(c) < 32 for c in secret):
        raise InvalidInput("a webhook secret cannot start or end with spaces or contain control characters")
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"a webhook secret starting with {SECRET_PREFIX} must be base64 after it") from None
        if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
            raise InvalidInput(
                f"a {SECRET_PREFIX} webhook secret must encode {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, not {len(key)}"
            )
    return secret


def add_webhook(
    catalog: Catalog, actor: str, url: str, *, events: Iterable[str], secret: str, model: str | None = None
) -> WebhookInfo:
    """Subscribe ``url`` to ``events`` (of ``model`` only, when given); audited as ``webhook.add``."""
    clean_url = validate_webhook_url(url)
    types = [t.value for t in parse_event_types(events)]
    clean_secret = validate_secret(secret)
    if model is not None:
        validate_name(model)
    with catalog.write(actor) as work:
        values = {
            "url": clean_url, "events": types, "model": model, "secret": clean_secret,
            "created_by": actor, "created_at": work.now,
        }
        number = work.connection.execute(insert(_SUBSCRIPTIONS).returning(_SUBSCRIPTIONS.c.id), values).scalar_one()
        row = SimpleNamespace(id=number, removed_at=None, **values)
        # The secret's digest, never the secret: --verify then notices a secret replaced behind the registry's back.
        work.record(AuditAction.WEBHOOK_ADD, model, None, {}, {**_summary(row), "secret_digest": secret_digest(clean_secret)})
        return _info(row, 0, 0)


def list_webhooks(catalog: Catalog, *, include_removed: bool = False) -> list[WebhookInfo]:
    """Subscriptions by id, with how many of their events are pending and delivered."""
    with catalog.read() as connection:
        query = select(_SUBSCRIPTIONS).order_by(_SUBSCRIPTIONS.c.id)
        if not include_removed:
            query = query.where(_SUBSCRIPTIONS.c.removed_at.is_(None))
        rows = connection.execute(query).all()
        counts = pending_counts(connection)
        return [_info(row, *counts.get(row.id, (0, 0))) for row in rows]


def remove_webhook(catalog: Catalog, actor: str, subscription_id: int | str) -> WebhookInfo:
    """Stop a subscription: its undelivered events are dropped; audited as ``webhook.remove``."""
    number = _subscription_id(subscription_id)
    with catalog.write(actor) as work:
        row = work.connection.execute(
            select(_SUBSCRIPTIONS).where(_SUBSCRIPTIONS.c.id == number).with_for_update()
        ).first()
        if row is None or row.removed_at is not None:
            raise NotFound(f"no webhook subscription {number}")
        work.connection.execute(
            update(_SUBSCRIPTIONS).where(_SUBSCRIPTIONS.c.id == number).values(removed_at=work.now, removed_by=actor)
        )
        work.record(AuditAction.WEBHOOK_REMOVE, row.model, None, _summary(row), {})
        pending, delivered = pending_counts(work.connection).get(row.id, (0, 0))
        return _info(SimpleNamespace(**{**row._mapping, "removed_at": work.now}), pending, delivered)


def webhook_deliveries(catalog: Catalog, subscription_id: int | str, *, limit: int = 20) -> list[WebhookDeliveryRecord]:
    """The newest ``limit`` events of a subscription, oldest first, each with its attempts."""
    number = _subscription_id(subscription_id)
    if not 1 <= limit <= MAX_DELIVERIES:
        raise InvalidInput(f"limit must be between 1 and {MAX_DELIVERIES}")
    outbox, attempts_table = WebhookOutbox.__table__, WebhookAttempt.__table__
    with catalog.read() as connection:
        if connection.execute(select(_SUBSCRIPTIONS.c.id).where(_SUBSCRIPTIONS.c.id == number)).first() is None:
            raise NotFound(f"no webhook subscription {number}")
        rows = list(
            reversed(
                connection.execute(
                    select(outbox).where(outbox.c.subscription_id == number).order_by(outbox.c.id.desc()).limit(limit)
                ).all()
            )
        )
        attempts: dict[int, list[WebhookAttemptRecord]] = {row.id: [] for row in rows}
        if rows:
            for attempt in connection.execute(
                select(attempts_table)
                .where(attempts_table.c.outbox_id.in_(list(attempts)))
                .order_by(attempts_table.c.outbox_id, attempts_table.c.id)
            ):
                attempts[attempt.outbox_id].append(
                    WebhookAttemptRecord(
                        number=attempt.number, attempted_at=attempt.attempted_at, duration_ms=attempt.duration_ms,
                        status_code=attempt.status_code, succeeded=attempt.succeeded, error=attempt.error,
                    )
                )
        return [
            WebhookDeliveryRecord(
                event_id=row.event_id, event_type=row.event_type, audit_seq=row.audit_seq, created_at=row.created_at,
                attempts=row.attempts, next_attempt_at=row.next_attempt_at, delivered_at=row.delivered_at,
                last_error=row.last_error, attempt_log=attempts[row.id],
            )
            for row in rows
        ]


def _subscription_id(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"invalid webhook id {value!r}: expected a positive whole number") from None
    if isinstance(value, bool) or number < 1 or str(value).strip() != str(number):
        raise InvalidInput(f"invalid webhook id {value!r}: expected a positive whole number")
    return number


def _summary(row: Any) -> dict[str, Any]:
    return {"id": row.id, "url": row.url, "events": list(row.events), "model": row.model}


def _info(row: Any, pending: int, delivered: int) -> WebhookInfo:
    return WebhookInfo(
        id=row.id, url=row.url, events=list(row.events), model=row.model, created_by=row.created_by,
        created_at=row.created_at, removed_at=row.removed_at, pending=pending, delivered=delivered,
    )

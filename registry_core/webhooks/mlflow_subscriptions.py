"""Subscriptions made through MLflow's webhooks API: created, changed and deleted as audited catalog changes.

They live beside the registry's own subscriptions (``flavor`` "mlflow"), so
their events go through the same transactional outbox, deliverer, deadlines
and no-redirect transport. ``webhook.add``, ``webhook.update`` and
``webhook.remove`` record each change with a salted digest of the secret,
never the secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, insert, select, update

from ..actions import AuditAction
from ..errors import InvalidInput, NotFound
from ..schema import WebhookSubscription
from .ledger import secret_digest
from .mlflow_events import MLFLOW_EVENTS, MLFLOW_FLAVOR
from .subscriptions import MAX_SECRET, validate_webhook_url

if TYPE_CHECKING:
    from ..unit_of_work import Catalog

__all__ = ["STATUSES", "MlflowSubscription", "add", "change", "get", "page", "remove", "secret_of"]

_TABLE = WebhookSubscription.__table__
STATUSES = ("ACTIVE", "DISABLED")
MAX_DESCRIPTION = 1000


@dataclass(frozen=True)
class MlflowSubscription:
    """An MLflow webhook as stored: never its secret."""

    id: int
    name: str
    url: str
    events: list[str]
    description: str | None
    status: str
    created_at: datetime
    updated_at: datetime


def _events(events: Sequence[str]) -> list[str]:
    if not events:
        raise InvalidInput("Webhook events must be a non-empty list of WebhookEvent objects")
    unknown = [e for e in events if e not in MLFLOW_EVENTS]
    if unknown:
        raise InvalidInput(
            f"event {unknown[0]} cannot be raised by a registry catalog: it keeps no MLflow prompts or budgets"
        )
    return sorted(set(events))


def _secret(secret: str | None) -> str:
    if secret is None:
        return ""
    if not isinstance(secret, str) or len(secret) > MAX_SECRET:
        raise InvalidInput(f"a webhook secret must be a string of at most {MAX_SECRET} characters")
    return secret


def _status(status: str) -> str:
    if status not in STATUSES:
        raise InvalidInput(f"webhook status must be one of {', '.join(STATUSES)}, not {status!r}")
    return status


def _description(text: str | None) -> str | None:
    if text is not None and len(text) > MAX_DESCRIPTION:
        raise InvalidInput(f"a webhook description is at most {MAX_DESCRIPTION} characters")
    return text


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "flavor": MLFLOW_FLAVOR, "name": row.name, "url": row.url, "events": list(row.events),
        "model": None, "description": row.description, "status": row.status,
    }


def _entity(row: Any) -> MlflowSubscription:
    return MlflowSubscription(
        id=row.id, name=row.name, url=row.url, events=list(row.events), description=row.description,
        status=row.status, created_at=row.created_at, updated_at=row.updated_at or row.created_at,
    )


def add(catalog: Catalog, actor: str, *, name: str, url: str, events: Sequence[str], description: str | None,
        secret: str | None, status: str) -> MlflowSubscription:
    """Create an MLflow webhook; audited as ``webhook.add``."""
    values = {
        "url": validate_webhook_url(url), "events": _events(events), "model": None, "secret": _secret(secret),
        "flavor": MLFLOW_FLAVOR, "name": name, "description": _description(description), "status": _status(status),
    }
    with catalog.write(actor) as work:
        values.update(created_by=actor, created_at=work.now, updated_at=work.now)
        number = work.connection.execute(insert(_TABLE).returning(_TABLE.c.id), values).scalar_one()
        row = work.connection.execute(select(_TABLE).where(_TABLE.c.id == number)).one()
        work.record(AuditAction.WEBHOOK_ADD, None, None, {}, {**_summary(row), "secret_digest": secret_digest(row.secret)})
        return _entity(row)


def _locked(connection: Connection, number: int) -> Row[Any]:
    row = connection.execute(
        select(_TABLE).where(_TABLE.c.id == number, _TABLE.c.flavor == MLFLOW_FLAVOR, _TABLE.c.removed_at.is_(None))
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"Webhook with ID {number} not found.")
    return row


def change(catalog: Catalog, actor: str, number: int, changes: dict[str, Any]) -> MlflowSubscription:
    """Update the given fields of an MLflow webhook; audited as ``webhook.update`` (even when nothing differs)."""
    clean: dict[str, Any] = {}
    checks = {"url": validate_webhook_url, "events": _events, "secret": _secret, "status": _status,
              "description": _description, "name": str}
    for key, value in changes.items():
        if value is not None:
            clean[key] = checks[key](value)
    with catalog.write(actor) as work:
        row = _locked(work.connection, number)
        work.connection.execute(update(_TABLE).where(_TABLE.c.id == number).values(**clean, updated_at=work.now))
        new = work.connection.execute(select(_TABLE).where(_TABLE.c.id == number)).one()
        after = _summary(new)
        if "secret" in clean:
            after["secret_digest"] = secret_digest(new.secret)
        work.record(AuditAction.WEBHOOK_UPDATE, None, None, _summary(row), after)
        return _entity(new)


def remove(catalog: Catalog, actor: str, number: int) -> None:
    """Delete an MLflow webhook (its row stays, removed, with its deliveries); audited as ``webhook.remove``."""
    with catalog.write(actor) as work:
        row = _locked(work.connection, number)
        work.connection.execute(
            update(_TABLE).where(_TABLE.c.id == number).values(removed_at=work.now, removed_by=actor, updated_at=work.now)
        )
        work.record(AuditAction.WEBHOOK_REMOVE, None, None, _summary(row), {})


def get(catalog: Catalog, number: int) -> MlflowSubscription:
    """One live MLflow webhook."""
    with catalog.read() as connection:
        row = connection.execute(
            select(_TABLE).where(_TABLE.c.id == number, _TABLE.c.flavor == MLFLOW_FLAVOR, _TABLE.c.removed_at.is_(None))
        ).first()
    if row is None:
        raise NotFound(f"Webhook with ID {number} not found.")
    return _entity(row)


def secret_of(catalog: Catalog, number: int) -> str:
    """The secret a test delivery is signed with (never shown to a caller)."""
    with catalog.read() as connection:
        secret = connection.execute(select(_TABLE.c.secret).where(_TABLE.c.id == number)).scalar_one()
    return str(secret)


def page(catalog: Catalog, offset: int, limit: int) -> list[MlflowSubscription]:
    """Live MLflow webhooks, newest first (as MLflow lists them), ``limit`` from ``offset``."""
    with catalog.read() as connection:
        rows = connection.execute(
            select(_TABLE).where(_TABLE.c.flavor == MLFLOW_FLAVOR, _TABLE.c.removed_at.is_(None))
            .order_by(_TABLE.c.created_at.desc(), _TABLE.c.id.desc()).offset(offset).limit(limit)
        ).all()
    return [_entity(row) for row in rows]

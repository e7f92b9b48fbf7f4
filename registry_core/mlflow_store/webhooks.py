"""MLflow's webhooks API over the registry's subscriptions, transactional outbox and signed delivery.

Webhooks made here are audited catalog changes; their events are queued in
the same transaction as the change that raises them and sent by ``registry
webhook deliver`` with MLflow's body and ``X-MLflow-*`` signature headers.
``list_webhooks_by_event`` answers "none": `mlflow server` calls it after
every write to deliver by itself, and the outbox has already queued the
delivery, so a receiver gets each event once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mlflow.entities.webhook import Webhook, WebhookEvent, WebhookStatus, WebhookTestResult
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList
from mlflow.utils.search_utils import SearchUtils
from mlflow.utils.validation import _validate_webhook_events, _validate_webhook_name
from mlflow.webhooks.types import get_example_payload_for_event

from ..webhooks import mlflow_subscriptions as subscriptions
from ..webhooks.delivery import USER_AGENT
from ..webhooks.mlflow_events import mlflow_body, mlflow_headers, new_delivery_id
from ..webhooks.transport import HttpTransport, TransportError
from .errors import mlflow_errors

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = ["TEST_DEADLINE", "WebhookOperations"]

#: Seconds a test delivery may take in all (the deliverer's default deadline).
TEST_DEADLINE = 10.0
_MAX_PAGE = 1000
_SCHEMES = ("http", "https")


def _id(webhook_id: Any) -> int:
    text = str(webhook_id).strip()
    if not text.isdigit() or int(text) < 1:
        raise MlflowException(f"Webhook with ID {webhook_id} not found.", error_code=RESOURCE_DOES_NOT_EXIST)
    return int(text)


def _millis(value: Any) -> int:
    return int(value.timestamp() * 1000)


def _entity(row: subscriptions.MlflowSubscription, secret: str | None = None) -> Webhook:
    """The subscription as MLflow's entity; ``secret`` only echoes what this caller just sent (never over REST,
    whose answer leaves secrets out), as MLflow's store does on create and update. It is never read back."""
    return Webhook(
        webhook_id=str(row.id), name=row.name, url=row.url, events=[WebhookEvent.from_str(e) for e in row.events],
        creation_timestamp=_millis(row.created_at), last_updated_timestamp=_millis(row.updated_at),
        description=row.description, status=WebhookStatus(row.status), secret=secret,
    )


def _names(events: list[WebhookEvent]) -> list[str]:
    return [str(event) for event in events]


def _check_url(url: Any) -> None:
    """MLflow's checks of a webhook URL, in its words; the registry's own rules (length, characters) follow.

    Schemes are the registry's (http and https), named as MLflow names its allowed list.
    """
    if not isinstance(url, str):
        raise MlflowException.invalid_parameter_value(f"Webhook URL must be a string, got {type(url).__name__!r}")
    if not url.strip():
        raise MlflowException.invalid_parameter_value(f"Webhook URL cannot be empty or just whitespace: {url!r}")
    try:
        parsed = urlsplit(url)
        hostname = parsed.hostname
    except ValueError as exc:
        raise MlflowException.invalid_parameter_value(f"Invalid webhook URL {url!r}: {exc!r}") from None
    if parsed.scheme not in _SCHEMES:
        raise MlflowException.invalid_parameter_value(
            f"Invalid webhook URL scheme: {parsed.scheme!r}. Allowed schemes are: {', '.join(_SCHEMES)}."
        )
    if not hostname:
        raise MlflowException.invalid_parameter_value(f"Webhook URL must include a hostname: {url!r}")


def _status(status: Any) -> str | None:
    if status is None:
        return None
    try:
        return WebhookStatus(str(status)).value
    except ValueError:
        raise MlflowException.invalid_parameter_value(f"Invalid webhook status: {status!r}") from None


class WebhookOperations:
    """MLflow's ``AbstractStore`` webhook methods, for a store that has a :class:`~registry_core.Registry`."""

    registry: Registry

    def create_webhook(self, name: str, url: str, events: list[WebhookEvent], description: str | None = None,
                       secret: str | None = None, status: WebhookStatus | None = None) -> Webhook:
        _validate_webhook_name(name)
        _check_url(url)
        _validate_webhook_events(events)
        with mlflow_errors():
            row = subscriptions.add(
                self.registry.catalog, self.registry.actor, name=name, url=url, events=_names(events),
                description=description, secret=secret, status=_status(status) or WebhookStatus.ACTIVE.value,
            )
        return _entity(row, secret)

    def get_webhook(self, webhook_id: str) -> Webhook:
        number = _id(webhook_id)
        with mlflow_errors():
            return _entity(subscriptions.get(self.registry.catalog, number))

    def list_webhooks(self, max_results: int | None = None, page_token: str | None = None) -> PagedList:
        """Newest first, ``max_results`` (1 to 1000, default 100) a page, as MLflow pages them."""
        max_results = max_results or 100
        if not 1 <= max_results <= _MAX_PAGE:
            raise MlflowException.invalid_parameter_value("max_results must be between 1 and 1000.")
        offset = SearchUtils.parse_start_offset_from_page_token(page_token)
        with mlflow_errors():
            rows = subscriptions.page(self.registry.catalog, offset, max_results + 1)
        token = SearchUtils.create_page_token(offset + max_results) if len(rows) > max_results else None
        return PagedList([_entity(row) for row in rows[:max_results]], token)

    def list_webhooks_by_event(self, event: WebhookEvent, max_results: int | None = None,
                               page_token: str | None = None) -> PagedList:
        """None: the outbox delivers every event, so `mlflow server` must not deliver a second time."""
        return PagedList([], None)

    def update_webhook(self, webhook_id: str, name: str | None = None, description: str | None = None,
                       url: str | None = None, events: list[WebhookEvent] | None = None, secret: str | None = None,
                       status: WebhookStatus | None = None) -> Webhook:
        number = _id(webhook_id)
        if name is not None:
            _validate_webhook_name(name)
        if url is not None:
            _check_url(url)
        if events is not None:
            _validate_webhook_events(events)
        changes = {"name": name, "description": description, "url": url, "secret": secret, "status": _status(status),
                   "events": None if events is None else _names(events)}
        with mlflow_errors():
            return _entity(subscriptions.change(self.registry.catalog, self.registry.actor, number, changes), secret)

    def delete_webhook(self, webhook_id: str) -> None:
        number = _id(webhook_id)
        with mlflow_errors():
            subscriptions.remove(self.registry.catalog, self.registry.actor, number)

    def test_webhook(self, webhook_id: str, event: WebhookEvent | None = None) -> WebhookTestResult:
        """Send MLflow's example payload for ``event`` (else the webhook's first), signed; never queued or retried.

        Our transport never reads an answer's body, so ``response_body`` stays empty.
        """
        number = _id(webhook_id)
        with mlflow_errors():
            row = subscriptions.get(self.registry.catalog, number)
            secret = subscriptions.secret_of(self.registry.catalog, number)
        chosen = event or WebhookEvent.from_str(row.events[0])
        try:
            data = get_example_payload_for_event(chosen)
        except ValueError:
            raise MlflowException.invalid_parameter_value(f"Unknown webhook event: {chosen}") from None
        timestamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        body = mlflow_body(str(chosen), dict(data), timestamp)
        headers = {"User-Agent": USER_AGENT, **mlflow_headers(secret, new_delivery_id(), body)}
        transport = HttpTransport(user_agent=USER_AGENT, max_connections=1)
        try:
            answer = transport.post(row.url, body.encode("utf-8"), headers, deadline=TEST_DEADLINE)
        except TransportError as exc:
            return WebhookTestResult(success=False, error_message=f"Failed to test webhook: {exc}")
        finally:
            transport.close()
        if answer.redirect:
            return WebhookTestResult(success=False, response_status=answer.status_code, error_message=answer.describe())
        return WebhookTestResult(success=answer.status_code < 400, response_status=answer.status_code)



"""Webhooks: registry events, subscriptions, the transactional outbox and signed delivery.

Changes queue their events in the outbox inside their own transaction
(:func:`~registry_core.webhooks.outbox.enqueue_events`, called for every audit
event); :class:`~registry_core.webhooks.delivery.WebhookDeliverer` (run by
``registry webhook deliver``) sends them, signed in the Standard Webhooks
format with each subscriber's secret (:mod:`~registry_core.webhooks.signature`).
"""

from __future__ import annotations

from .events import ACTION_EVENTS, EventType
from .signature import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    signature_headers,
    standard_secret,
    verify_signature,
)
from .subscriptions import WebhookAttemptRecord, WebhookDeliveryRecord, WebhookInfo

__all__ = [
    "ACTION_EVENTS",
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "EventType",
    "WebhookAttemptRecord",
    "WebhookDeliveryRecord",
    "WebhookInfo",
    "sign",
    "signature_headers",
    "standard_secret",
    "verify_signature",
]

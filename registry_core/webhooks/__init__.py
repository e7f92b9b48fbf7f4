"""Webhooks: registry events, subscriptions, the transactional outbox and signed delivery.

Changes queue their events in the outbox inside their own transaction
(:func:`~registry_core.webhooks.outbox.enqueue_events`, called for every audit
event); :class:`~registry_core.webhooks.delivery.WebhookDeliverer` (run by
``registry webhook deliver``) sends them, signed with each subscriber's secret.
"""

from __future__ import annotations

from .events import ACTION_EVENTS, EventType
from .signature import SIGNATURE_HEADER, sign_body, verify_signature
from .subscriptions import WebhookAttemptRecord, WebhookDeliveryRecord, WebhookInfo

__all__ = [
    "ACTION_EVENTS",
    "SIGNATURE_HEADER",
    "EventType",
    "WebhookAttemptRecord",
    "WebhookDeliveryRecord",
    "WebhookInfo",
    "sign_body",
    "verify_signature",
]

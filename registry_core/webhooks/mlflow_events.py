"""MLflow's webhook events, payloads and signature, raised from the registry's audit events.

A subscription made through MLflow's webhooks API (``flavor`` "mlflow")
receives MLflow's event names (``model_version.created``…) with the body
MLflow's own server sends (``{"entity", "action", "timestamp", "data"}``,
shapes of ``mlflow.webhooks.types``), signed as MLflow signs:
``X-MLflow-Signature: v1,<base64 HMAC-SHA256(secret, "{delivery_id}.{timestamp}.{body}")>``.
The bodies are derived from the audit event alone, so ``registry audit
--verify`` can recompute what each delivery must carry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from ..actions import AuditAction

__all__ = [
    "DELIVERY_ID_HEADER",
    "MLFLOW_ACTIONS",
    "MLFLOW_EVENTS",
    "MLFLOW_FLAVOR",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "mlflow_body",
    "mlflow_events_for",
    "mlflow_headers",
    "mlflow_signature",
    "new_delivery_id",
]

MLFLOW_FLAVOR = "mlflow"
SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"

#: The MLflow events a registry catalog raises (prompts are not kept in a catalog).
MLFLOW_EVENTS: tuple[str, ...] = (
    "registered_model.created",
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
)
#: The audit actions that can raise MLflow events.
MLFLOW_ACTIONS: frozenset[str] = frozenset({
    AuditAction.MODEL_CREATE, AuditAction.VERSION_REGISTER, AuditAction.VERSION_TAGS,
    AuditAction.ALIAS_SET, AuditAction.ALIAS_DELETE,
})
#: Version tags the registry keeps for MLflow's own fields; MLflow's payload carries them as fields instead.
_SOURCE_TAG = "registry.mlflow.source"
_HIDDEN_PREFIX = "registry."


def _visible(tags: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in sorted(tags.items()) if not k.lower().startswith(_HIDDEN_PREFIX)}


def mlflow_events_for(
    action: str, model: str | None, version: int | None, before: dict[str, Any], after: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """(event name, MLflow ``data`` payload) pairs one audit event raises; several for a multi-tag change."""
    if model is None:
        return []
    if action == AuditAction.MODEL_CREATE:
        return [("registered_model.created", {"name": model, "tags": {}, "description": None})]
    if action == AuditAction.VERSION_REGISTER and version is not None:
        tags = after.get("tags") or {}
        return [(
            "model_version.created",
            {
                "name": model, "version": str(version), "source": str(tags.get(_SOURCE_TAG) or f"models:/{model}/{version}"),
                "run_id": after.get("run_id"), "tags": _visible(tags), "description": after.get("description"),
            },
        )]
    if action == AuditAction.VERSION_TAGS and version is not None:
        events: list[tuple[str, dict[str, Any]]] = []
        for key in sorted(before.keys() | after.keys()):
            if key.lower().startswith(_HIDDEN_PREFIX):
                continue
            if key in after:
                events.append(("model_version_tag.set",
                               {"name": model, "version": str(version), "key": key, "value": str(after[key])}))
            else:
                events.append(("model_version_tag.deleted", {"name": model, "version": str(version), "key": key}))
        return events
    if action == AuditAction.ALIAS_SET and "alias" in after:
        return [("model_version_alias.created",
                 {"name": model, "alias": after["alias"], "version": str(after.get("version", version))})]
    if action == AuditAction.ALIAS_DELETE and "alias" in before:
        return [("model_version_alias.deleted", {"name": model, "alias": before["alias"]})]
    return []


def mlflow_body(event: str, data: dict[str, Any], timestamp: str) -> str:
    """The JSON text MLflow's server sends: entity, action, timestamp (ISO 8601) and data."""
    entity, action = event.split(".", 1)
    return json.dumps({"entity": entity, "action": action, "timestamp": timestamp, "data": data})


def new_delivery_id() -> str:
    """A delivery id in MLflow's form (a UUID); the same on every retry, so receivers can deduplicate."""
    return str(uuid.uuid4())


def mlflow_signature(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """``v1,`` and the base64 HMAC-SHA256 of ``{delivery_id}.{timestamp}.{body}`` under ``secret``."""
    digest = hmac.new(secret.encode("utf-8"), f"{delivery_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("utf-8")


def mlflow_headers(secret: str | None, delivery_id: str, body: str, *, timestamp: int | None = None) -> dict[str, str]:
    """MLflow's delivery headers; the signature only when the webhook has a secret (as MLflow does)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {"Content-Type": "application/json", DELIVERY_ID_HEADER: delivery_id, TIMESTAMP_HEADER: stamp}
    if secret:
        headers[SIGNATURE_HEADER] = mlflow_signature(secret, delivery_id, stamp, body)
    return headers

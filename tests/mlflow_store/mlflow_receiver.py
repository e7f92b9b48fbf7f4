"""A webhook receiver on 127.0.0.1 written against MLflow's documentation of its signature scheme.

It verifies each delivery as MLflow's docs show: the ``X-MLflow-Signature``
is ``v1,`` and the base64 HMAC-SHA256 of ``{delivery_id}.{timestamp}.{payload}``
under the secret, the ``X-MLflow-Timestamp`` is at most five minutes old, and
a delivery id is processed once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WAIT = 10.0
MAX_AGE = 300


def verify_webhook_signature(payload: str, signature: str, secret: str, delivery_id: str, timestamp: str) -> bool:
    """MLflow's documented check, unchanged."""
    if not signature or not signature.startswith("v1,"):
        return False
    signature_b64 = signature.removeprefix("v1,")
    signed_content = f"{delivery_id}.{timestamp}.{payload}"
    expected_signature = hmac.new(secret.encode("utf-8"), signed_content.encode("utf-8"), hashlib.sha256).digest()
    expected_signature_b64 = base64.b64encode(expected_signature).decode("utf-8")
    return hmac.compare_digest(signature_b64, expected_signature_b64)


def verify_timestamp_freshness(timestamp_str: str, max_age: int = MAX_AGE) -> bool:
    """MLflow's documented replay check: a timestamp at most ``max_age`` seconds away."""
    try:
        webhook_timestamp = int(timestamp_str)
    except (TypeError, ValueError):
        return False
    return 0 <= int(time.time()) - webhook_timestamp <= max_age


@dataclass(frozen=True)
class Received:
    delivery_id: str
    verified: bool
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def event(self) -> str:
        return f"{self.body['entity']}.{self.body['action']}"


class MlflowReceiver:
    """Answers 200 to a verified delivery, 401 to any other, and records both."""

    def __init__(self, secret: str) -> None:
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's hook name
                payload = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
                signature = self.headers.get("X-MLflow-Signature", "")
                delivery_id = self.headers.get("X-MLflow-Delivery-Id", "")
                timestamp = self.headers.get("X-MLflow-Timestamp", "")
                verified = (
                    bool(delivery_id)
                    and verify_timestamp_freshness(timestamp)
                    and verify_webhook_signature(payload, signature, secret, delivery_id, timestamp)
                )
                receiver.received.append(
                    Received(delivery_id, verified, json.loads(payload), {k.lower(): v for k, v in self.headers.items()})
                )
                self.send_response(200 if verified else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/mlflow-hook"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def events(self) -> list[str]:
        return [r.event for r in self.received]

    def wait_for(self, count: int, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(WAIT)

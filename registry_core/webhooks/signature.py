"""Webhook signatures in the Standard Webhooks format, so that receivers can verify them with a ready library.

Every delivery carries ``webhook-id`` (the event id, the same on every retry),
``webhook-timestamp`` (Unix seconds when the attempt was signed) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``.
A receiver rejects a timestamp more than the tolerance (five minutes) away
from its clock, so a captured delivery cannot be replayed later.

The HMAC key of a secret: a Standard Webhooks secret (``whsec_`` and the
base64 of the key) stands for the bytes it encodes; any other secret (as
subscriptions made before this format used) is its own UTF-8 bytes, which is
the secret ``whsec_`` + base64(secret) in Standard Webhooks terms
(:func:`standard_secret`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

__all__ = [
    "DEFAULT_TOLERANCE",
    "ID_HEADER",
    "SECRET_PREFIX",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign",
    "signature_headers",
    "signing_key",
    "standard_secret",
    "verify_signature",
]

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
#: Seconds a signature's timestamp may be away from the receiver's clock (the standardwebhooks libraries' default).
DEFAULT_TOLERANCE = 300.0
_VERSION = "v1"


def signing_key(secret: str) -> bytes:
    """The HMAC key ``secret`` stands for (decoded the way the ``standardwebhooks`` library decodes it)."""
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX):] + "==")
        except (binascii.Error, ValueError):
            key = b""
        if key:
            return key
    return secret.encode("utf-8")


def standard_secret(secret: str) -> str:
    """``secret`` in Standard Webhooks form (``whsec_`` + base64 of the key), for receivers whose library wants it."""
    return SECRET_PREFIX + base64.b64encode(signing_key(secret)).decode("ascii")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return f"{_VERSION},{base64.b64encode(hmac.new(signing_key(secret), signed, hashlib.sha256).digest()).decode()}"


def signature_headers(secret: str, message_id: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, signed now unless ``timestamp`` says when."""
    when = int(time.time()) if timestamp is None else timestamp
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(when),
        SIGNATURE_HEADER: sign(secret, message_id, when, body),
    }


def verify_signature(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether ``headers`` sign exactly these ``body`` bytes under ``secret``, at a time within ``tolerance`` of now.

    What a receiver checks: the id, timestamp and signature headers are all
    present, the timestamp is no more than ``tolerance`` seconds old (or ahead),
    and one of the ``v1`` signatures matches (compared in constant time).
    """
    if not isinstance(headers, Mapping):
        raise TypeError("verify_signature takes the request's headers (a mapping), not one header value")
    found = {str(name).lower(): value for name, value in headers.items()}
    message_id, stamp, signatures = (found.get(h) for h in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER))
    if not (message_id and stamp and signatures):
        return False
    try:
        timestamp = int(stamp.strip())
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, message_id, timestamp, body).encode()
    return any(
        hmac.compare_digest(expected, candidate.encode())
        for candidate in signatures.split()
        if candidate.startswith(_VERSION + ",")
    )

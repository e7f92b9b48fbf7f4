"""How a scoring server is configured: what it serves, how it follows changes, shadow and canary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInput
from ..uris import parse_model_uri

__all__ = ["MIN_RELOAD_SECRET", "ServingOptions"]

MIN_RELOAD_SECRET = 16


@dataclass(frozen=True)
class ServingOptions:
    """Everything ``registry serve`` takes besides where to listen. Shadow and canary are off unless given."""

    model_uri: str
    #: Shared secret that ``POST /reload`` must present as ``Authorization: Bearer <secret>``; None disables /reload.
    reload_secret: str | None = None
    #: Seconds between reads of the catalog's event log (the fallback when no /reload comes).
    poll_interval: float = 2.0
    shadow_uri: str | None = None
    canary_uri: str | None = None
    canary_percent: float = 0.0
    #: JSONL file receiving every scored request (required with a shadow).
    prediction_log: Path | None = None
    max_records: int = 10_000
    max_body_bytes: int = 16 * 1024 * 1024
    #: Seconds a client has to send a request's headers (from connecting or the previous answer), and again its
    #: whole body; a connection whose headers are late closes, a body that is late gets 408 and the connection closes.
    body_timeout: float = 30.0
    #: Threads scoring /predict requests at once.
    predict_threads: int = 4
    #: Follow an unprotected alias or ``latest``, which move without any gate (off: refused).
    follow_unprotected_alias: bool = False

    def __post_init__(self) -> None:
        for label, uri in (("model", self.model_uri), ("shadow", self.shadow_uri), ("canary", self.canary_uri)):
            if uri is not None:
                parse_model_uri(uri)
                if label != "model" and uri == self.model_uri:
                    raise InvalidInput(f"the {label} URI {uri} is the served URI itself")
        if self.reload_secret is not None and len(self.reload_secret) < MIN_RELOAD_SECRET:
            raise InvalidInput(f"the reload secret must be at least {MIN_RELOAD_SECRET} characters long")
        if not 0.05 <= self.poll_interval <= 3600:
            raise InvalidInput("the poll interval must be between 0.05 and 3600 seconds")
        if not 0 <= self.canary_percent <= 100:
            raise InvalidInput(f"the canary share must be between 0 and 100 percent, not {self.canary_percent}")
        if self.canary_uri is not None and self.canary_percent <= 0:
            raise InvalidInput("a canary needs --canary-percent above 0 (the share of traffic it answers)")
        if self.canary_uri is None and self.canary_percent > 0:
            raise InvalidInput("--canary-percent needs --canary URI (the version that answers that share)")
        if self.shadow_uri is not None and self.prediction_log is None:
            raise InvalidInput("a shadow needs --prediction-log PATH: its predictions are only ever written there")
        if not 0.1 <= self.body_timeout <= 3600:
            raise InvalidInput("the body timeout must be between 0.1 and 3600 seconds")
        if self.max_records < 1 or self.max_body_bytes < 1024 or self.predict_threads < 1:
            raise InvalidInput("max records, max body size and predict threads must be positive")

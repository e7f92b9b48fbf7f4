"""Shadow scoring: a second version scores the same requests after they are answered; only the log sees it."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from .metrics import ServingMetrics
from .model_holder import ModelHolder
from .payload import PayloadError, json_safe, to_model_input
from .prediction_log import PredictionLog

__all__ = ["ShadowScorer"]

log = logging.getLogger("registry.serving")

_STOP = object()


class ShadowScorer:
    """Scores answered requests with the shadow slot's version on a background thread, then logs both answers."""

    def __init__(
        self, holder: ModelHolder, prediction_log: PredictionLog, metrics: ServingMetrics, *, max_queue: int = 1000
    ) -> None:
        self.holder = holder
        self._log = prediction_log
        self._metrics = metrics
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
        self._thread.start()

    def submit(self, entry: dict[str, Any]) -> None:
        """Queue an answered request's log entry (holding its records) for shadow scoring; dropped when behind."""
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._metrics.shadow_outcomes.labels("dropped").inc()
            entry["shadow"] = {"dropped": True}
            self._log.record(entry)

    def close(self, timeout: float = 5.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is _STOP:
                return
            entry["shadow"] = self._score(entry["records"])
            self._log.record(entry)

    def _score(self, records: list[Any]) -> dict[str, Any]:
        served = self.holder.current
        if served is None:
            self._metrics.shadow_outcomes.labels("failed").inc()
            return {"version": None, "error": "no shadow version loaded"}
        try:
            predictions = served.model.predict(to_model_input(records, served.schema))
        except PayloadError as exc:
            self._metrics.shadow_outcomes.labels("failed").inc()
            return {"version": served.info.version, "error": exc.message}
        except Exception as exc:  # a failing shadow must never affect serving; it is logged and counted instead
            self._metrics.shadow_outcomes.labels("failed").inc()
            log.warning("shadow version %d failed: %s: %s", served.info.version, type(exc).__name__, exc)
            return {"version": served.info.version, "error": f"{type(exc).__name__}: {exc}"}
        self._metrics.shadow_outcomes.labels("scored").inc()
        self._metrics.records.labels("shadow", str(served.info.version)).inc(len(records))
        return {"version": served.info.version, "predictions": json_safe(predictions.tolist())}

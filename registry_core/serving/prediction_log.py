"""The prediction log: one JSON line per scored request, readable later as "recent real traffic".

Each line holds the request's records, what answered them (slot, version,
predictions) and, with a shadow version, what the shadow predicted. Lines are
written by a background thread from a bounded queue, so a slow disk never
slows a request: when the queue is full the entry is dropped and counted.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from .metrics import ServingMetrics

__all__ = ["PredictionLog", "read_recent_traffic"]

log = logging.getLogger("registry.serving")

_STOP = object()


class PredictionLog:
    """Appends entries to a JSONL file from a background thread."""

    def __init__(self, path: str | Path, metrics: ServingMetrics, *, max_queue: int = 10_000) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot open the prediction log {self.path}: {exc.strerror}") from None
        self._metrics = metrics
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def record(self, entry: dict[str, Any]) -> bool:
        """Queue one entry; False (and counted) when the writer has fallen behind."""
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._metrics.prediction_log_dropped.inc()
            return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then close the file."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while True:
                entry = self._queue.get()
                if entry is _STOP:
                    return
                try:
                    self._file.write(json.dumps(entry, separators=(",", ":"), default=str) + "\n")
                    if self._queue.empty():
                        self._file.flush()
                except (OSError, ValueError) as exc:
                    self._metrics.prediction_log_dropped.inc()
                    log.error("cannot write the prediction log %s: %s", self.path, exc)
        finally:
            self._file.close()


def read_recent_traffic(path: str | Path, *, limit: int = 1000) -> list[dict[str, Any]]:
    """The newest ``limit`` entries of a prediction log, oldest first (a torn last line is skipped)."""
    if limit < 1:
        raise InvalidInput("limit must be at least 1")
    recent: deque[dict[str, Any]] = deque(maxlen=limit)
    for entry in _entries(Path(path)):
        recent.append(entry)
    return list(recent)


def _entries(path: Path) -> Iterator[dict[str, Any]]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read the prediction log {path}: {exc.strerror}") from None
    with handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                yield entry

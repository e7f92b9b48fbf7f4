"""How the server learns that what it serves has changed: a notification, or the catalog's event log.

``POST /reload`` wakes the follower at once; without one it reads the audit
log every ``poll_interval`` seconds from a cursor (one indexed query per
followed model). Either way the catalog has the last word: the follower
re-resolves each slot's URI and hands the answer to the slot's holder, which
loads it in the background if it differs from what is served.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..actions import AuditAction
from ..errors import NotFound, NotPermitted, RegistryError
from ..schema import utcnow
from ..uris import parse_model_uri
from .metrics import ServingMetrics
from .model_holder import ModelHolder, ModelLoader

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = ["RELEVANT_ACTIONS", "CatalogFollower"]

log = logging.getLogger("registry.serving")

#: Audit actions that can move a stage, alias or ``latest`` URI to another version, or (a check, a
#: decision, a policy change) make a protected alias's version stop meeting the gates, or (a rendition, a
#: policy's ONNX parity tolerance) change which artifact answers for a version.
RELEVANT_ACTIONS = frozenset(
    {
        AuditAction.VERSION_REGISTER,
        AuditAction.VERSION_ATTACH,  # a reference's bytes: what a slot on it can load now
        AuditAction.VERSION_TRANSITION,
        AuditAction.VERSION_PROMOTE,
        AuditAction.VERSION_ROLLBACK,
        AuditAction.ALIAS_SET,
        AuditAction.ALIAS_DELETE,
        AuditAction.CHECK_RECORD,
        AuditAction.APPROVAL_RECORD,
        AuditAction.POLICY_SET,
        AuditAction.VERSION_RENDER,
    }
)
_PAGE = 1000


class CatalogFollower:
    """Keeps every slot's holder pointed at the version its URI resolves to."""

    def __init__(
        self,
        registry: Registry,
        loader: ModelLoader,
        holders: Sequence[ModelHolder],
        *,
        poll_interval: float,
        metrics: ServingMetrics,
    ) -> None:
        self._registry = registry
        self._loader = loader
        self._holders = list(holders)
        self._names = sorted({parse_model_uri(holder.uri).name for holder in self._holders})
        self.poll_interval = poll_interval
        self._metrics = metrics
        self._cursors: dict[str, int] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._forced = False
        self._thread: threading.Thread | None = None
        self.last_poll_at: datetime | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self._problems: dict[str, str] = {}

    def prime(self) -> None:
        """Start the cursor at the newest event; call before the first load so that no change slips between."""
        newest = self._registry.audit_events(limit=1)
        seq = newest[-1].seq if newest else 0
        self._cursors = dict.fromkeys(self._names, seq)
        self._metrics.catalog_cursor.set(seq)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="catalog-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def notify(self) -> None:
        """Look at the catalog now (the redeploy job's notification); a failed version is retried only if it changed."""
        with self._lock:
            self._forced = True
            self._wake.set()

    def check(self, *, forced: bool = False) -> None:
        """One pass: read new events; when one may have moved a followed URI (or when forced), re-resolve."""
        moved = forced
        cursors = dict(self._cursors)
        for name in self._names:
            while True:
                events = self._registry.audit_events(name, after_seq=cursors.get(name, 0), limit=_PAGE)
                if not events:
                    break
                cursors[name] = events[-1].seq
                moved = moved or any(event.action in RELEVANT_ACTIONS for event in events)
                if len(events) < _PAGE:
                    break
        if moved:
            seen = max(cursors.values(), default=0)
            for holder in self._holders:
                self._follow(holder, seen)
        # Only now: if the catalog failed half-way, the next pass reads the same events again.
        self._cursors = cursors
        if cursors:
            self._metrics.catalog_cursor.set(max(cursors.values()))

    def status(self) -> dict[str, Any]:
        return {
            "poll_interval": self.poll_interval,
            "cursor": max(self._cursors.values()) if self._cursors else None,
            "last_poll_at": self.last_poll_at.isoformat() if self.last_poll_at else None,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
        }

    def problems(self) -> list[str]:
        """What keeps the follower from doing its job right now (for /health)."""
        found = list(self._problems.values())
        if self.last_error is not None:
            found.append(f"cannot read the catalog: {self.last_error}")
        return found

    def _follow(self, holder: ModelHolder, catalog_seq: int) -> None:
        try:
            version = self._loader.resolve(holder.uri)
        except NotFound as error:
            if holder.optional:
                # The candidate stage is empty (say, right after its version was promoted): nothing to try.
                self._problems.pop(holder.slot, None)
                holder.go_idle()
                return
            # E.g. no version left in Production: keep serving what we have, and say so.
            self._problems[holder.slot] = f"{holder.uri} does not resolve: {error.message}"
            log.warning("%s: %s does not resolve (%s); still serving what it has", holder.slot, holder.uri, error.message)
            return
        except NotPermitted as error:
            # E.g. a protected alias whose version no longer meets the gates: load nothing it points at. The
            # primary keeps answering with what it has (as when Production empties) and says so; a canary or
            # shadow, which are extras, stop.
            self._problems[holder.slot] = f"{holder.uri} is not followed: {error.message}"
            log.warning("%s: %s is not followed (%s)", holder.slot, holder.uri, error.message)
            if holder.optional:
                holder.go_idle()
            return
        self._problems.pop(holder.slot, None)
        holder.follow(version, catalog_seq=catalog_seq)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_interval)
            with self._lock:
                forced, self._forced = self._forced, False
                self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check(forced=forced)
            except RegistryError as error:
                with self._lock:
                    self._forced = self._forced or forced
                self.last_error, self.last_error_at = error.message, utcnow()
                self._metrics.catalog_polls.labels("failed").inc()
                log.warning("cannot read the catalog, still serving: %s", error.message)
                continue
            self.last_poll_at = utcnow()
            self.last_error = None
            self._metrics.catalog_polls.labels("ok").inc()

"""The served version of one slot (primary, canary or shadow), and how a new one replaces it.

A new version is loaded on a background thread: its bytes are verified against
the catalog's digest (``Registry.load_model`` refuses anything else), it is
warmed up on a sample of recent real records, and only then does one
reference assignment swap it in (its ONNX rendition answers instead where
:mod:`.answering_artifact` says so). A request reads that reference once, so it
finishes on the version it started with; a load that fails at any step leaves
the served version untouched and is reported.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..contained_load import Rehearsal
from ..errors import NotPermitted, RegistryError
from ..governance import require_alias_still_gated
from ..records import VersionInfo
from ..renditions import RenditionChoice, RenditionInfo
from ..schema import utcnow
from ..stages import Stage
from ..uris import parse_model_uri
from .answering_artifact import chosen_digest, load_answering
from .metrics import ServingMetrics
from .payload import InputSchema, PayloadError, to_model_input

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = ["CatalogModelLoader", "LoadFailure", "ModelHolder", "ModelLoader", "ServedModel", "warm_up"]

log = logging.getLogger("registry.serving")

#: How many recent real records are kept to warm up the next version on.
SAMPLE_SIZE = 8
#: A request whose records a version is expected to score within this long is scored on the event loop: handing
#: it to a thread and back would cost more than the scoring (tens of microseconds for ONNX or a booster).
INLINE_SECONDS = 0.001


class ModelLoader(Protocol):
    """Where versions come from: the catalog, in production."""

    def resolve(self, uri: str) -> VersionInfo:
        """The version ``uri`` points at now."""
        ...

    def load(self, version: VersionInfo, *, contained: bool | Rehearsal = False) -> Any:
        """The model object of exactly this version, its bytes verified; ``contained``: tried in another process first."""
        ...

    def choose(self, version: VersionInfo) -> RenditionChoice:
        """Whether ``version`` answers with its ONNX rendition, and why."""

    def load_rendition(self, rendition: RenditionInfo) -> Any:
        """The rendition as a model, its bytes verified against its digest."""


class CatalogModelLoader:
    """Loads versions from a registry: verified against the catalog's digest before unpickling.

    It follows stages, fixed versions and protected aliases, the latter only
    while their version still meets the gates (a check that failed since, an
    archived version or a tightened policy stops it). An unprotected
    alias, ``latest`` or the None or Archived stage moves without any gate, so following one needs
    ``follow_unprotected_alias`` (``registry serve --follow-unprotected-alias``).
    """

    def __init__(self, registry: Registry, *, follow_unprotected_alias: bool = False) -> None:
        self.registry = registry
        self.follow_unprotected_alias = follow_unprotected_alias

    def resolve(self, uri: str) -> VersionInfo:
        if not self.follow_unprotected_alias:
            require_gated_pointer(self.registry, uri)
        alias = parse_model_uri(uri).alias
        if alias is None:
            return self.registry.resolve(uri)
        # One read: the version, whether the alias is protected, and what that version misses now. Protection is
        # judged on this read too: the policy may have changed (and the alias moved) since the check above.
        details = self.registry.show(uri)
        if not self.follow_unprotected_alias and alias not in details.protected_aliases:
            raise _unprotected_alias(uri, details.version.model, alias)
        require_alias_still_gated(details, alias)
        return details.version

    def load(self, version: VersionInfo, *, contained: bool | Rehearsal = False) -> Any:
        # By number, not by the followed URI, which may have moved on since it was resolved.
        return self.registry.load_model(version.uri, contained=contained)

    def choose(self, version: VersionInfo) -> RenditionChoice:
        return self.registry.serving_choice(version)

    def load_rendition(self, rendition: RenditionInfo) -> Any:
        return self.registry.load_rendition(rendition)  # made by the registry: not tried in another process first


#: Stages a version reaches without passing any gate: registering puts it in None, and anyone may archive it.
_UNGATED_STAGES = {
    Stage.NONE: "the newest version still in None (anyone who registers one puts it there)",
    Stage.ARCHIVED: "the newest Archived version (anyone may archive a version that passed no gate)",
}


def require_gated_pointer(registry: Registry, uri: str) -> None:
    """Raise :class:`NotPermitted` when ``uri`` follows a pointer that no gate guards.

    Those are an unprotected alias, ``latest``, and the None and Archived stages.
    """
    ref = parse_model_uri(uri)
    if ref.latest:
        raise NotPermitted(
            f"{uri} follows the newest registration, which no gate guards: serve a stage or a protected alias, "
            "or pass --follow-unprotected-alias"
        )
    if ref.stage in _UNGATED_STAGES:
        raise NotPermitted(
            f"{uri} follows {_UNGATED_STAGES[ref.stage]}, which no gate guards: serve Staging, Production, a fixed "
            "version or a protected alias, or pass --follow-unprotected-alias"
        )
    if ref.alias is not None and not registry.get_policy(ref.name).protects(ref.alias):
        raise _unprotected_alias(uri, ref.name, ref.alias)


def _unprotected_alias(uri: str, name: str, alias: str) -> NotPermitted:
    return NotPermitted(
        f"{uri} follows the unprotected alias @{alias}, which anyone may point at any version: protect it "
        f"(registry policy {name} --protect-alias {alias}) or pass --follow-unprotected-alias"
    )


@dataclass(frozen=True)
class ServedModel:
    """A loaded, verified, warmed-up version, ready to score."""

    info: VersionInfo
    model: Any
    schema: InputSchema
    loaded_at: datetime
    load_seconds: float
    #: The artifact that answers (the version's own, or its ONNX rendition) and why.
    answered_by: dict[str, Any] = field(default_factory=dict)
    chosen: str | None = None  # the digest of the rendition chosen at load (used or refused), else None
    #: Seconds this version took to turn one record into its input and predict, measured after warm-up.
    record_seconds: float = math.inf

    def scores_inline(self, records: int) -> bool:
        """Whether ``records`` records are cheap enough to score on the event loop rather than on a thread."""
        return records * self.record_seconds <= INLINE_SECONDS

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.info.model,
            "version": self.info.version,
            "uri": self.info.uri,
            "artifact_sha256": self.info.artifact_sha256,
            "answered_by": self.answered_by,
            "loaded_at": self.loaded_at.isoformat(),
            "load_seconds": round(self.load_seconds, 4),
            "record_seconds": round(self.record_seconds, 6) if math.isfinite(self.record_seconds) else None,
        }


@dataclass(frozen=True)
class LoadFailure:
    """A version that could not be loaded, verified or warmed up."""

    version: int
    artifact_sha256: str
    error: str
    at: datetime
    #: The newest audit event the server had seen when it asked for this version; it is not
    #: tried again until the catalog moves past it (say, a policy change that allows it).
    catalog_seq: int = 0

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "error": self.error, "at": self.at.isoformat()}


def warm_up(model: Any, schema: InputSchema, sample: list[Any] | None) -> None:
    """Score a sample (recent real records, else zeros) and check the answer; raise if the model cannot serve."""
    records = sample or _synthetic_sample(schema)
    if records is None:
        raise ValueError("the model declares no input features, so there is nothing to warm it up on")
    try:
        features = to_model_input(records, schema)
    except PayloadError as exc:
        raise ValueError(f"recent records do not fit this version's inputs: {exc.message}") from None
    predictions = np.asarray(model.predict(features))
    if predictions.shape[:1] != (len(records),):
        raise ValueError(f"warm-up on {len(records)} records returned predictions of shape {predictions.shape}")


def record_seconds(model: Any, schema: InputSchema, sample: list[Any] | None) -> float:
    """The fastest of three single-record scorings (input built, then predicted) of a warmed-up model."""
    records = (sample or _synthetic_sample(schema) or [])[:1]
    if not records:
        return math.inf
    fastest = math.inf
    for _ in range(3):
        started = time.perf_counter()
        model.predict(to_model_input(records, schema))
        fastest = min(fastest, time.perf_counter() - started)
    return fastest


def _synthetic_sample(schema: InputSchema) -> list[Any] | None:
    if schema.names is not None:
        return [dict.fromkeys(schema.names, 0.0)]
    if schema.width is not None:
        return [[0.0] * schema.width]
    return None


class ModelHolder:
    """One slot's served version, and the background load that may replace it."""

    def __init__(
        self, slot: str, uri: str, loader: ModelLoader, executor: Executor, metrics: ServingMetrics,
        *, optional: bool = False,
    ) -> None:
        self.slot = slot
        self.uri = uri
        #: Canary and shadow slots may sit idle (their URI resolving to nothing); the primary never does.
        self.optional = optional
        self._loader = loader
        self._executor = executor
        self._metrics = metrics
        self._lock = threading.Lock()
        self._current: ServedModel | None = None
        self._target: VersionInfo | None = None
        self._target_since: datetime | None = None
        self._target_seq = 0
        self._target_chosen: str | None = None
        self._generation = 0
        self._failure: LoadFailure | None = None
        self._sample: list[Any] | None = None

    @property
    def current(self) -> ServedModel | None:
        """The version serving now; read it once per request."""
        return self._current

    @property
    def failure(self) -> LoadFailure | None:
        """The newest failed load, until a later version swaps in."""
        return self._failure

    def remember_sample(self, records: list[Any]) -> None:
        """Keep a few records the current version scored, to warm the next one up on."""
        self._sample = records[:SAMPLE_SIZE]

    def load_now(self) -> ServedModel:
        """Resolve the slot's URI and load that version synchronously (at startup); raise if it cannot serve."""
        version = self._loader.resolve(self.uri)
        started = time.perf_counter()
        try:
            served = self._prepare(version, started)
        except Exception as exc:  # an unpickled model can fail in any way; say which version and why
            error = exc.message if isinstance(exc, RegistryError) else f"{type(exc).__name__}: {exc}"
            self._failure = LoadFailure(version.version, version.artifact_sha256, error[:2000], utcnow())
            self._metrics.swap_failures.labels(self.slot).inc()
            if isinstance(exc, RegistryError):
                raise
            raise RegistryError(f"{version.uri} cannot serve: {error}") from exc
        with self._lock:
            self._swap(served, initial=True)
        return served

    def follow(self, version: VersionInfo, *, catalog_seq: int = 0) -> bool:
        """Make ``version`` the served one: start loading it unless it is served, loading, or failed before.

        A version that failed is tried again only once the catalog has changed
        since (``catalog_seq``, the newest audit event seen, is past the failure's). A version served with
        another artifact than the one now chosen for it (its rendition or its own) is loaded again.
        """
        chosen = chosen_digest(self._loader.choose(version))
        with self._lock:
            current = self._current
            if current is not None and _same(current.info, version) and current.chosen == chosen:
                # A failure of some other version no longer matters: this one is wanted and served.
                self._failure = None
                if self._target is not None:
                    log.info("%s: back to version %d; dropping the load of version %d",
                             self.slot, version.version, self._target.version)
                    self._generation += 1
                    self._target = None
                return False
            if self._target is not None and _same(self._target, version) and self._target_chosen == chosen:
                return False
            failure = self._failure
            if (
                failure is not None
                and (failure.version, failure.artifact_sha256) == (version.version, version.artifact_sha256)
                and catalog_seq <= failure.catalog_seq
            ):
                return False
            self._generation += 1
            self._target = version
            self._target_since = utcnow()
            self._target_seq = catalog_seq
            self._target_chosen = chosen
            generation = self._generation
        log.info("%s: loading version %d of %s in the background", self.slot, version.version, version.model)
        self._executor.submit(self._load, version, generation)
        return True

    def go_idle(self) -> None:
        """Serve nothing in this (optional) slot: its URI points at no version now."""
        if not self.optional:
            raise RuntimeError("the primary slot never goes idle")
        with self._lock:
            self._generation += 1
            self._target = None
            self._failure = None
            previous, self._current = self._current, None
        if previous is not None:
            self._metrics.served_version.labels(self.slot, previous.info.model).set(0)
            log.info("%s: %s points at no version now; idle", self.slot, self.uri)

    def status(self) -> dict[str, Any]:
        """The slot as /version shows it."""
        current, target, failure = self._current, self._target, self._failure
        return {
            "uri": self.uri,
            "serving": current.describe() if current else None,
            "loading": {"version": target.version, "since": self._target_since.isoformat() if self._target_since else None}
            if target else None,
            "last_failure": failure.describe() if failure else None,
        }

    def _load(self, version: VersionInfo, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
        started = time.perf_counter()
        try:
            served = self._prepare(version, started)
        except Exception as exc:  # whatever went wrong, the old version keeps serving; report and move on
            error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, RegistryError) else exc.message
            with self._lock:
                failure = LoadFailure(version.version, version.artifact_sha256, error[:2000], utcnow(), self._target_seq)
                # A failure of a version that is no longer wanted is logged and counted, not reported as current.
                if generation == self._generation:
                    self._target = None
                    self._failure = failure
            self._metrics.swap_failures.labels(self.slot).inc()
            log.error("%s: version %d of %s was NOT swapped in, still serving %s: %s", self.slot, version.version,
                      version.model, self._current.info.version if self._current else "nothing", error)
            return
        with self._lock:
            if generation != self._generation:
                log.info("%s: version %d loaded but no longer wanted; discarded", self.slot, version.version)
                return
            previous = self._current
            self._swap(served)
            self._target = None
        log.info("%s: now serving version %d of %s (was %s; loaded, verified and warmed up in %.3f s)",
                 self.slot, version.version, version.model, previous.info.version if previous else "none",
                 served.load_seconds)

    def _prepare(self, version: VersionInfo, started: float) -> ServedModel:
        # A canary or shadow is an unapproved candidate next to Production: loaded and warmed up on the same records
        # in another process first, so that a crash there leaves Production serving.
        rehearsal = Rehearsal(self._sample, version.signature) if self.optional else False
        model, answered_by, chosen = load_answering(self._loader, version, contained=rehearsal, slot=self.slot)
        schema = InputSchema.of(model, version.signature)
        warm_up(model, schema, self._sample)
        per_record = record_seconds(model, schema, self._sample)
        elapsed = time.perf_counter() - started
        self._metrics.load_seconds.labels(self.slot).observe(elapsed)
        return ServedModel(info=version, model=model, schema=schema, loaded_at=utcnow(), load_seconds=elapsed,
                           answered_by=answered_by, chosen=chosen, record_seconds=per_record)

    def _swap(self, served: ServedModel, *, initial: bool = False) -> None:
        # One reference assignment: requests that already read the old one keep it.
        self._current = served
        self._failure = None
        if not initial:
            self._metrics.swaps.labels(self.slot).inc()
        self._metrics.served_version.labels(self.slot, served.info.model).set(served.info.version)


def _same(a: VersionInfo, b: VersionInfo) -> bool:
    return (a.model, a.version, a.artifact_sha256) == (b.model, b.version, b.artifact_sha256)

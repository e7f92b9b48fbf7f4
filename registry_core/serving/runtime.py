"""The scoring server's moving parts, wired together: slots, follower, canary, shadow and prediction log."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..errors import NotFound, NotPermitted, RegistryError
from .canary import CanaryRouter
from .follower import CatalogFollower
from .metrics import ServingMetrics
from .model_holder import CatalogModelLoader, ModelHolder, ModelLoader
from .options import ServingOptions
from .prediction_log import PredictionLog
from .shadow import ShadowScorer

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = ["ServingRuntime"]

log = logging.getLogger("registry.serving")


class ServingRuntime:
    """Owns the background threads of one scoring server; :meth:`start` before serving, :meth:`stop` after."""

    def __init__(self, registry: Registry, options: ServingOptions, *, loader: ModelLoader | None = None) -> None:
        self.options = options
        self.metrics = ServingMetrics()
        self.loader: ModelLoader = loader or CatalogModelLoader(
            registry, follow_unprotected_alias=options.follow_unprotected_alias
        )
        # One loader thread: versions load one at a time, leaving the other core to traffic.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-loader")
        self.primary = ModelHolder("primary", options.model_uri, self.loader, self._executor, self.metrics)
        self.canary = (
            ModelHolder("canary", options.canary_uri, self.loader, self._executor, self.metrics, optional=True)
            if options.canary_uri else None
        )
        self.shadow = (
            ModelHolder("shadow", options.shadow_uri, self.loader, self._executor, self.metrics, optional=True)
            if options.shadow_uri else None
        )
        self.holders = [h for h in (self.primary, self.canary, self.shadow) if h is not None]
        self.router = CanaryRouter(options.canary_percent if self.canary else 0.0)
        self.follower = CatalogFollower(
            registry, self.loader, self.holders, poll_interval=options.poll_interval, metrics=self.metrics
        )
        self.prediction_log: PredictionLog | None = None
        self.shadow_scorer: ShadowScorer | None = None
        self.metrics.canary_percent.set(self.router.percent)
        self.metrics.shadow_enabled.set(1 if self.shadow else 0)

    def start(self) -> None:
        """Load every slot's version (the primary must load), then start following the catalog."""
        try:
            self.follower.prime()
            self.primary.load_now()
            for holder in self.holders[1:]:
                self._load_optional(holder)
            if self.options.prediction_log is not None:
                self.prediction_log = PredictionLog(self.options.prediction_log, self.metrics)
                if self.shadow is not None:
                    self.shadow_scorer = ShadowScorer(self.shadow, self.prediction_log, self.metrics)
            self.follower.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop following, finish logging, drop pending loads."""
        self.follower.stop()
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self.shadow_scorer is not None:
            self.shadow_scorer.close()
        if self.prediction_log is not None:
            self.prediction_log.close()

    def status(self) -> dict[str, Any]:
        """What /version shows."""
        primary = self.primary.status()
        return {
            "model_uri": self.options.model_uri,
            "serving": primary["serving"],
            "loading": primary["loading"],
            "last_failure": primary["last_failure"],
            "canary": {**self.canary.status(), "percent": self.router.percent} if self.canary else None,
            "shadow": self.shadow.status() if self.shadow else None,
            "prediction_log": str(self.options.prediction_log) if self.options.prediction_log else None,
            "follower": self.follower.status(),
        }

    def health(self) -> tuple[int, dict[str, Any]]:
        """What /health answers: 503 when nothing can serve, else 200, ``degraded`` with the reasons."""
        current = self.primary.current
        if current is None:
            return 503, {"status": "unavailable", "problems": ["no version loaded"]}
        problems = [
            f"{holder.slot}: version {failure.version} failed to load and is not served: {failure.error}"
            for holder in self.holders
            if (failure := holder.failure) is not None
        ] + self.follower.problems()
        body = {"status": "degraded" if problems else "ok", "version": current.info.version, "problems": problems}
        return 200, body

    def _load_optional(self, holder: ModelHolder) -> None:
        try:
            holder.load_now()
        except NotFound as error:
            log.warning("%s: %s resolves to no version yet (%s); idle until it does", holder.slot, holder.uri, error.message)
        except NotPermitted:
            raise  # a URI this server may not follow (an unprotected alias): refused at start, like the primary's
        except RegistryError as error:
            log.error("%s: %s cannot serve (%s); idle until a new version loads", holder.slot, holder.uri, error.message)

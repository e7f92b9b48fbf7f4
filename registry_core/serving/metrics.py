"""The scoring server's Prometheus metrics, in a collector registry of its own (one per server)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "ServingMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class ServingMetrics:
    """Request counts and latencies, the versions served, swaps and their failures, shadow and canary traffic."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "registry_serving_requests", "HTTP requests by endpoint and status code.", ["endpoint", "status"], registry=r
        )
        self.latency = Histogram(
            "registry_serving_request_seconds", "Time to answer an HTTP request, by endpoint.", ["endpoint"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.records = Counter(
            "registry_serving_records_scored", "Records scored, by slot (primary, canary, shadow) and version.",
            ["slot", "version"], registry=r,
        )
        self.served_version = Gauge(
            "registry_serving_model_version", "The model version each slot serves now (0: none).", ["slot", "model"],
            registry=r,
        )
        self.swaps = Counter(
            "registry_serving_swaps", "Versions swapped in after loading, verifying and warming up.", ["slot"], registry=r
        )
        self.swap_failures = Counter(
            "registry_serving_swap_failures", "Versions that failed to load, verify or warm up and were not swapped in.",
            ["slot"], registry=r,
        )
        self.load_seconds = Histogram(
            "registry_serving_load_seconds", "Time to load, verify and warm up a version.", ["slot"],
            buckets=_LOAD_BUCKETS, registry=r,
        )
        self.reloads = Counter(
            "registry_serving_reload_requests", "POST /reload calls by outcome.", ["outcome"], registry=r
        )
        self.catalog_polls = Counter(
            "registry_serving_catalog_polls", "Reads of the catalog's event log by the follower, by outcome.",
            ["outcome"], registry=r,
        )
        self.catalog_cursor = Gauge(
            "registry_serving_catalog_cursor", "The newest audit sequence number the follower has seen.", registry=r
        )
        self.canary_percent = Gauge(
            "registry_serving_canary_percent", "Share of /predict traffic routed to the canary (0: off).", registry=r
        )
        self.canary_fallbacks = Counter(
            "registry_serving_canary_fallbacks", "Canary requests answered by the primary because the canary failed.",
            registry=r,
        )
        self.shadow_enabled = Gauge(
            "registry_serving_shadow_enabled", "1 when a shadow version scores every request.", registry=r
        )
        self.shadow_outcomes = Counter(
            "registry_serving_shadow_requests", "Shadow scoring by outcome (scored, failed, dropped).", ["outcome"],
            registry=r,
        )
        self.prediction_log_dropped = Counter(
            "registry_serving_prediction_log_dropped", "Prediction log entries dropped because the writer fell behind.",
            registry=r,
        )

        # Labelled children by label values: prometheus_client's own lookup checks and locks on every call.
        self._per_request: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._per_version: dict[tuple[str, int], Any] = {}

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered request and record how long it took."""
        children = self._per_request.get((endpoint, status))
        if children is None:
            children = (self.latency.labels(endpoint), self.requests.labels(endpoint, str(status)))
            self._per_request[(endpoint, status)] = children
        children[0].observe(seconds)
        children[1].inc()

    def count_records(self, slot: str, version: int, records: int) -> None:
        """Count records scored by ``slot`` serving ``version``."""
        child = self._per_version.get((slot, version))
        if child is None:
            child = self._per_version[(slot, version)] = self.records.labels(slot, str(version))
        child.inc(records)

    def render(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)

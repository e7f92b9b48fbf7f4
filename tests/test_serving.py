"""The scoring server follows the catalog: real uvicorn on loopback, real catalogs (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hostile_estimators import CodeOnUnpickle
from prometheus_client.parser import text_string_to_metric_families
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from registry_core import Registry
from registry_core.cli import cli
from registry_core.serving import BackgroundServer, ServingOptions, ServingRuntime, read_recent_traffic
from registry_core.serving.server import listening_socket

FEATURES = ["amount", "hour", "merchant_risk", "distance"]
RECORD = {"amount": 120.5, "hour": 3, "merchant_risk": 0.7, "distance": 12.0}
SECRET = "reload-secret-for-tests"
#: Every wait in this module gives up after this long.
WAIT = 10.0


def trained(seed: int) -> LogisticRegression:
    """A small fraud-like classifier fitted on named columns."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(200, len(FEATURES))), columns=FEATURES)
    labels = (frame["amount"] + frame["merchant_risk"] > 0.5).astype(int)
    return LogisticRegression(C=1.0 + seed).fit(frame, labels)


#: Set when a SlowClassifier starts a prediction: the request it answers is in flight.
SLOW_PREDICTION_STARTED = threading.Event()


class SlowClassifier(ClassifierMixin, BaseEstimator):
    """Answers like ``inner`` after sleeping: keeps a request in flight across a swap."""

    def __init__(self, inner: Any = None, delay: float = 0.0) -> None:
        self.inner = inner
        self.delay = delay

    def fit(self, X: Any, y: Any) -> SlowClassifier:
        self.inner = LogisticRegression().fit(X, y)
        self.feature_names_in_ = self.inner.feature_names_in_
        self.n_features_in_ = self.inner.n_features_in_
        self.classes_ = self.inner.classes_
        return self

    def predict(self, X: Any) -> Any:
        SLOW_PREDICTION_STARTED.set()
        time.sleep(self.delay)
        return self.inner.predict(X)


class BrokenClassifier(ClassifierMixin, BaseEstimator):
    """Loads fine, fails on every prediction: must never pass warm-up."""

    def fit(self, X: Any, y: Any) -> BrokenClassifier:
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> Any:
        raise RuntimeError("this version cannot score anything")


def training_frame() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(50, len(FEATURES))), columns=FEATURES)
    return frame, (frame["amount"] > 0).astype(int)


def stage_and_approve(registry: Registry, name: str, version: int) -> None:
    registry.transition(name, version, "Staging")
    registry.as_actor("bob").approve(name, version)


def trust(registry: Registry, cls: type, name: str = "fraud") -> None:
    """Let the model's versions hold ``cls``, a class of this module rather than scikit-learn's own."""
    if name not in {model.name for model in registry.list_models()}:
        registry.create_model(name)
    registry.set_policy(name, trusted_types=[f"{cls.__module__}.{cls.__qualname__}"])


def register_ready(registry: Registry, model: Any, name: str = "fraud") -> int:
    """Register ``model`` and take it to Staging with an approval: ready to promote."""
    version = registry.register(name, model).version
    stage_and_approve(registry, name, version)
    return version


@pytest.fixture
def catalog(registry: Registry) -> Registry:
    """Version 1 in Production, version 2 approved in Staging."""
    register_ready(registry, trained(1))
    register_ready(registry, trained(2))
    registry.promote("fraud", 1)
    return registry


@contextlib.contextmanager
def serving(registry: Registry, **options: Any) -> Iterator[tuple[BackgroundServer, httpx.Client]]:
    """A started scoring server on a free loopback port, and a client for it."""
    settings = {"model_uri": "models:/fraud/Production", "reload_secret": SECRET, "poll_interval": 0.2, **options}
    runtime = ServingRuntime(registry, ServingOptions(**settings))
    runtime.start()
    try:
        with BackgroundServer(runtime) as server, client_for(server.url) as client:
            yield server, client
    finally:
        runtime.stop()


def client_for(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=WAIT, trust_env=False)


def wait_until(condition: Callable[[], Any], *, timeout: float = WAIT, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout} s")


def served_version(client: httpx.Client) -> int | None:
    serving_now = client.get("/version").json()["serving"]
    return serving_now["version"] if serving_now else None


def notify(client: httpx.Client) -> None:
    response = client.post("/reload", headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 202, response.text


def predict(client: httpx.Client, records: list[Any] | None = None) -> httpx.Response:
    return client.post("/predict", json={"records": records or [RECORD]})


class Traffic(threading.Thread):
    """Steady /predict traffic from its own connection until stopped (bounded in time and count)."""

    def __init__(self, url: str, *, max_seconds: float = 60.0, max_requests: int = 50_000) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.stopped = threading.Event()
        self.versions: list[int] = []
        self.failures: list[str] = []

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        with client_for(self.url) as client:
            while not self.stopped.is_set() and time.monotonic() < deadline and len(self.versions) < self.max_requests:
                try:
                    response = predict(client)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if response.status_code != 200:
                    self.failures.append(f"HTTP {response.status_code}: {response.text}")
                    continue
                self.versions.append(response.json()["version"])

    def stop(self) -> None:
        self.stopped.set()
        self.join(WAIT)

    def sees(self, version: int) -> bool:
        return bool(self.versions) and self.versions[-1] == version


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a /metrics page, or None when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def collapsed(values: list[int]) -> list[int]:
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]


# --- following Production ----------------------------------------------------------------------


def test_promotions_and_rollbacks_under_traffic_fail_no_request_and_the_served_version_follows(catalog: Registry):
    """Six changes of Production while another thread scores without pause: every request answered, every change followed."""
    with serving(catalog) as (server, client):
        traffic = Traffic(server.url)
        traffic.start()
        try:
            wait_until(lambda: traffic.sees(1), what="traffic on version 1")
            expected = [1]
            changes: list[Callable[[], Any]] = [
                lambda: catalog.promote("fraud", 2),
                lambda: catalog.rollback("fraud", reason="drill"),
                lambda: catalog.rollback("fraud", to_version=2, reason="drill"),
                lambda: catalog.rollback("fraud", to_version=1, reason="drill"),
                lambda: catalog.rollback("fraud", to_version=2, reason="drill"),
                lambda: catalog.rollback("fraud", to_version=1, reason="drill"),
            ]
            for change in changes:
                target = change().version.version
                notify(client)
                wait_until(lambda target=target: traffic.sees(target), what=f"traffic on version {target}")
                expected.append(target)
        finally:
            traffic.stop()
    assert traffic.failures == []
    assert collapsed(traffic.versions) == expected
    assert len(traffic.versions) > len(expected)


def test_without_a_notification_the_catalog_poll_finds_the_change(catalog: Registry):
    """No /reload: reading the catalog's event log brings the promoted version in within a few poll intervals."""
    with serving(catalog, poll_interval=0.2) as (_server, client):
        started = time.monotonic()
        catalog.promote("fraud", 2)
        wait_until(lambda: served_version(client) == 2, timeout=5.0, what="version 2 served")
        assert time.monotonic() - started < 5.0
        assert predict(client).json()["version"] == 2
        metrics = client.get("/metrics").text
    assert metric(metrics, "registry_serving_swaps_total", slot="primary") == 1
    assert metric(metrics, "registry_serving_model_version", slot="primary", model="fraud") == 2
    assert metric(metrics, "registry_serving_catalog_polls_total", outcome="ok") >= 1
    assert metric(metrics, "registry_serving_requests_total", endpoint="/predict", status="200") == 1
    assert metric(metrics, "registry_serving_records_scored_total", slot="primary", version="2") == 1


def test_requests_in_flight_finish_on_the_version_they_started_on(registry: Registry):
    """A slow request that began on version 1 is answered by version 1 even though version 2 swapped in meanwhile."""
    frame, labels = training_frame()
    trust(registry, SlowClassifier)
    register_ready(registry, SlowClassifier(delay=0.8).fit(frame, labels))
    registry.promote("fraud", 1)
    register_ready(registry, trained(2))
    with serving(registry) as (server, client):
        answers: list[httpx.Response] = []

        def slow_request() -> None:
            with client_for(server.url) as own:
                answers.append(predict(own))

        SLOW_PREDICTION_STARTED.clear()  # set by the warm-up when the server started
        in_flight = threading.Thread(target=slow_request)
        in_flight.start()
        # Swapped only once version 1 is answering: a fixed pause loses that race on a busy machine.
        assert SLOW_PREDICTION_STARTED.wait(WAIT), "the slow request never reached version 1"
        registry.promote("fraud", 2)
        notify(client)
        wait_until(lambda: served_version(client) == 2, what="version 2 served")
        assert predict(client).json()["version"] == 2
        in_flight.join(WAIT)
    assert answers[0].status_code == 200
    assert answers[0].json()["version"] == 1


def corrupt_blob(registry: Registry, version: int) -> None:
    path = Path(urlparse(registry.store.location(registry.get_version("fraud", version).artifact_sha256)).path)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def register_corrupted(registry: Registry, tmp_path: Path) -> int:
    version = register_ready(registry, trained(3))
    corrupt_blob(registry, version)
    return version


def register_failing_warm_up(registry: Registry, tmp_path: Path) -> int:
    frame, labels = training_frame()
    trust(registry, BrokenClassifier)
    return register_ready(registry, BrokenClassifier().fit(frame, labels))


def register_not_a_model(registry: Registry, tmp_path: Path) -> int:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"not a pickled estimator")
    return register_ready(registry, path)


@pytest.mark.parametrize(
    "make_bad_version",
    [register_corrupted, register_failing_warm_up, register_not_a_model],
    ids=["corrupted-bytes", "fails-warm-up", "not-a-model"],
)
def test_a_version_that_cannot_serve_is_never_swapped_in_and_the_old_one_keeps_answering(
    registry: Registry, tmp_path: Path, make_bad_version: Callable[[Registry, Path], int]
):
    """Promoting a corrupted or unloadable version leaves version 1 serving every request, with the failure reported."""
    register_ready(registry, trained(1))
    registry.promote("fraud", 1)
    bad = make_bad_version(registry, tmp_path)
    with serving(registry) as (server, client):
        traffic = Traffic(server.url)
        traffic.start()
        try:
            wait_until(lambda: traffic.sees(1), what="traffic on version 1")
            registry.promote("fraud", bad)
            notify(client)
            failure = wait_until(lambda: client.get("/version").json()["last_failure"], what="the failure reported")
            notify(client)  # a second notice, with the catalog unchanged, must not load the failed version again
            seen = len(traffic.versions)
            wait_until(lambda: len(traffic.versions) > seen + 20, what="more traffic after the failure")
        finally:
            traffic.stop()
        health = client.get("/health")
        metrics = client.get("/metrics").text
    assert traffic.failures == []
    assert set(traffic.versions) == {1}
    assert failure["version"] == bad
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert f"version {bad} failed to load" in health.json()["problems"][0]
    assert metric(metrics, "registry_serving_swap_failures_total", slot="primary") == 1
    assert metric(metrics, "registry_serving_swaps_total", slot="primary") is None
    assert metric(metrics, "registry_serving_model_version", slot="primary", model="fraud") == 1


def test_a_good_version_after_a_failed_one_swaps_in_and_health_recovers(registry: Registry, tmp_path: Path):
    """After a failed load, the next good version is served and /health is ok again."""
    register_ready(registry, trained(1))
    registry.promote("fraud", 1)
    bad = register_corrupted(registry, tmp_path)
    good = register_ready(registry, trained(4))
    with serving(registry) as (_server, client):
        registry.promote("fraud", bad)
        notify(client)
        wait_until(lambda: client.get("/version").json()["last_failure"], what="the failure reported")
        registry.promote("fraud", good)
        notify(client)
        wait_until(lambda: served_version(client) == good, what=f"version {good} served")
        assert client.get("/health").json() == {"status": "ok", "version": good, "problems": []}


def register_pickle_no_longer_allowed(registry: Registry, marker: Path) -> int:
    """A pickle registered while the policy allowed it, ready to promote, after the policy stopped allowing pickle."""
    frame, labels = training_frame()
    registry.set_policy("fraud", allow_pickle=True)
    version = registry.register("fraud", CodeOnUnpickle(str(marker)).fit(frame, labels), serialization="pickle").version
    stage_and_approve(registry, "fraud", version)
    registry.set_policy("fraud", allow_pickle=False)
    return version


def pickle_refusal(version: int) -> str:
    return (
        f"models:/fraud/{version} is a pickle, and loading a pickle runs whatever code it holds; the policy of 'fraud' "
        "does not allow pickle. If you trust whoever registered it: registry policy fraud --allow-pickle"
    )


def test_a_promoted_pickle_the_policy_does_not_allow_never_runs_and_the_old_version_keeps_serving(
    registry: Registry, tmp_path: Path
):
    """The server refuses the pickle with the registry's one line, its code never runs, and version 1 keeps answering."""
    register_ready(registry, trained(1))
    registry.promote("fraud", 1)
    marker = tmp_path / "code-ran"
    bad = register_pickle_no_longer_allowed(registry, marker)
    with serving(registry) as (_server, client):
        registry.promote("fraud", bad)
        notify(client)
        failure = wait_until(lambda: client.get("/version").json()["last_failure"], what="the failure reported")
        answer = predict(client)
        health = client.get("/health").json()
    assert failure["version"] == bad
    assert failure["error"] == pickle_refusal(bad)
    assert answer.status_code == 200 and answer.json()["version"] == 1
    assert health["status"] == "degraded"
    assert not marker.exists()


def test_registry_serve_refuses_to_start_on_a_pickle_the_policy_does_not_allow(tmp_path: Path):
    """The command exits 1 with one line naming the version and how to allow pickle; the pickle's code never runs."""
    database_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    marker = tmp_path / "code-ran"
    with Registry(database_url, tmp_path / "artifacts", actor="alice") as registry:
        registry.create_model("fraud")
        version = register_pickle_no_longer_allowed(registry, marker)
        registry.promote("fraud", version)
    env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(tmp_path / "artifacts")}
    result = CliRunner().invoke(cli, ["serve", "models:/fraud/Production", "--port", "0"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"registry: error: {pickle_refusal(version)}"
    assert not marker.exists()


def test_production_left_empty_keeps_serving_and_reports_it(catalog: Registry):
    """Archiving the Production version leaves nothing to resolve: the server keeps answering and says why it is degraded."""
    with serving(catalog) as (_server, client):
        catalog.transition("fraud", 1, "Archived")
        notify(client)
        health = wait_until(
            lambda: (h := client.get("/health").json())["status"] == "degraded" and h, what="degraded health"
        )
        assert "does not resolve" in health["problems"][0]
        assert predict(client).json()["version"] == 1


# --- shadow and canary ---------------------------------------------------------------------------


def test_shadow_and_canary_are_off_by_default_and_shown_as_such(catalog: Registry):
    with serving(catalog) as (_server, client):
        version = client.get("/version").json()
        metrics = client.get("/metrics").text
    assert (version["shadow"], version["canary"], version["prediction_log"]) == (None, None, None)
    assert metric(metrics, "registry_serving_shadow_enabled") == 0
    assert metric(metrics, "registry_serving_canary_percent") == 0


def test_shadow_scores_every_request_without_answering_and_logs_both_predictions(catalog: Registry, tmp_path: Path):
    """With a Staging shadow, clients only see Production's answers; the log holds both, readable as recent traffic."""
    log_path = tmp_path / "traffic.jsonl"
    with serving(catalog, shadow_uri="models:/fraud/Staging", prediction_log=log_path) as (_server, client):
        answers = [predict(client).json() for _ in range(5)]
        version = client.get("/version").json()
        metrics = wait_until(
            lambda: (text := client.get("/metrics").text)
            and metric(text, "registry_serving_shadow_requests_total", outcome="scored") == 5 and text,
            what="five shadow scorings",
        )
    entries = read_recent_traffic(log_path, limit=100)
    assert {a["version"] for a in answers} == {1}
    assert all("shadow" not in a for a in answers)
    assert version["shadow"]["serving"]["version"] == 2
    assert metric(metrics, "registry_serving_shadow_enabled") == 1
    assert len(entries) == 5
    assert all(e["served"]["version"] == 1 and e["shadow"]["version"] == 2 for e in entries)
    assert all(e["records"] == [RECORD] and len(e["shadow"]["predictions"]) == 1 for e in entries)


def test_shadow_goes_idle_when_staging_empties_and_follows_the_next_candidate(catalog: Registry, tmp_path: Path):
    """Promoting the shadowed candidate empties Staging: the shadow idles, then picks up the next Staging version."""
    log_path = tmp_path / "traffic.jsonl"
    with serving(catalog, shadow_uri="models:/fraud/Staging", prediction_log=log_path) as (_server, client):
        catalog.promote("fraud", 2)
        notify(client)
        wait_until(lambda: client.get("/version").json()["shadow"]["serving"] is None, what="shadow idle")
        assert client.get("/health").json()["status"] == "ok"
        third = register_ready(catalog, trained(3))
        notify(client)
        # A candidate is tried in a separate process first (a fresh interpreter importing scikit-learn).
        wait_until(lambda: (client.get("/version").json()["shadow"]["serving"] or {}).get("version") == third,
                   timeout=60.0, what="shadow on the new candidate")


@pytest.mark.parametrize("percent", [25.0, 100.0])
def test_canary_answers_its_share_of_requests(catalog: Registry, percent: float):
    """--canary-percent N routes about N% of requests to the candidate, which says so in each answer."""
    with serving(catalog, canary_uri="models:/fraud/Staging", canary_percent=percent) as (_server, client):
        answers = [predict(client).json() for _ in range(200)]
        version = client.get("/version").json()
        metrics = client.get("/metrics").text
    share = sum(a["slot"] == "canary" for a in answers) / len(answers) * 100
    assert all(a["version"] == (2 if a["slot"] == "canary" else 1) for a in answers)
    assert percent - 12 <= share <= percent + 12 if percent < 100 else share == 100
    assert version["canary"]["percent"] == percent
    assert version["canary"]["serving"]["version"] == 2
    assert metric(metrics, "registry_serving_canary_percent") == percent


# --- /reload ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quiet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One server on a SQLite catalog for the tests that only send requests to it."""
    root = tmp_path_factory.mktemp("served")
    with Registry(f"sqlite:///{root / 'catalog.db'}", root / "artifacts", actor="alice") as registry:
        register_ready(registry, trained(1))
        registry.promote("fraud", 1)
        with serving(registry, max_body_bytes=64 * 1024, max_records=1000) as (_server, client):
            yield client


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-secret-of-some-length"}, {"Authorization": SECRET},
     {"Authorization": f"Basic {SECRET}"}],
    ids=["no-header", "wrong-secret", "no-scheme", "basic-scheme"],
)
def test_reload_without_the_shared_secret_is_unauthorized(quiet_server: httpx.Client, headers: dict[str, str]):
    response = quiet_server.post("/reload", headers=headers)
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{", 400), (b"[1]", 422), (b'{"model": 7}', 422), (b'{"version": -1}', 422), (b'{"versoin": 2}', 422)],
    ids=["not-json", "not-object", "model-not-string", "version-negative", "unknown-field"],
)
def test_reload_with_a_malformed_body_is_refused(quiet_server: httpx.Client, body: bytes, status: int):
    response = quiet_server.post("/reload", content=body, headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == status
    assert response.json()["error"]


def test_reload_accepts_the_secret_with_an_optional_hint(quiet_server: httpx.Client):
    response = quiet_server.post(
        "/reload", json={"model": "fraud", "version": 1}, headers={"Authorization": f"Bearer {SECRET}"}
    )
    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "serving": 1, "hint": {"model": "fraud", "version": 1}}


def test_reload_is_disabled_without_a_configured_secret(catalog: Registry):
    with serving(catalog, reload_secret=None) as (_server, client):
        response = client.post("/reload", headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 403
    assert "--reload-secret" in response.json()["error"]


# --- bad input ------------------------------------------------------------------------------------------

BAD_PAYLOADS = [
    (b"", 400, "empty request body"),
    (b"{not json", 400, "not valid JSON"),
    (b"\xff\xfe", 400, "not"),
    (b'{"records": [{"amount": NaN, "hour": 1, "merchant_risk": 0, "distance": 0}]}', 400, "NaN"),
    (b"[]", 422, "expected a JSON object"),
    (b'{"rows": []}', 422, "unknown field"),
    (b"{}", 422, "missing 'records'"),
    (b'{"records": {"amount": 1}}', 422, "must be a list"),
    (b'{"records": []}', 422, "is empty"),
    (b'{"records": [{"amount": 1}]}', 422, "lacks 'hour'"),
    (b'{"records": [{"amount": 1, "hour": 1, "merchant_risk": 0, "distance": 0, "x": 1}]}', 422, "unknown field(s) 'x'"),
    (b'{"records": [[1, 2, 3]]}', 422, "this model takes 4"),
    (b'{"records": [{"amount": 1, "hour": 1, "merchant_risk": 0, "distance": 0}, [1, 2, 3, 4]]}', 422, "record 1"),
    (b'{"records": [{"amount": [1], "hour": 1, "merchant_risk": 0, "distance": 0}]}', 422, "values must be numbers"),
    (b'{"records": [{"amount": "lots", "hour": 1, "merchant_risk": 0, "distance": 0}]}', 422, "could not score"),
    (b'{"records": [{"amount": 1e400, "hour": 1, "merchant_risk": 0, "distance": 0}]}', 422, "could not score"),
    (b'{"records": [7]}', 422, "record 0 is a number"),
    (b'{"records": [' + b"[" * 5_000 + b"]" * 5_000 + b"]}", 400, "nested too deeply"),
    (b'{"records": [[1, 2, 3, 4]], "return_probabilities": "yes"}', 422, "true or false"),
    (b'{"records": [' + b"[0, 0, 0, 0]," * 1000 + b"[0, 0, 0, 0]]}", 413, "the limit is 1000"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_PAYLOADS, ids=[f"case-{i}" for i in range(len(BAD_PAYLOADS))])
def test_malformed_or_wrongly_shaped_predict_payloads_get_a_clear_4xx(
    quiet_server: httpx.Client, body: bytes, status: int, message: str
):
    """Every bad payload is refused with its own status and message, and the next good request is answered."""
    response = quiet_server.post("/predict", content=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert predict(quiet_server).status_code == 200


def test_an_oversized_body_is_refused_with_413(quiet_server: httpx.Client):
    response = quiet_server.post("/predict", content=b'{"records": [' + b"1," * 50_000 + b"1]}")
    assert response.status_code == 413
    assert predict(quiet_server).status_code == 200


def test_unknown_paths_and_methods_answer_json_errors(quiet_server: httpx.Client):
    assert quiet_server.get("/nowhere").status_code == 404
    assert quiet_server.get("/predict").status_code == 405
    assert "error" in quiet_server.get("/nowhere").json()


def test_records_as_arrays_and_probabilities_are_answered(quiet_server: httpx.Client):
    response = quiet_server.post("/predict", json={"records": [[1, 2, 3, 4], [0, 0, 0, 0]], "return_probabilities": True})
    body = response.json()
    assert response.status_code == 200
    assert len(body["predictions"]) == 2
    assert body["classes"] == [0, 1]
    assert all(abs(sum(p) - 1) < 1e-9 for p in body["probabilities"])


# --- the command ---------------------------------------------------------------------------------------------


def test_registry_serve_refuses_a_shadow_without_a_prediction_log(tmp_path: Path):
    env = {"REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "REGISTRY_ARTIFACT_ROOT": str(tmp_path / "a")}
    result = CliRunner().invoke(cli, ["serve", "models:/fraud/Production", "--shadow", "models:/fraud/Staging"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "registry: error: a shadow needs --prediction-log PATH: its predictions are only ever written there"
    )


@contextlib.contextmanager
def serve_command(
    database_url: str, artifact_root: Path, *options: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """The real `registry serve models:/fraud/Production` in its own process on a free loopback port.

    Yields the process (stderr piped) and its port; stops it on exit, killing it if it does not stop in time.
    """
    probe = listening_socket("127.0.0.1", 0)
    port = probe.getsockname()[1]
    probe.close()
    environment = {**os.environ, "REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root),
                   "REGISTRY_RELOAD_SECRET": SECRET, **(env or {})}
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("registry")), "serve", "models:/fraud/Production", "--port", str(port),
         "--log-level", "warning", *options],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.communicate(timeout=WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate(timeout=WAIT)


def test_registry_serve_answers_on_loopback_and_stops_on_sigterm(tmp_path: Path):
    """The real command in its own process: it serves Production on the given port and exits 0 on SIGTERM."""
    database_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    with Registry(database_url, tmp_path / "artifacts", actor="alice") as registry:
        register_ready(registry, trained(1))
        registry.promote("fraud", 1)
    with serve_command(database_url, tmp_path / "artifacts") as (process, port):
        with client_for(f"http://127.0.0.1:{port}") as client:
            def healthy() -> bool:
                try:
                    return client.get("/health").status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(healthy, timeout=30.0, what="the server answering")
            assert predict(client).json()["version"] == 1
            notify(client)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=WAIT)
    assert process.returncode == 0, stderr
    assert f"serving models:/fraud/Production (version 1) on http://127.0.0.1:{port}" in stderr


def test_the_redeploy_jobs_http_target_makes_the_server_follow_a_promotion(catalog: Registry):
    """The pipelines' deploy target, configured from the environment, reaches /reload and the swap follows."""
    from registry_pipelines.deploy import ProductionChange, targets_from_env

    with serving(catalog, poll_interval=600.0) as (server, client):
        assert served_version(client) == 1
        change = catalog.promote("fraud", 2)
        (target,) = targets_from_env(
            "FRAUD", {"FRAUD_DEPLOY_URL": f"{server.url}/reload", "REGISTRY_RELOAD_SECRET": SECRET}
        )
        answer = target.deploy(ProductionChange(
            model="fraud", version=2, uri="models:/fraud/2", artifact_sha256=change.version.artifact_sha256,
            change="promotion", audit_seq=change.audit_seq, previous_version=1, reason=None, changed_by="alice",
        ))
        assert answer == "HTTP 202"
        wait_until(lambda: served_version(client) == 2, what="the promoted version serving")

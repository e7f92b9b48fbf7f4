"""`registry serve` answers with a version's ONNX rendition only within the policy's tolerance and only when it verifies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")
from sklearn.ensemble import RandomForestClassifier  # noqa: E402

from registry_core import Registry  # noqa: E402
from tests.test_artifacts import overwrite_blob  # noqa: E402
from tests.test_serving import FEATURES, client_for, register_ready, serve_command, serving, wait_until  # noqa: E402

RECORDS = pd.DataFrame(np.random.default_rng(7).normal(size=(25, len(FEATURES))), columns=FEATURES)


def forest() -> RandomForestClassifier:
    data = pd.DataFrame(np.random.default_rng(0).normal(size=(150, len(FEATURES))), columns=FEATURES)
    return RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(data, data["amount"] > 0)


@pytest.fixture
def production(registry: Registry) -> Registry:
    """'fraud' v1, a forest in Production, rendered as ONNX and measured on 100 validation records."""
    register_ready(registry, forest())
    registry.promote("fraud", 1)
    validation = pd.DataFrame(np.random.default_rng(1).normal(size=(100, len(FEATURES))), columns=FEATURES)
    assert 0 < registry.render_onnx("fraud", 1, validation).parity < 1e-5
    return registry


def answered_by(client: httpx.Client) -> dict[str, Any]:
    return client.get("/version").json()["serving"]["answered_by"]


def probabilities(client: httpx.Client) -> np.ndarray:
    response = client.post("/predict", json={"records": RECORDS.to_dict("records"), "return_probabilities": True})
    assert response.status_code == 200, response.text
    return np.asarray(response.json()["probabilities"])


def test_within_the_tolerance_the_rendition_answers_with_the_estimators_probabilities(production: Registry):
    production.set_policy("fraud", onnx_parity=1e-5)
    rendition = production.renditions("fraud", 1)[0]
    own = production.load_model("models:/fraud/1").predict_proba(RECORDS)
    with serving(production) as (_server, client):
        artifact = answered_by(client)
        answer = probabilities(client)
        platform = client.get("/v2/models/fraud").json()["platform"]
    assert artifact["artifact"] == "onnx_rendition" and artifact["sha256"] == rendition.artifact_sha256
    assert platform == "onnx_rendition"
    assert artifact["parity"] == rendition.parity and artifact["converter"].startswith("skl2onnx ")
    np.testing.assert_allclose(answer, own, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("tolerance", "reason"), [
    pytest.param(None, "sets no ONNX parity tolerance", id="no-tolerance"),
    pytest.param(1e-12, "exceeds the policy's tolerance", id="beyond-it"),
])
def test_without_a_tolerance_or_beyond_it_the_estimator_answers(production: Registry, tolerance, reason):
    if tolerance is not None:
        production.set_policy("fraud", onnx_parity=tolerance)
    own = production.load_model("models:/fraud/1").predict_proba(RECORDS)
    with serving(production) as (_server, client):
        artifact = answered_by(client)
        answer = probabilities(client)
        platform = client.get("/v2/models/fraud").json()["platform"]
    assert artifact["artifact"] == platform == "sklearn" and reason in artifact["reason"]
    assert artifact["sha256"] == production.get_version("fraud", 1).artifact_sha256
    np.testing.assert_array_equal(answer, own)


def test_a_tampered_rendition_is_refused_and_the_estimator_answers(production: Registry):
    production.set_policy("fraud", onnx_parity=1e-5)
    overwrite_blob(production, production.renditions("fraud", 1)[0].artifact_sha256, b"\x08\x07 not the rendition")
    with serving(production) as (_server, client):
        artifact = answered_by(client)
        assert client.get("/health").json()["status"] == "ok"
        probabilities(client)
    assert artifact["artifact"] == "sklearn" and "its rendition is refused" in artifact["reason"]
    assert "sha256" in artifact["reason"] or "digest" in artifact["reason"]


def test_a_tolerance_set_or_cleared_while_serving_switches_the_artifact(production: Registry):
    """The policy change is a catalog event: the server reloads the version with the artifact now chosen."""
    with serving(production) as (_server, client):
        assert answered_by(client)["artifact"] == "sklearn"
        production.set_policy("fraud", onnx_parity=1e-5)
        wait_until(lambda: answered_by(client)["artifact"] == "onnx_rendition", what="the rendition answering")
        production.set_policy("fraud", onnx_parity="none")
        wait_until(lambda: answered_by(client)["artifact"] == "sklearn", what="the estimator answering again")
        probabilities(client)


def test_a_rendition_recorded_while_serving_takes_over_within_the_tolerance(registry: Registry):
    """Rendering is a catalog event too: a server already running under a tolerance swaps the rendition in."""
    register_ready(registry, forest())
    registry.promote("fraud", 1)
    registry.set_policy("fraud", onnx_parity=1e-5)
    with serving(registry) as (_server, client):
        assert "no ONNX rendition" in answered_by(client)["reason"]
        registry.render_onnx("fraud", 1, RECORDS)
        wait_until(lambda: answered_by(client)["artifact"] == "onnx_rendition", what="the rendition answering")
        probabilities(client)


def test_the_registry_serve_command_answers_with_the_rendition(production: Registry, database_url: str,
                                                               artifact_root: Path):
    """The real command in its own process on loopback: /version names the rendition; answers match within tol."""
    production.set_policy("fraud", onnx_parity=1e-5)
    own = production.load_model("models:/fraud/1").predict_proba(RECORDS)
    with serve_command(database_url, artifact_root) as (_process, port), client_for(f"http://127.0.0.1:{port}") as client:
        def ready() -> bool:
            try:
                return client.get("/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout=60.0, what="the server answering")
        assert answered_by(client)["sha256"] == production.renditions("fraud", 1)[0].artifact_sha256
        np.testing.assert_allclose(probabilities(client), own, atol=1e-5, rtol=0)

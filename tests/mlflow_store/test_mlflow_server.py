"""The seed's example against a live `mlflow server` whose registry is our catalog, started and stopped here.

The server listens on a free loopback port with a SQLite tracking store and
artifact destination in tmp and ``--registry-store-uri registry+sqlite:///…``;
the client is MLflow's own, over HTTP. Approvals stay with the registry's CLI.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import mlflow.sklearn
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from .steps import log_and_register

MODEL = "fraud-detector"
START_TIMEOUT_SECONDS = 120
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@dataclass
class LiveServer:
    url: str
    catalog_url: str
    artifact_root: Path
    log: Path

    def registry_cli(self, *args: str, actor: str = "alice") -> subprocess.CompletedProcess[str]:
        """The registry's own CLI on the server's catalog, as ``actor``."""
        command = [str(Path(sys.executable).parent / "registry"), *args,
                   "--db", self.catalog_url, "--artifacts", str(self.artifact_root), "--actor", actor]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # the session this fixture started: the server and its workers
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def live_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """`mlflow server` on 127.0.0.1 with our catalog as its registry, acting as alice; a bounded wait for /health."""
    for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(variable, raising=False)
    port = _free_port()
    catalog_url = f"sqlite:///{tmp_path / 'registry.db'}"
    server = LiveServer(f"http://127.0.0.1:{port}", catalog_url, tmp_path / "registry-artifacts", tmp_path / "server.log")
    env = {**os.environ, "REGISTRY_ARTIFACT_ROOT": str(server.artifact_root), "REGISTRY_ACTOR": "alice"}
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
        "--artifacts-destination", str(tmp_path / "mlartifacts"),
        "--registry-store-uri", f"registry+{catalog_url}",
    ]
    with server.log.open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"mlflow server exited with {process.returncode}:\n{server.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not answer within {START_TIMEOUT_SECONDS}s:\n{server.log.read_text()[-3000:]}")
            time.sleep(0.5)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        mlflow.set_tracking_uri(server.url)
        mlflow.set_registry_uri(None)  # the registry is the tracking server's
        mlflow.set_experiment("fraud-detection")
        yield server
    finally:
        mlflow.set_tracking_uri(None)
        _stop(process)


def test_the_seed_example_runs_governed_on_a_live_server(live_server: LiveServer, fraud_data, monkeypatch):
    """Register, Staging, Production refused for a missing approval, approve, promote, archive, load, verify."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # a refusal must not be retried anyway
    client = MlflowClient()
    features = fraud_data[0]
    models = {}
    for seed, version in ((1, "1"), (2, "2")):
        models[version] = log_and_register(fraud_data, seed=seed)
        (latest,) = client.get_latest_versions(MODEL, stages=["None"])
        assert latest.version == version and latest.status == "READY"
        client.transition_model_version_stage(MODEL, version, "Staging", archive_existing_versions=False)
        started = time.monotonic()
        with pytest.raises(MlflowException) as refused:
            client.transition_model_version_stage(MODEL, version, "Production", archive_existing_versions=True)
        assert time.monotonic() - started < 10, "a refusal is answered at once, never retried"
        assert refused.value.error_code == "PERMISSION_DENIED"
        assert "approval" in refused.value.message
        assert "approval" in client.get_model_version(MODEL, version).tags["registry.unmet_gates"]
        approved = live_server.registry_cli("approve", MODEL, version, "--comment", "shadow test passed",
                                            actor="risk-reviewer")
        assert approved.returncode == 0, approved.stderr
        client.transition_model_version_stage(MODEL, version, "Production", archive_existing_versions=True)
        client.update_model_version(MODEL, version, description="Promoted after passing shadow traffic test.")
    assert client.get_model_version(MODEL, "1").current_stage == "Archived"
    assert client.get_model_version(MODEL, "2").current_stage == "Production"
    assert client.get_model_version(MODEL, "2").tags["registry.approved_by"] == "risk-reviewer"

    client.set_registered_model_alias(MODEL, "champion", "2")
    by_stage = mlflow.sklearn.load_model(f"models:/{MODEL}/Production")
    by_alias = mlflow.sklearn.load_model(f"models:/{MODEL}@champion")
    assert np.array_equal(by_stage.predict(features), models["2"].predict(features))
    assert np.array_equal(by_alias.predict(features), by_stage.predict(features))

    verified = live_server.registry_cli("audit", "--verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit log intact" in verified.stdout
    audit = live_server.registry_cli("audit", MODEL, "--json")
    actions = [event["action"] for event in json.loads(audit.stdout)]
    for action in ("model.create", "version.register", "version.transition", "approval.record",
                   "version.promote", "version.description", "alias.set"):
        assert action in actions, (action, actions)


def test_refusals_are_answered_at_once_and_the_ui_routes_work(live_server: LiveServer, fraud_data):
    """Delete is 501 NOT_IMPLEMENTED and a missing version 404 (codes MLflow's client does not retry); the UI's
    search and model-version artifact routes answer from the catalog, the artifact read verified in the server."""
    log_and_register(fraud_data, seed=1)
    response = httpx.request(
        "DELETE", f"{live_server.url}/api/2.0/mlflow/registered-models/delete", json={"name": MODEL}, timeout=10
    )
    assert response.status_code == 501 and response.json()["error_code"] == "NOT_IMPLEMENTED"
    response = httpx.get(f"{live_server.url}/api/2.0/mlflow/model-versions/get",
                         params={"name": MODEL, "version": "9"}, timeout=10)
    assert response.status_code == 404 and response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    response = httpx.get(f"{live_server.url}/api/2.0/mlflow/registered-models/search",
                         params={"filter": "name LIKE 'fraud%'"}, timeout=10)
    assert [m["name"] for m in response.json()["registered_models"]] == [MODEL]
    response = httpx.get(f"{live_server.url}/ajax-api/2.0/mlflow/model-versions/search",
                         params={"filter": f"name='{MODEL}'"}, timeout=10)
    (version,) = response.json()["model_versions"]
    tags = {tag["key"]: tag["value"] for tag in version["tags"]}
    assert version["status"] == "READY" and tags["registry.unmet_gates"] == "none"
    response = httpx.get(f"{live_server.url}/model-versions/get-artifact",
                         params={"name": MODEL, "version": "1", "path": "MLmodel"}, timeout=10)
    assert response.status_code == 200 and b"flavors" in response.content

"""Fixtures for MLflow's clients on the catalog: a tracking store in tmp, our catalog as the registry, a small model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")

from registry_core import Registry  # noqa: E402

from .live_server import LiveServer, migrated_mlflow_database, serve  # noqa: E402


@dataclass
class MlflowSetup:
    """Where MLflow tracks runs, where the catalog lives, and a registry handle on that catalog."""

    tracking_uri: str
    registry_uri: str
    database_url: str
    artifact_root: Path

    def registry(self, actor: str = "alice") -> Registry:
        return Registry(self.database_url, self.artifact_root, actor=actor)


EXPERIMENT = "fraud-detection"


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow tracking database for the session (creating its tables costs seconds), its artifacts in tmp too."""
    folder = tmp_path_factory.mktemp("tracking")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    # Without an explicit location MLflow puts run artifacts under ./mlruns of the working directory.
    mlflow.MlflowClient(tracking_uri=uri).create_experiment(EXPERIMENT, artifact_location=(folder / "mlruns").as_uri())
    return uri


@pytest.fixture
def mlflow_setup(
    database_url: str, tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MlflowSetup]:
    """MLflow pointed at a fresh catalog (SQLite file or PostgreSQL schema) in this process, acting as alice."""
    root = tmp_path / "registry-artifacts"
    monkeypatch.setenv("REGISTRY_ARTIFACT_ROOT", str(root))
    monkeypatch.setenv("REGISTRY_ACTOR", "alice")
    registry_uri = f"registry+{database_url}"
    # MLflow also exports both URIs to the environment (for subprocesses): monkeypatch undoes that afterwards.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", registry_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri)
    mlflow.set_experiment(EXPERIMENT)
    try:
        yield MlflowSetup(tracking_uri, registry_uri, database_url, root)
    finally:
        mlflow.set_registry_uri(None)
        mlflow.set_tracking_uri(None)
        release_store(registry_uri, tracking_uri)


def release_store(registry_uri: str, tracking_uri: str) -> None:
    """Close the store MLflow built for ``registry_uri`` and forget every store it keeps.

    MLflow keeps the stores it builds (up to 100 per process), each with a pooled connection to its catalog:
    with a fresh PostgreSQL schema per test they would pile up to 100 idle connections per test process.
    """
    from mlflow.tracking._model_registry import utils

    store = utils._get_store(registry_uri, tracking_uri)
    store.registry.close()
    utils._get_store_registry()._get_store_with_resolved_uri.cache_clear()


@pytest.fixture(scope="session")
def fraud_data() -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    return make_classification(n_samples=300, n_features=8, random_state=42)


@pytest.fixture(scope="session")
def mlflow_database_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow database (tracking and registry tables), migrated once per session and copied for each use."""
    return migrated_mlflow_database(tmp_path_factory.mktemp("mlflow-template") / "mlflow.db")


@pytest.fixture
def live_server(tmp_path: Path, mlflow_database_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """`mlflow server` on 127.0.0.1 with our catalog as its registry; MLflow in this process pointed at it."""
    for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(variable, raising=False)
    with serve(tmp_path, mlflow_database_template) as server:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        # A client loading models reads the catalog's store itself: the one it is configured with.
        monkeypatch.setenv("REGISTRY_ARTIFACT_ROOT", str(server.artifact_root))
        mlflow.set_tracking_uri(server.url)
        mlflow.set_registry_uri(None)  # the registry is the tracking server's
        mlflow.set_experiment(EXPERIMENT)
        try:
            yield server
        finally:
            mlflow.set_tracking_uri(None)

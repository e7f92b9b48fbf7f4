"""Fixtures for the Dagster lifecycle: real catalogs, real Dagster instances, a real loopback deploy endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import DagsterInstance

from registry_core import Registry
from registry_pipelines import HttpDeployTarget, ModelPipeline, RegistryResource, build_registry_definitions
from registry_pipelines.fraud import fraud_detector_pipeline, load_transactions
from registry_pipelines.testing import InProcessLifecycle

MODEL = "fraud-detector"


@dataclass
class DeployEndpoint:
    """A serving endpoint on 127.0.0.1 that records each POSTed production change; it can be told to fail."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    #: Answer 503 to this many requests before answering 200.
    fail_next: int = 0
    #: Answer 503 to every request.
    down: bool = False
    attempts: int = 0


@pytest.fixture
def deploy_endpoint() -> Iterator[DeployEndpoint]:
    endpoint = DeployEndpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            endpoint.attempts += 1
            if endpoint.down or endpoint.fail_next > 0:
                endpoint.fail_next = max(0, endpoint.fail_next - 1)
                self.send_response(503)
                self.end_headers()
                return
            endpoint.received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/deploy"
    # shutdown() waits for serve_forever to poll; its default half second, paid by every test, adds up.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def registry_resource(tmp_path: Path, sqlite_catalog_url: str) -> RegistryResource:
    """The pipelines' view of a fresh SQLite catalog."""
    return RegistryResource(
        database_url=sqlite_catalog_url,
        artifact_root=str(tmp_path / "artifacts"),
        actor="dagster",
    )


@pytest.fixture
def catalog(registry_resource: RegistryResource) -> Iterator[Registry]:
    """The same catalog, as the people around the pipeline use it (acting as 'admin')."""
    with registry_resource.open(actor="admin") as opened:
        yield opened


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@dataclass
class TrainingData:
    """The training data the pipeline loads next; tests swap in broken data."""

    frame: pd.DataFrame

    def load(self) -> pd.DataFrame:
        return self.frame.copy()


@pytest.fixture
def training_data() -> TrainingData:
    return TrainingData(load_transactions())


@pytest.fixture
def make_pipeline(training_data: TrainingData, deploy_endpoint: DeployEndpoint) -> Callable[..., ModelPipeline]:
    """The shipped fraud detector, loading swappable training data and deploying to the loopback endpoint."""

    def make(**overrides: Any) -> ModelPipeline:
        settings: dict[str, Any] = {
            "load_data": training_data.load,
            "deploy_targets": (HttpDeployTarget(deploy_endpoint.url, timeout_seconds=5),),
            "deploy_backoff_seconds": 0.01,
            "deploy_attempts": 3,
        }
        settings.update(overrides)
        return fraud_detector_pipeline(**settings)

    return make


@pytest.fixture
def pipeline(make_pipeline: Callable[..., ModelPipeline]) -> ModelPipeline:
    return make_pipeline()


@pytest.fixture
def lifecycle(pipeline: ModelPipeline, registry_resource: RegistryResource, instance: DagsterInstance) -> InProcessLifecycle:
    """The fraud detector's definitions, driven in process against the test catalog and instance."""
    return InProcessLifecycle(
        build_registry_definitions(pipeline, registry=registry_resource), instance, log_level="CRITICAL"
    )


@pytest.fixture
def catalog_snapshot(registry_resource: RegistryResource) -> Iterator[Callable[[], dict[str, object]]]:
    """Every catalog row and stored blob: equal before and after means nothing was written."""
    from sqlalchemy import create_engine

    from registry_core.schema import Base

    engine = create_engine(registry_resource.database_url)
    root = Path(registry_resource.artifact_root)

    def capture() -> dict[str, object]:
        state: dict[str, object] = {}
        with engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                state[table.name] = sorted(repr(tuple(row)) for row in connection.execute(table.select()))
        state["blobs"] = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []
        return state

    try:
        yield capture
    finally:
        engine.dispose()

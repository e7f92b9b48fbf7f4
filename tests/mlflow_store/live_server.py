"""A live `mlflow server` whose registry is our catalog, on a free loopback port, started and stopped by the caller.

The server has a SQLite tracking store and artifact destination in a folder
of the caller's, ``--registry-store-uri registry+sqlite:///…`` and acts as
alice. Every wait is bounded; stopping ends the server's whole process group.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

START_TIMEOUT_SECONDS = 120
_REPOSITORY = Path(__file__).resolve().parents[2]


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
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_REPOSITORY), os.environ.get("PYTHONPATH")]))}
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # the session serve() started: the server and its workers
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_for_health(server: LiveServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"mlflow server exited with {process.returncode}:\n{server.log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"mlflow server did not answer within {START_TIMEOUT_SECONDS}s:\n{server.log.read_text()[-3000:]}")
        time.sleep(0.5)


def migrated_mlflow_database(path: Path) -> Path:
    """An MLflow database at ``path`` (tracking and registry tables) that MLflow's own migrations brought to its newest schema."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{path}", (path.parent / "unused-artifacts").as_uri())
    store.engine.dispose()
    return path


@contextlib.contextmanager
def serve(folder: Path, tracking_template: Path | None = None) -> Iterator[LiveServer]:
    """`mlflow server` on 127.0.0.1 with a catalog in ``folder`` as its registry, acting as alice, until the block ends.

    ``tracking_template``: a tracking database migrated once (``migrated_mlflow_database``), copied in as the server's
    own; a server creating its database runs MLflow's fifty-odd migrations first, seconds of every start. The catalog
    is always created by the server itself.
    """
    if tracking_template is not None:
        shutil.copyfile(tracking_template, folder / "mlflow.db")
    port = _free_port()
    catalog_url = f"sqlite:///{folder / 'registry.db'}"
    server = LiveServer(f"http://127.0.0.1:{port}", catalog_url, folder / "registry-artifacts", folder / "server.log")
    env = {**os.environ, "REGISTRY_ARTIFACT_ROOT": str(server.artifact_root), "REGISTRY_ACTOR": "alice"}
    # The server (and the registry CLI) run the code under test, not whichever checkout the venv was installed from.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPOSITORY), os.environ.get("PYTHONPATH")]))
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "mlartifacts"),
        "--registry-store-uri", f"registry+{catalog_url}",
    ]
    with server.log.open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        _wait_for_health(server, process)
        yield server
    finally:
        _stop(process)

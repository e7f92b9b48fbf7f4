"""Airflow itself, for the provider's tests: a metadata database in a temporary AIRFLOW_HOME, DAGs run with ``dag.test()``.

Airflow and Dagster live in separate environments (docs/how-to/run-the-lifecycle-in-airflow.md):
in one without Airflow these tests skip, unless ``REGISTRY_REQUIRE_AIRFLOW=1`` (``make test-airflow``
and CI set it), which turns a missing Airflow into a failure.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REQUIRE_AIRFLOW = os.environ.get("REGISTRY_REQUIRE_AIRFLOW") == "1"
ROOT = Path(__file__).parents[2]
#: The shipped example DAGs and the tests' own, copied into the session's DAG folder.
DAG_FILES = (ROOT / "examples" / "airflow" / "fraud_detector.py", *sorted((Path(__file__).parent / "dags").glob("*.py")))

# Airflow reads its configuration when first imported: the home must be set before any test module imports it.
_HOME = Path(tempfile.mkdtemp(prefix="registry-airflow-home-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
DAGS = _HOME / "dags"
os.environ.update({
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    # Reviewers of the approval tests, who log in to the API server with these passwords.
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "bob:admin,carol:admin",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(_HOME / "passwords.json"),
    "AIRFLOW__API_AUTH__JWT_SECRET": "registry-airflow-tests-" + os.urandom(8).hex(),
})
PASSWORDS = {"bob": "bob-" + os.urandom(6).hex(), "carol": "carol-" + os.urandom(6).hex()}
(_HOME / "passwords.json").write_text(json.dumps(PASSWORDS))


def airflow_or_skip() -> None:
    try:
        import airflow  # noqa: F401
    except ImportError:
        if REQUIRE_AIRFLOW:
            pytest.fail("REGISTRY_REQUIRE_AIRFLOW=1 but Airflow is not installed (make test-airflow installs it)", pytrace=False)
        pytest.skip("Airflow is not installed here: make test-airflow runs these tests in its own environment",
                    allow_module_level=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.airflow)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The session's AIRFLOW_HOME, its metadata database migrated once by ``airflow db migrate``."""
    airflow_or_skip()
    DAGS.mkdir(exist_ok=True)
    for path in DAG_FILES:
        shutil.copy(path, DAGS / path.name)
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, timeout=240, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return _HOME


@pytest.fixture
def registry_connection(airflow_home: Path, database_url: str, artifact_root: Path,
                        monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The ``model_registry_default`` connection, pointing at this test's catalog; its Login is the pipeline's actor."""
    monkeypatch.setenv("AIRFLOW_CONN_MODEL_REGISTRY_DEFAULT", json.dumps({
        "conn_type": "model_registry", "login": "airflow-pipeline",
        "extra": {"database_url": database_url, "artifact_root": str(artifact_root)},
    }))
    yield "model_registry_default"


@dataclass
class AirflowDags:
    """The DAGs of the session's DAG folder, each run with ``dag.test()`` (the run's tasks and their states)."""

    dags: dict[str, Any]

    def run(self, dag_id: str, **conf: Any) -> dict[str, str]:
        run = self.dags[dag_id].test(run_conf=conf or None)
        return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}

    def last_result(self, dag_id: str, task_id: str) -> Any:
        """What the task returned in the DAG's newest run (its XCom)."""
        from airflow.models.dagrun import DagRun
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            run_id = session.scalar(select(DagRun.run_id).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1))
            value = session.scalar(select(XComModel.value).where(
                XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.task_id == task_id,
                XComModel.key == "return_value"))
        return json.loads(value) if isinstance(value, str) else value

    def run_until_approval(self, dag_id: str) -> dict[str, str]:
        """Run a lifecycle DAG's steps before its human-in-the-loop approval (marked done, as is the promotion)."""
        run = self.dags[dag_id].test(mark_success_pattern="approve|promote")
        return {ti.task_id: str(ti.state) for ti in run.get_task_instances() if ti.task_id not in ("approve", "promote")}


@pytest.fixture(scope="session")
def airflow_dags(airflow_home: Path) -> AirflowDags:
    import importlib.util

    from airflow.sdk import DAG

    dags: dict[str, Any] = {}
    for path in sorted(DAGS.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"registry_test_dags_{path.stem}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dags.update({value.dag_id: value for value in vars(module).values() if isinstance(value, DAG)})
    return AirflowDags(dags)


def asset_events(uri: str) -> list[dict[str, Any]]:
    """The extras of the events Airflow recorded for the asset at ``uri``, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(AssetEvent.extra).join(AssetModel, AssetModel.id == AssetEvent.asset_id)
        return [dict(extra) for extra in session.scalars(query.where(AssetModel.uri == uri).order_by(AssetEvent.id))]




@dataclass
class AirflowApi:
    """Airflow's API server on loopback, sharing the session's metadata database: where reviewers answer."""

    url: str

    def token(self, user: str) -> str:
        import httpx

        response = httpx.post(f"{self.url}/auth/token", json={"username": user, "password": PASSWORDS[user]}, timeout=30)
        response.raise_for_status()
        return response.json()["access_token"]

    def answer_when_asked(self, user: str, dag_id: str, option: str, comment: str) -> threading.Thread:
        """From a thread: wait (bounded) for the DAG's pending approval, then answer it as ``user``."""
        import httpx

        headers = {"Authorization": f"Bearer {self.token(user)}"}

        def answer() -> None:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                pending = httpx.get(f"{self.url}/api/v2/dags/{dag_id}/dagRuns/~/hitlDetails",
                                    params={"response_received": False}, headers=headers, timeout=30)
                pending.raise_for_status()
                waiting = [d["task_instance"] for d in pending.json()["hitl_details"]]
                if waiting:
                    (task,) = waiting
                    response = httpx.patch(
                        f"{self.url}/api/v2/dags/{dag_id}/dagRuns/{task['dag_run_id']}/taskInstances/"
                        f"{task['task_id']}/-1/hitlDetails",
                        json={"chosen_options": [option], "params_input": {"comment": comment}},
                        headers=headers, timeout=30,
                    )
                    self.answers.append(response.json())
                    return
                time.sleep(0.5)

        thread = threading.Thread(target=answer, daemon=True)
        self.answers: list[dict[str, Any]] = []
        thread.start()
        return thread


@pytest.fixture(scope="session")
def airflow_api(airflow_home: Path) -> Iterator[AirflowApi]:
    """``airflow api-server`` on a free loopback port, stopped at the end of the session (every wait bounded)."""
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (airflow_home / "api-server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (airflow_home / "api-server.log").read_text()[-4000:]
            try:
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API server did not start within 120 s"
            time.sleep(0.5)
        yield AirflowApi(url)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()

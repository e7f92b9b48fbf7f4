"""Airflow itself, for the provider's tests: a metadata database in a temporary AIRFLOW_HOME, DAGs run with ``dag.test()``.

Airflow and Dagster live in separate environments (README, "The lifecycle in Airflow"):
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
})


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



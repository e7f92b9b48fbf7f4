"""The Dagster instance configurations shipped at the repository root: SQLite by default, PostgreSQL for teams."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, QueuedRunCoordinator
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry_pipelines import build_registry_definitions
from registry_pipelines.testing import InProcessLifecycle

from .steps import retrain, tick

ROOT = Path(__file__).resolve().parents[2]


def test_default_instance_keeps_everything_in_sqlite_under_dagster_home(tmp_path: Path):
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert instance.get_runs() == []
    assert (tmp_path / "history").is_dir()


def test_default_instance_launches_runs_without_a_queue(tmp_path: Path):
    """An approval launched from the UI starts at once: no run queue for the daemon to look at first."""
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert not isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.get_concurrency_config().run_queue_config is None


@pytest.fixture
def dagster_postgres_url(postgres_schemas, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh PostgreSQL schema for Dagster's storage, dropped afterwards.

    A schema rather than a database of its own: dropping a database waits for a checkpoint,
    which took up to half a minute on a busy machine.
    """
    name = postgres_schemas.create_empty()
    url = make_url(postgres_schemas.url_of(name)).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", url)
    try:
        yield url
    finally:
        postgres_schemas.release(name)


@pytest.mark.postgres
def test_postgres_instance_records_the_lifecycle(
    tmp_path: Path, dagster_postgres_url: str, pipeline, registry_resource
):
    """With dagster.postgres.yaml, runs, asset history and sensor-launched runs land in PostgreSQL."""
    shutil.copy(ROOT / "dagster.postgres.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        lifecycle = InProcessLifecycle(
            build_registry_definitions(pipeline, registry=registry_resource), instance, log_level="CRITICAL"
        )
        assert retrain(lifecycle, pipeline).success
        assert tick(lifecycle, pipeline, "on_new_candidate").succeeded
        assert len(instance.get_runs()) == 2
        assert instance.get_latest_materialization_event(AssetKey(["fraud_detector", "candidate_model"])) is not None
    engine = create_engine(dagster_postgres_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM runs")).scalar_one() == 2
    engine.dispose()


@pytest.mark.postgres
def test_team_instance_keeps_the_run_queue_and_its_limit(tmp_path: Path, dagster_postgres_url: str):
    """dagster.postgres.yaml queues runs, at most four at a time."""
    shutil.copy(ROOT / "dagster.postgres.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 4

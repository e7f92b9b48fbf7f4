"""Searches cost a bounded number of indexed statements, whatever the number of models and versions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event, text

from registry_core import Registry
from registry_core.mlflow_store import RegistryStore
from registry_core.mlflow_store.search import latest_versions_query, search_versions_query


@contextmanager
def counted(store: RegistryStore) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001 - SQLAlchemy's signature
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = store.registry.db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _catalog(tmp_path: Path, models: int, versions: int, monkeypatch: pytest.MonkeyPatch) -> RegistryStore:
    monkeypatch.setenv("REGISTRY_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"weights")
    with Registry(url, tmp_path / "artifacts", actor="alice") as registry:
        for m in range(models):
            for _ in range(versions):
                registry.register(f"model-{m:03d}", artifact, tags={"team": "risk"})
    return RegistryStore(f"registry+{url}")


@pytest.mark.parametrize("models", [3, 40])
def test_a_page_of_models_costs_the_same_whatever_its_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, models: int):
    """Search, then tags, aliases and latest versions of the whole page: four statements for 3 or 40 models."""
    store = _catalog(tmp_path, models, 2, monkeypatch)
    with counted(store) as statements:
        page = store.search_registered_models(max_results=100)
    assert len(page) == models
    assert len(statements) == 4, statements


@pytest.mark.parametrize("versions", [2, 30])
def test_a_page_of_one_models_versions_costs_the_same_whatever_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, versions: int
):
    """The UI's model page (name = ...): the search and one snapshot of the model's versions, six statements."""
    store = _catalog(tmp_path, 2, versions, monkeypatch)
    with counted(store) as statements:
        page = store.search_model_versions("name = 'model-001'")
    assert len(page) == versions
    assert len(statements) == 6, statements


@pytest.mark.parametrize(
    "filter_string", ["name = 'model-001'", "run_id IN ('r1', 'r2')", "name = 'model-001' AND version_number > 3"]
)
def test_version_searches_by_name_or_run_use_an_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, filter_string: str):
    """SQLite's plan searches model_versions through an index: no scan of every version."""
    store = _catalog(tmp_path, 2, 3, monkeypatch)
    page = search_versions_query(filter_string, 10, None, None, "sqlite")
    compiled = page.statement.compile(store.registry.db.engine, compile_kwargs={"literal_binds": True})
    with store.registry.db.engine.connect() as connection:
        plan = " | ".join(row[-1] for row in connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "SCAN model_versions" not in plan, plan


def test_latest_versions_seek_one_index_entry_per_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """SQLite's plan finds each stage's newest version by a seek on (model_id, stage), not by reading every version."""
    store = _catalog(tmp_path, 2, 3, monkeypatch)
    compiled = latest_versions_query(["model-001"]).compile(
        store.registry.db.engine, compile_kwargs={"literal_binds": True}
    )
    with store.registry.db.engine.connect() as connection:
        plan = " | ".join(row[-1] for row in connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "ix_model_versions_model_id_stage_version (model_id=? AND stage=?)" in plan, plan
    assert "SCAN model_versions" not in plan, plan

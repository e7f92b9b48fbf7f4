"""Fixtures that build real catalogs: a SQLite file, and a PostgreSQL schema of its own per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from registry_core import Registry

POSTGRES_URL = os.environ.get(
    "REGISTRY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: Set in CI: a PostgreSQL that cannot be reached fails the run instead of skipping.
REQUIRE_POSTGRES = os.environ.get("REGISTRY_REQUIRE_POSTGRES") == "1"

_postgres_problem: str | None | bool = False


def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can (asked once per session)."""
    global _postgres_problem
    if _postgres_problem is False:
        try:
            engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            engine.dispose()
            _postgres_problem = None
        except Exception as exc:  # any failure to connect means: no PostgreSQL here
            _postgres_problem = f"PostgreSQL at {make_url(POSTGRES_URL).render_as_string()} unreachable: {str(exc).splitlines()[0]}"
    return _postgres_problem  # type: ignore[return-value]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema, dropped afterwards."""
    problem = postgres_problem()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(f"REGISTRY_REQUIRE_POSTGRES=1 but {problem}")
        pytest.skip(problem)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty catalog database: SQLite file and PostgreSQL schema alike."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def artifact_root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def registry(database_url: str, artifact_root: Path) -> Iterator[Registry]:
    """A registry on a fresh catalog, acting as 'alice'."""
    with Registry(database_url, artifact_root, actor="alice") as opened:
        yield opened


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """A small artifact to register."""
    path = tmp_path / "model.bin"
    path.write_bytes(b"model weights v1")
    return path


def _capture_catalog(engine: Engine, artifact_root: Path) -> dict[str, object]:
    """Every row of every catalog table and every stored blob: equal before and after means nothing was written."""
    from registry_core.schema import Base

    state: dict[str, object] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            state[table.name] = sorted(repr(tuple(row)) for row in connection.execute(table.select()))
    state["blobs"] = sorted(str(p.relative_to(artifact_root)) for p in artifact_root.rglob("*") if p.is_file())
    return state


@pytest.fixture
def catalog_state(database_url: str, artifact_root: Path) -> Iterator[Callable[[], dict[str, object]]]:
    """A function capturing every row of the test's catalog and every stored blob, to prove a call wrote nothing."""
    engine = create_engine(database_url)
    try:
        yield lambda: _capture_catalog(engine, artifact_root)
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def module_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty catalog database shared by the tests of one module (see ``module_registry``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('catalog') / 'catalog.db'}"
        return
    problem = postgres_problem()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(f"REGISTRY_REQUIRE_POSTGRES=1 but {problem}")
        pytest.skip(problem)
    schema = f"m_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def module_artifact_root(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="module")
def module_registry(module_database_url: str, module_artifact_root: Path) -> Iterator[Registry]:
    """A registry acting as 'alice' on one catalog for a whole module: for tables of cases that must change nothing."""
    with Registry(module_database_url, module_artifact_root, actor="alice") as opened:
        yield opened


@pytest.fixture(scope="module")
def module_catalog_state(
    module_database_url: str, module_artifact_root: Path
) -> Iterator[Callable[[], dict[str, object]]]:
    """Like ``catalog_state``, for the catalog of ``module_registry``."""
    engine = create_engine(module_database_url)
    try:
        yield lambda: _capture_catalog(engine, module_artifact_root)
    finally:
        engine.dispose()

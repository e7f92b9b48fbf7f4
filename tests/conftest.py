"""Fixtures that build real catalogs: a SQLite file, and a PostgreSQL schema of its own per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
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

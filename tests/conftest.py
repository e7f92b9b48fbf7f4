"""Fixtures that build real catalogs: a SQLite file, and a PostgreSQL schema of its own per test.

Running every migration for every test cost two thirds of the suite's time, so each session runs
the real migrations once per dialect and every test starts from what they built:

* SQLite: the migrated template file, checkpointed so that the one file holds everything, is copied.
* PostgreSQL: the statements the migrations sent to the server, recorded while they built a
  template schema, are sent again in one transaction into a fresh schema per test.

A database per test copied with ``CREATE DATABASE ... TEMPLATE`` was measured and dropped: on
PostgreSQL 15 on a 2-core machine, copy and drop took a median 390 ms (``STRATEGY WAL_LOG``)
and 460-500 ms (``STRATEGY FILE_COPY``, which forces checkpoints) against 180-190 ms for a schema
migrated for real and 120 ms for a schema built from the recorded statements; every copy writes
the template's 8 MB of system catalogs.

tests/test_catalog_fixtures.py proves both kinds of copy equal to a catalog the migrations build
from nothing. The tests of the migrations themselves ask for ``empty_database_url`` and run them
for real.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from registry_core import Registry
from registry_core.database import Database

POSTGRES_URL = os.environ.get(
    "REGISTRY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: Set in CI: a PostgreSQL that cannot be reached fails the run instead of skipping.
REQUIRE_POSTGRES = os.environ.get("REGISTRY_REQUIRE_POSTGRES") == "1"

#: Every schema a test session creates is named ``registry_test_<session key>_...``.
SCHEMA_PREFIX = "registry_test_"
#: A session holds the advisory lock (LOCK_CLASS, its key) while it lives: a schema whose
#: session's lock is free was left behind by a session that crashed, and is dropped.
LOCK_CLASS = 0x7265_6769  # "regi"

_postgres_problem: str | None | bool = False


#: ``-n auto`` (pyproject's addopts) starts one worker per core, and no more than this many: each worker
#: holds PostgreSQL connections and session fixtures of its own (migrated templates, an MLflow tracking store).
MAX_WORKERS = 4


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """How many workers ``-n auto`` starts: PYTEST_XDIST_AUTO_NUM_WORKERS, else one per core up to MAX_WORKERS."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "").isdigit():
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_WORKERS, cores))


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


def require_postgres() -> None:
    """Skip the test without PostgreSQL, or fail it when the run requires one."""
    problem = postgres_problem()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(f"REGISTRY_REQUIRE_POSTGRES=1 but {problem}")
        pytest.skip(problem)


def migrate(url: str) -> None:
    """Bring an empty catalog database to the newest schema, as ``Registry`` does when it first opens one."""
    database = Database(url)
    try:
        database.ensure_schema()
    finally:
        database.dispose()


@dataclass(frozen=True)
class Statement:
    """One statement as the migrations sent it to the server."""

    sql: str
    #: A mapping, or a list of them for a statement executed once per row (executemany).
    parameters: Any

    @property
    def reads_only(self) -> bool:
        """A look at the catalog or at the schema revision (Alembic's and the registry's checks), which changes nothing."""
        words = self.sql.split()
        return words[0].upper() == "SELECT" and ("pg_catalog.pg_class" in self.sql or "FROM alembic_version" in self.sql)


def record_migrations(url: str) -> list[Statement]:
    """Run the real migrations on the empty database at ``url``; return every statement they sent that succeeded.

    The schema check's first look at a database without tables fails, and the registry expects it to.
    """
    statements: list[Statement] = []

    def record(_conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append(Statement(sql, parameters))

    database = Database(url)
    event.listen(database.engine, "after_cursor_execute", record)
    try:
        database.ensure_schema()
    finally:
        database.dispose()
    return statements


class PostgresSchemas:
    """Creates and drops this session's schemas in the database of ``POSTGRES_URL``.

    Building a migrated schema keeps the server busy for about a tenth of a second, longer than
    most tests run, so a thread of its own builds the next few while tests run, and drops the
    schemas of finished tests. Each schema is still built fresh for, and handed to, one test.
    """

    #: How many migrated schemas wait ready for the tests that will ask for them.
    READY = 2
    #: A schema some connection still holds locks on is dropped later rather than waited for.
    DROP_LOCK_TIMEOUT = "5s"

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.key = secrets.randbelow(2**31)
        self.prefix = f"{SCHEMA_PREFIX}{self.key:08x}_"
        self.engine = create_engine(url, pool_size=2)
        # Held for the whole session on a connection of its own: it tells other sessions this one is alive.
        self.lease: Connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.lease.execute(text("SELECT pg_advisory_lock(:cls, :key)"), {"cls": LOCK_CLASS, "key": self.key})
        self.lease.exec_driver_sql(f"SET lock_timeout = '{self.DROP_LOCK_TIMEOUT}'")
        self._numbers = itertools.count(1)
        self._numbers_lock = threading.Lock()
        self._migrations: list[Statement] | None = None
        self._ready: queue.Queue[str] = queue.Queue(self.READY)
        self._finished: queue.Queue[str] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._builder: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._stuck: list[str] = []

    def url_of(self, schema: str) -> str:
        """A URL whose connections see ``schema`` and nothing else of the database."""
        return self.url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)

    def _new_name(self) -> str:
        with self._numbers_lock:
            return f"{self.prefix}{next(self._numbers)}"

    def create_empty(self) -> str:
        """A new schema with nothing in it; returns its name."""
        name = self._new_name()
        self.lease.execute(text(f'CREATE SCHEMA "{name}"'))
        return name

    def create_migrated(self) -> str:
        """A new schema holding what the migrations build; returns its name."""
        self.migrations()
        if self._builder is None:
            self._builder = threading.Thread(target=self._build_and_drop, name="test-schemas", daemon=True)
            self._builder.start()
        while True:
            try:
                name = self._ready.get(timeout=1)
            except queue.Empty:
                if not self._builder.is_alive():
                    raise RuntimeError("the thread building test schemas stopped") from self._failure
            else:
                self._wake.set()
                return name

    def release(self, name: str) -> None:
        """Drop a schema a test is done with: in the background once that runs, at the end of the session at the latest."""
        if self._builder is None:
            if not self._drop(self.lease, name):
                self._stuck.append(name)
            return
        self._finished.put(name)
        self._wake.set()

    def migrations(self) -> list[Statement]:
        """The statements the real migrations sent when they built this session's template schema."""
        if self._migrations is None:
            template = self.create_empty()
            try:
                statements = record_migrations(self.url_of(template))
            finally:
                self._drop(self.lease, template)
            # They rely on search_path alone; one naming the schema could not be sent to another one.
            assert not [s.sql for s in statements if template in s.sql], "a migration named its schema"
            self._migrations = statements
        return self._migrations

    def _build(self, connection: Connection) -> str:
        """Send the recorded statements, in one transaction, into a new schema."""
        name = self._new_name()
        with connection.begin():
            connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
            connection.exec_driver_sql(f'SET LOCAL search_path TO "{name}"')
            for statement in self.migrations():
                if statement.reads_only:
                    continue
                if statement.parameters:
                    connection.exec_driver_sql(statement.sql, statement.parameters)
                else:
                    connection.exec_driver_sql(statement.sql)
        return name

    @staticmethod
    def _drop(connection: Connection, name: str) -> bool:
        """Drop a schema unless another connection holds locks on it past the lock timeout; say whether it went."""
        try:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            connection.commit()
        except OperationalError:
            connection.rollback()
            return False
        return True

    def _build_and_drop(self) -> None:
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql(f"SET lock_timeout = '{self.DROP_LOCK_TIMEOUT}'")
                connection.commit()
                while not self._stop.is_set():
                    self._wake.clear()
                    # Building first: a test waits for the next schema, none waits for a drop.
                    if not self._ready.full():
                        self._ready.put(self._build(connection))
                        continue
                    try:
                        finished = self._finished.get_nowait()
                    except queue.Empty:
                        self._wake.wait(1)
                        continue
                    if not self._drop(connection, finished):
                        self._stuck.append(finished)  # still in use: tried again at the end
        except BaseException as exc:
            self._failure = exc

    def drop_abandoned(self) -> list[str]:
        """Drop the schemas of earlier sessions that ended without dropping them (a crash, a kill)."""
        names = self.lease.execute(
            text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :prefix)"), {"prefix": SCHEMA_PREFIX}
        ).scalars().all()
        by_session: dict[int, list[str]] = {}
        for name in names:
            try:
                key = int(name[len(SCHEMA_PREFIX):].split("_")[0], 16)
            except ValueError:
                continue
            if key != self.key:
                by_session.setdefault(key, []).append(name)
        dropped: list[str] = []
        for key, schemas in by_session.items():
            params = {"cls": LOCK_CLASS, "key": key}
            if not self.lease.execute(text("SELECT pg_try_advisory_lock(:cls, :key)"), params).scalar_one():
                continue  # that session is still running
            try:
                dropped.extend(name for name in schemas if self._drop(self.lease, name))
            finally:
                self.lease.execute(text("SELECT pg_advisory_unlock(:cls, :key)"), params)
        return dropped

    def close(self) -> None:
        """Drop every schema not dropped yet; one still locked is left for the next session's clean-up."""
        if self.lease.closed:
            return
        self._stop.set()
        self._wake.set()
        if self._builder is not None:
            self._builder.join()
        for waiting in (self._ready, self._finished):
            while not waiting.empty():
                self._stuck.append(waiting.get_nowait())
        for name in self._stuck:
            self._drop(self.lease, name)
        self.lease.close()
        self.engine.dispose()


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[PostgresSchemas]:
    """This session's PostgreSQL schemas; those left behind by crashed sessions are dropped first."""
    require_postgres()
    schemas = PostgresSchemas(POSTGRES_URL)
    try:
        schemas.drop_abandoned()
        yield schemas
    finally:
        schemas.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite catalog file the migrations built in this session, whole in its one file."""
    path = tmp_path_factory.mktemp("template") / "catalog.db"
    migrate(f"sqlite:///{path}")
    # The catalog runs in WAL mode: fold the log into the file, so that a copy of the file is the whole catalog.
    with contextlib.closing(sqlite3.connect(path)) as connection:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0, "the template catalog is still in use"
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the template's write-ahead log was not checkpointed"
    path.chmod(0o444)
    return path


def copy_sqlite_catalog(template: Path, folder: Path) -> str:
    """A copy of the template catalog in ``folder``; returns its URL."""
    target = folder / "catalog.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def postgres_catalog(schemas: PostgresSchemas, *, migrated: bool) -> Iterator[str]:
    """A schema of its own, migrated or empty, dropped after the test even when it failed."""
    name = schemas.create_migrated() if migrated else schemas.create_empty()
    try:
        yield schemas.url_of(name)
    finally:
        schemas.release(name)


DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def sqlite_catalog_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A SQLite catalog at the newest schema holding nothing yet, ``catalog.db`` in the test's folder."""
    return copy_sqlite_catalog(sqlite_template, tmp_path)


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    """The database the test runs on; a test asking for several databases gets them all of this one kind."""
    return request.param


@pytest.fixture
def database_url(dialect: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A catalog at the newest schema holding nothing yet: SQLite file and PostgreSQL database alike."""
    if dialect == "sqlite":
        yield request.getfixturevalue("sqlite_catalog_url")
        return
    yield from postgres_catalog(request.getfixturevalue("postgres_schemas"), migrated=True)


@pytest.fixture
def postgres_url(postgres_schemas: PostgresSchemas) -> Iterator[str]:
    """A PostgreSQL catalog at the newest schema, for a test about PostgreSQL alone (mark it ``postgres``)."""
    yield from postgres_catalog(postgres_schemas, migrated=True)


@pytest.fixture
def empty_database_url(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A truly empty database, for tests that run the migrations themselves: no file yet, or a database without tables."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    yield from postgres_catalog(request.getfixturevalue("postgres_schemas"), migrated=False)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A plain SQLAlchemy engine on the catalog: what someone with SQL access and no registry can do."""
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


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


@pytest.fixture(scope="module", params=DIALECTS)
def module_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A catalog at the newest schema shared by the tests of one module (see ``module_registry``)."""
    if request.param == "sqlite":
        yield copy_sqlite_catalog(request.getfixturevalue("sqlite_template"), tmp_path_factory.mktemp("catalog"))
        return
    yield from postgres_catalog(request.getfixturevalue("postgres_schemas"), migrated=True)


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

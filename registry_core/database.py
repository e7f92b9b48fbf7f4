"""Engines, transactions, error translation and schema management for the catalog.

SQLite runs in WAL mode with ``synchronous=FULL`` so that every committed
change survives a power cut, and write transactions start with
``BEGIN IMMEDIATE`` so that two writers queue instead of failing halfway.
PostgreSQL serializes writers of one model through row locks taken by the
registry (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from .errors import ConflictError, DatabaseUnavailable, InvalidInput, RegistryError, SchemaMismatch

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["Database", "SchemaStatus", "normalize_url"]

_MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest revision in migrations/versions. A catalog already there opens
#: without importing Alembic (a fifth of a CLI command's start-up); any other
#: goes through Alembic. tests/test_migrations.py checks this against Alembic's head.
SCHEMA_HEAD = "0004"
_VERSION_TABLE = "alembic_version"
_WRITE = "registry_write"
#: How long a writer waits for another writer's lock before giving up.
LOCK_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database's schema stands against the one this registry needs."""

    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as PostgreSQL through psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Database:
    """One catalog database: its engine, its transactions and its schema."""

    def __init__(self, url: str) -> None:
        url = normalize_url(url)
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise InvalidInput(f"invalid database URL {url!r}") from None
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise InvalidInput(f"unsupported database {self.dialect!r}: use sqlite:/// or postgresql://")
        self.display_url = parsed.render_as_string(hide_password=True)
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(url, parsed.database)
        else:
            self.engine = create_engine(
                url,
                pool_pre_ping=True,
                connect_args={"connect_timeout": 10},
            )

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A session in one write transaction, committed on success, rolled back on error."""
        with self._session(write=True) as session:
            yield session

    @contextlib.contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Session]:
        """A session in one read transaction; ``snapshot`` sees one instant throughout (PostgreSQL)."""
        with self._session(write=False, snapshot=snapshot) as session:
            yield session

    @contextlib.contextmanager
    def _session(self, *, write: bool, snapshot: bool = False) -> Iterator[Session]:
        options: dict[str, Any] = {_WRITE: write}
        if snapshot and self.dialect == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"
        with translate_errors(self.display_url):
            connection = self.engine.connect().execution_options(**options)
            try:
                session = Session(bind=connection, expire_on_commit=False, autoflush=False)
                with session:
                    with session.begin():
                        yield session
            finally:
                connection.close()

    # --- schema -------------------------------------------------------------------------

    def schema_status(self) -> SchemaStatus:
        """Compare the database's schema revision with this registry's."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
        assert head is not None
        with translate_errors(self.display_url), self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        return SchemaStatus(current=current, head=head)

    def ensure_schema(self) -> None:
        """Create an empty database at the newest schema; refuse an older or foreign one."""
        if self._stored_revisions() == [SCHEMA_HEAD]:
            return
        status = self.schema_status()
        if status.up_to_date:
            return
        if status.current is None:
            with translate_errors(self.display_url), self.engine.connect() as connection:
                tables = inspect(connection).get_table_names()
            if tables:
                raise SchemaMismatch(
                    f"{self.display_url} holds tables but no registry schema revision; "
                    "point the registry at an empty database or an existing registry"
                )
            self.upgrade()
            return
        from alembic.script import ScriptDirectory

        known = {rev.revision for rev in ScriptDirectory.from_config(_alembic_config(None)).walk_revisions()}
        if status.current not in known:
            raise SchemaMismatch(
                f"database schema revision {status.current} is newer than this registry knows "
                f"(newest known {status.head}): upgrade the registry package"
            )
        raise SchemaMismatch(
            f"database schema is at revision {status.current}, this registry needs {status.head}: "
            "back up the database, then run 'registry db upgrade'"
        )

    def upgrade(self, revision: str = "head") -> SchemaStatus:
        """Migrate the schema forward to ``revision`` in one transaction, keeping all data."""
        from alembic import command

        self._migrate(command.upgrade, revision)
        return self.schema_status()

    def downgrade(self, revision: str) -> SchemaStatus:
        """Migrate the schema back to ``revision`` (for tests of upgrade paths)."""
        from alembic import command

        self._migrate(command.downgrade, revision)
        return self.schema_status()

    def _stored_revisions(self) -> list[str]:
        """The revisions recorded in the database's version table (none for an empty database), read without Alembic."""
        with translate_errors(self.display_url), self.engine.connect() as connection:
            if not inspect(connection).has_table(_VERSION_TABLE):
                return []
            return list(connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalars())

    def _migrate(self, step: Any, revision: str) -> None:
        with translate_errors(self.display_url), self.engine.connect().execution_options(**{_WRITE: True}) as connection:
            sqlite = self.dialect == "sqlite"
            if sqlite:
                # SQLite alters a table by copying it and dropping the original, which
                # enforced foreign keys refuse while other tables point at it. SQLite's
                # documented procedure: keys off outside the transaction (the pragma is
                # ignored inside one), checked before commit, back on afterwards.
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
            try:
                with connection.begin():
                    step(_alembic_config(connection), revision)
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
                        if broken is not None:
                            raise SchemaMismatch(
                                f"migrating to {revision} would leave a dangling reference in table {broken[0]}; "
                                "nothing was changed"
                            )
            finally:
                if sqlite:
                    connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


@contextlib.contextmanager
def translate_errors(display_url: str) -> Iterator[None]:
    """Turn database errors into the registry's typed errors, once, in one place."""
    try:
        yield
    except RegistryError:
        raise
    except IntegrityError as exc:
        raise ConflictError(f"the change conflicts with the catalog: {_first_line(exc.orig)}") from exc
    except OperationalError as exc:
        text = _first_line(exc.orig)
        if "locked" in text or "lock timeout" in text:
            raise ConflictError(f"the catalog stayed locked by another writer: {text}") from exc
        raise DatabaseUnavailable(f"cannot use the catalog database {display_url}: {text}") from exc
    except DBAPIError as exc:
        raise DatabaseUnavailable(f"catalog database {display_url} failed: {_first_line(exc.orig)}") from exc
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(f"catalog database {display_url} failed: {_first_line(exc)}") from exc


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _alembic_config(connection: Connection | None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:" and not database.startswith("file:"):
        parent = Path(database).expanduser().resolve().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(f"cannot create the catalog folder {parent}: {exc.strerror}") from None
    engine = create_engine(url, connect_args={"timeout": LOCK_TIMEOUT_SECONDS})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that BEGIN is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={LOCK_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine

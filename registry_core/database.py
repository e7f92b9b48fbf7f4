"""Engines, transactions, error translation and schema management for the catalog.

SQLite runs in WAL mode with ``synchronous=FULL`` so that every committed
change survives a power cut, and write transactions start with
``BEGIN IMMEDIATE`` so that two writers queue instead of failing halfway.
PostgreSQL serializes writers of one model through row locks taken by the
registry (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from .errors import ConflictError, DatabaseUnavailable, InvalidInput, NotFound, RegistryError, SchemaMismatch
from .migrations import HEAD_REVISION

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "Database", "SchemaStatus", "normalize_url"]

_MIGRATIONS = Path(__file__).parent / "migrations"
_WRITE = "registry_write"
#: First key of the PostgreSQL advisory lock that serializes creating the schema (the second is the schema).
_FIRST_USE_LOCK = 0x52454749
_REVISION_QUERY = text("SELECT version_num FROM alembic_version")
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

    def __init__(self, url: str, *, create: bool = True) -> None:
        """Open the catalog at ``url``; with ``create=False`` a missing or empty one is refused, never made."""
        if not isinstance(url, str):
            raise InvalidInput("the database URL must be text")
        url = normalize_url(url)
        try:
            parsed = make_url(url)
            self.dialect = parsed.get_backend_name()
            self.display_url = parsed.render_as_string(hide_password=True)
        except Exception:  # make_url raises ArgumentError, ValueError or TypeError depending on the defect
            raise InvalidInput(f"invalid database URL {_hide_password(url)!r}") from None
        if self.dialect not in ("sqlite", "postgresql"):
            raise InvalidInput(f"unsupported database {self.dialect!r}: use sqlite:/// or postgresql://")
        self.create = create
        try:
            if self.dialect == "sqlite":
                self.engine = _sqlite_engine(url, parsed.database, create=create)
            else:
                self.engine = create_engine(
                    url,
                    pool_pre_ping=True,
                    connect_args={"connect_timeout": 10},
                    # The catalog has no hstore columns; looking the type up is a
                    # catalog query on every new engine's first connect.
                    use_native_hstore=False,
                )
        except RegistryError:
            raise
        except Exception as exc:  # an unknown driver, or options the dialect cannot read
            raise InvalidInput(f"invalid database URL {self.display_url!r}: {_first_line(exc)}") from None

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextlib.contextmanager
    def transaction(self, *, write: bool, snapshot: bool = False) -> Iterator[Connection]:
        """A Core connection in one transaction: committed on success, rolled back on error.

        ``write`` starts SQLite's transaction with ``BEGIN IMMEDIATE`` so that
        writers queue at the start instead of failing halfway; ``snapshot``
        sees one instant throughout (PostgreSQL's REPEATABLE READ).
        """
        options: dict[str, Any] = {_WRITE: write}
        if snapshot and self.dialect == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"
        with translate_errors(self.display_url), self.engine.connect() as connection:
            connection.execution_options(**options)
            with connection.begin():
                yield connection

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
        """Compare the database's schema revision with this registry's: one query, no migration scripts loaded."""
        with translate_errors(self.display_url), self.engine.connect() as connection:
            current = _current_revision(connection, self.display_url)
        return SchemaStatus(current=current, head=HEAD_REVISION)

    def ensure_schema(self) -> None:
        """Create an empty database at the newest schema; refuse an older or foreign one."""
        status = self.schema_status()
        if status.up_to_date:
            return
        if status.current is None:
            if not self.create:
                raise NotFound(f"{self.display_url} holds no registry catalog; nothing was created")
            self._create_schema_once()
            status = self.schema_status()
            if status.up_to_date:
                return
        if status.current not in _known_revisions():
            raise SchemaMismatch(
                f"database schema revision {status.current} is newer than this registry knows "
                f"(newest known {status.head}): upgrade the registry package"
            )
        raise SchemaMismatch(
            f"database schema is at revision {status.current}, this registry needs {status.head}: "
            "back up the database, then run 'registry db upgrade'"
        )

    def _create_schema_once(self) -> None:
        """Create the newest schema in an empty database, once, however many processes open it at the same moment.

        The check for emptiness and the creation happen under one lock: SQLite's
        write lock (``BEGIN IMMEDIATE``), or a transaction-scoped advisory lock
        on PostgreSQL (per schema). Whoever comes second finds the schema made.
        """
        from alembic import command

        with translate_errors(self.display_url), self.engine.connect().execution_options(**{_WRITE: True}) as connection:
            with connection.begin():
                if self.dialect == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"), {"key": _FIRST_USE_LOCK}
                    )
                inspector = inspect(connection)
                if inspector.has_table("alembic_version"):
                    return  # created meanwhile (or foreign): the caller looks again
                if inspector.get_table_names():
                    raise SchemaMismatch(
                        f"{self.display_url} holds tables but no registry schema revision; "
                        "point the registry at an empty database or an existing registry"
                    )
                command.upgrade(_alembic_config(connection), "head")

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


def _current_revision(connection: Connection, display_url: str) -> str | None:
    """The revision recorded in ``alembic_version``, or None when the database has none."""
    try:
        revisions = connection.execute(_REVISION_QUERY).scalars().all()
    except DBAPIError:
        # Most likely there is no alembic_version table (an empty or a foreign
        # database); only this rare case pays for a look at the catalog.
        connection.rollback()
        if inspect(connection).has_table("alembic_version"):
            raise
        return None
    if len(revisions) > 1:
        raise SchemaMismatch(
            f"{display_url} records several schema revisions ({', '.join(sorted(revisions))}); "
            "a registry catalog has exactly one"
        )
    return revisions[0] if revisions else None


def _known_revisions() -> set[str]:
    """Every revision of the migration scripts (loads them: only for refusing a database)."""
    from alembic.script import ScriptDirectory

    return {rev.revision for rev in ScriptDirectory.from_config(_alembic_config(None)).walk_revisions()}


def _alembic_config(connection: Connection | None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _hide_password(url: str) -> str:
    """A URL that may not parse, with anything between ``://user:`` and ``@`` masked."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _sqlite_engine(url: str, database: str | None, *, create: bool = True) -> Engine:
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser().absolute()
        if not create and not path.is_file():
            raise NotFound(
                f"no catalog database at {path}; nothing was created (register a model to start one, "
                f"or point --db / REGISTRY_DATABASE_URL at an existing catalog)"
            )
        parent = path.resolve().parent
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
        cursor.execute(f"PRAGMA busy_timeout={LOCK_TIMEOUT_SECONDS * 1000}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch to WAL, waiting (bounded) while other processes hold the brand-new file.

    Turning a new database to WAL needs it to itself for a moment, and SQLite
    answers "database is locked" at once, without its busy handler, when
    several processes open the same new file together.
    """
    import sqlite3
    import time

    deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


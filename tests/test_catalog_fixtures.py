"""The catalogs the fixtures hand out are the ones the real migrations build, and none of them outlives its session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import LOCK_CLASS, POSTGRES_URL, PostgresSchemas
from sqlalchemy import Connection, create_engine, inspect, text

from registry_core import Registry


def table_constraints_in_order(sql: str | None) -> str | None:
    """A table's SQL with its constraints sorted, its columns kept in order.

    Alembic's batch mode, which rebuilds a SQLite table to alter it, writes the rebuilt table's
    constraints in an order that changes from run to run; nothing else about them changes.
    """
    if sql is None or not sql.startswith("CREATE TABLE"):
        return sql
    head, _, body = sql.partition("(\n")
    lines = [line.strip().removesuffix(",").strip() for line in body.removesuffix(")").splitlines() if line.strip()]
    columns = [line for line in lines if not line.startswith("CONSTRAINT ")]
    constraints = sorted(line for line in lines if line.startswith("CONSTRAINT "))
    return "\n".join([head, *columns, *constraints])


def describe_sqlite(connection: Connection) -> dict[str, object]:
    """Every schema object's SQL, every row, and the file's settings."""
    objects = connection.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_master").all()
    description: dict[str, object] = {
        "objects": sorted((kind, name, table, table_constraints_in_order(sql)) for kind, name, table, sql in objects),
    }
    for pragma in ("user_version", "application_id", "journal_mode", "auto_vacuum", "page_size", "encoding"):
        description[pragma] = connection.exec_driver_sql(f"PRAGMA {pragma}").scalar()
    for table in inspect(connection).get_table_names():
        description[f"rows of {table}"] = sorted(connection.exec_driver_sql(f'SELECT * FROM "{table}"').all())
    return description


#: What PostgreSQL knows of a schema's objects, each shown by the server's own deparser.
POSTGRES_CATALOG = {
    "relations": """
        SELECT c.relname, c.relkind, c.relpersistence FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace""",
    "columns": """
        SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attcollation
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = current_schema()::regnamespace AND a.attnum > 0 AND NOT a.attisdropped""",
    "constraints": """
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid), k.condeferrable, k.convalidated
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE k.connamespace = current_schema()::regnamespace""",
    "indexes": """
        SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'i'""",
    "triggers": """
        SELECT t.tgname, pg_get_triggerdef(t.oid), t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal""",
    "functions": """
        SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
        WHERE p.pronamespace = current_schema()::regnamespace""",
    "sequences": """
        SELECT sequencename, data_type, start_value, min_value, max_value, increment_by, cycle, cache_size, last_value
        FROM pg_sequences WHERE schemaname = current_schema()""",
    "sequence owners": """
        SELECT s.relname, t.relname, a.attname FROM pg_depend d
        JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
        JOIN pg_class t ON t.oid = d.refobjid
        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE s.relnamespace = current_schema()::regnamespace""",
}


def describe_postgres(connection: Connection) -> dict[str, object]:
    """Every object of the connection's schema as the server deparses it, and every row."""
    schema = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
    description: dict[str, object] = {}
    for kind, query in POSTGRES_CATALOG.items():
        rows = connection.exec_driver_sql(query).all()
        # The deparsers name the schema, which differs between any two test catalogs.
        description[kind] = sorted(tuple(str(v).replace(f"{schema}.", "") for v in row) for row in rows)
    for table in inspect(connection).get_table_names():
        description[f"rows of {table}"] = sorted(connection.exec_driver_sql(f'SELECT * FROM "{table}"').all())
    return description


def describe(url: str) -> dict[str, object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return describe_sqlite(connection) if engine.dialect.name == "sqlite" else describe_postgres(connection)
    finally:
        engine.dispose()


def test_a_test_catalog_is_what_the_migrations_build_from_nothing(
    database_url: str, empty_database_url: str, tmp_path: Path
):
    """Tables, columns, constraints, indexes, triggers, functions, sequences and rows all equal."""
    Registry(empty_database_url, tmp_path / "artifacts", actor="alice").close()
    fresh = describe(empty_database_url)
    assert "audit_events is append-only" in repr(fresh), "the audit log's triggers are part of the description"
    assert describe(database_url) == fresh


def test_the_sqlite_template_is_whole_in_its_one_file(sqlite_template: Path):
    """Checkpointed: no write-ahead log is left beside it, so copying the file copies the catalog."""
    assert sorted(p.name for p in sqlite_template.parent.iterdir()) == [sqlite_template.name]


@pytest.fixture
def other_sessions(postgres_schemas: PostgresSchemas) -> Iterator[list[PostgresSchemas]]:
    """Stand-ins for other test sessions on the same server; whatever they leave is dropped afterwards."""
    sessions: list[PostgresSchemas] = []
    try:
        yield sessions
    finally:
        for session in sessions:
            session.close()
            wait_until_released(session.key)
        postgres_schemas.drop_abandoned()


def schema_names(prefix: str) -> set[str]:
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            return set(
                connection.execute(
                    text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :prefix)"), {"prefix": prefix}
                ).scalars()
            )
    finally:
        engine.dispose()


def wait_until_released(key: int, timeout: float = 30.0) -> None:
    """The server lets a session's locks go once its backend has noticed the disconnection: shortly, not at once."""
    engine = create_engine(POSTGRES_URL)
    deadline = time.monotonic() + timeout
    try:
        with engine.connect() as connection:
            while connection.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :cls AND objid = :key"),
                {"cls": LOCK_CLASS, "key": key},
            ).scalar_one():
                assert time.monotonic() < deadline, "the closed session's lock was never released"
                connection.rollback()
                time.sleep(0.05)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_schemas_of_a_crashed_session_are_dropped_and_a_running_one_is_left_alone(
    postgres_schemas: PostgresSchemas, other_sessions: list[PostgresSchemas]
):
    crashed, running = PostgresSchemas(POSTGRES_URL), PostgresSchemas(POSTGRES_URL)
    other_sessions.extend([crashed, running])
    left_behind = {crashed.create_empty(), crashed.create_migrated()}
    in_use = running.create_migrated()
    crashed.close()  # its connection ends as a killed process's would: the schemas stay, the lock goes
    wait_until_released(crashed.key)

    assert set(postgres_schemas.drop_abandoned()) == left_behind
    assert schema_names(crashed.prefix) == set()
    assert in_use in schema_names(running.prefix)

"""The ORM's tables (``registry_core.schema``) are exactly the schema the migrations build, on both dialects.

Alembic's autogenerate compares tables, columns, types, nullability, server defaults, indexes,
unique constraints and foreign keys. It compares neither check constraints nor the predicates of
partial indexes, and skips expression indexes (the tag tables' value-prefix indexes), so those
are compared separately: the ORM's tables are created in an empty database on the same server,
and both databases are reflected (expression indexes read from the server's own catalog), so
that the server itself normalizes both sides' SQL text the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, Index, MetaData, String, create_engine, inspect, text

from registry_core.schema import Base


def autogenerate_differences(connection: Connection, metadata: MetaData) -> list[Any]:
    """What ``alembic revision --autogenerate`` would write to turn the database into ``metadata``."""
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True, "target_metadata": metadata}
    )
    return compare_metadata(context, metadata)


def summary(differences: list[Any]) -> set[tuple[str, str]]:
    """Each difference as (kind, name); autogenerate groups the changes of one column in a list."""
    found: set[tuple[str, str]] = set()
    for difference in differences:
        if isinstance(difference, list):
            found.update((kind, f"{table}.{column}") for kind, _schema, table, column, *_ in difference)
        else:
            found.add((difference[0], str(getattr(difference[1], "name", difference[1]))))
    return found


#: SQLAlchemy cannot reflect expression indexes on SQLite; they are compared by their definitions below.
def skips_expression_indexes(test: Any) -> Any:
    ignore = ("ignore:Skipped unsupported reflection of expression-based index",
              "ignore:autogenerate skipping metadata-specified expression-based index")
    for warning in ignore:
        test = pytest.mark.filterwarnings(warning)(test)
    return test


def expression_indexes(connection: Connection) -> dict[str, str]:
    """Each index on an expression, by name: its definition as the server stores it, whitespace and quotes folded."""
    if connection.dialect.name == "sqlite":
        indexes = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
        # index_xinfo gives an expression's column as cid -2.
        rows = [(name, sql) for name, sql in indexes.all()
                if any(row[1] == -2 for row in connection.exec_driver_sql(f"PRAGMA index_xinfo('{name}')"))]
    else:
        rows = connection.execute(text(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND i.indexprs IS NOT NULL"
        )).all()
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        rows = [(name, definition.replace(f" {schema}.", " ")) for name, definition in rows]
    return {name: " ".join(definition.replace('"', "").split()) for name, definition in rows}


def checks_and_index_predicates(connection: Connection) -> dict[str, dict[str, object]]:
    """Per table: each check constraint's SQL and each index's columns, uniqueness and WHERE predicate."""
    inspector = inspect(connection)
    where = f"{connection.dialect.name}_where"
    shapes: dict[str, dict[str, object]] = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        shapes[table] = {
            "checks": {
                check["name"]: " ".join(check["sqltext"].split()) for check in inspector.get_check_constraints(table)
            },
            "indexes": {
                index["name"]: (
                    tuple(index["column_names"]),
                    bool(index["unique"]),
                    " ".join(str(index.get("dialect_options", {}).get(where, "")).split()),
                )
                for index in inspector.get_indexes(table)
            },
        }
    shapes["expression indexes"] = {"all": expression_indexes(connection)}
    return shapes


@pytest.fixture
def migrated(database_url: str) -> Iterator[Connection]:
    """A connection to a catalog the real migrations built."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


@pytest.fixture
def create_all(empty_database_url: str) -> Iterator[Any]:
    """Creates a metadata's tables in an empty database and returns a connection to it."""
    engine = create_engine(empty_database_url)
    connections: list[Connection] = []

    def create(metadata: MetaData) -> Connection:
        with engine.begin() as connection:
            metadata.create_all(connection)
        connections.append(engine.connect())
        return connections[-1]

    try:
        yield create
    finally:
        for connection in connections:
            connection.close()
        engine.dispose()


def drifted_copy() -> MetaData:
    """The ORM's tables with one change of every kind that the checks here must notice."""
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    versions = metadata.tables["model_versions"]
    versions.c.stage.type = String(32)
    versions.c.run_id.nullable = False
    Index("ix_model_versions_description", versions.c.description)
    (tag_values,) = (index for index in metadata.tables["version_tags"].indexes if index.name == "ix_version_tags_key_value")
    tag_values.expressions[1].clauses.clauses[2].value = 100
    (one_production,) = (index for index in versions.indexes if index.name == "uq_model_versions_one_production")
    for dialect in ("sqlite", "postgresql"):
        one_production.dialect_options[dialect]["where"] = text("stage = 'Staging'")
    (stage_known,) = (
        check for check in versions.constraints if isinstance(check, CheckConstraint) and "stage_known" in str(check.name)
    )
    stage_known.sqltext = text("stage IN ('None', 'Staging', 'Production')")
    return metadata


@skips_expression_indexes
def test_orm_metadata_matches_the_migrated_schema(migrated: Connection):
    """Autogenerate, strict about types and server defaults, finds nothing to change."""
    assert autogenerate_differences(migrated, Base.metadata) == []


@skips_expression_indexes
def test_orm_check_constraints_and_partial_indexes_match_the_migrated_schema(migrated: Connection, create_all):
    assert expression_indexes(migrated).keys() == {"ix_model_tags_key_value", "ix_version_tags_key_value"}
    assert checks_and_index_predicates(create_all(Base.metadata)) == checks_and_index_predicates(migrated)


@skips_expression_indexes
def test_the_comparisons_notice_drift(migrated: Connection, create_all):
    """A changed type, nullability, index, partial-index predicate and check constraint are each reported."""
    drifted = drifted_copy()
    # Alembic compares expression indexes on PostgreSQL only; on SQLite the definitions below do.
    expression_changes = {("add_index", "ix_version_tags_key_value"), ("remove_index", "ix_version_tags_key_value")}
    assert summary(autogenerate_differences(migrated, drifted)) == {
        ("modify_type", "model_versions.stage"),
        ("modify_nullable", "model_versions.run_id"),
        ("add_index", "ix_model_versions_description"),
        *(expression_changes if migrated.dialect.name == "postgresql" else ()),
    }

    expected, actual = checks_and_index_predicates(migrated), checks_and_index_predicates(create_all(drifted))
    assert actual["model_versions"] != expected["model_versions"]
    changed_checks = {
        name for name, sql in actual["model_versions"]["checks"].items() if expected["model_versions"]["checks"][name] != sql
    }
    changed_indexes = {
        name for name, shape in actual["model_versions"]["indexes"].items()
        if expected["model_versions"]["indexes"].get(name) != shape
    }
    assert changed_checks == {"ck_model_versions_stage_known"}
    assert changed_indexes == {"uq_model_versions_one_production", "ix_model_versions_description"}
    changed_expressions = {
        name for name, sql in actual["expression indexes"]["all"].items() if expected["expression indexes"]["all"][name] != sql
    }
    assert changed_expressions == {"ix_version_tags_key_value"}
    assert {table: shape for table, shape in actual.items() if table not in ("model_versions", "expression indexes")} == {
        table: shape for table, shape in expected.items() if table not in ("model_versions", "expression indexes")
    }

"""Schema management: empty databases are created, old ones must be upgraded explicitly, foreign ones are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from registry_core import Registry, SchemaMismatch
from registry_core.database import SCHEMA_HEAD, Database
from registry_core.schema import Base

#: What revision 0001 stores of a version; later revisions add fields that a downgrade to 0001 drops.
FIELDS_AT_0001 = (
    "model", "version", "stage", "artifact_uri", "artifact_sha256", "artifact_size", "run_id", "dataset_digest",
    "params", "metrics", "signature", "model_card", "description", "tags", "registered_by", "created_at",
    "stage_changed_at", "was_production",
)


def as_at_0001(versions: list) -> list[dict[str, object]]:
    return [{field: getattr(v, field) for field in FIELDS_AT_0001} for v in versions]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A plain SQLAlchemy engine on the catalog, bypassing the registry."""
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def table_names(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(inspect(connection).get_table_names())


@pytest.fixture
def catalog_at_0001(registry: Registry, model_file) -> dict[str, object]:
    """The fixture's catalog with a promoted version and a candidate, then migrated back to revision 0001.

    Returns what the registry showed before the downgrade.
    """
    registry.register("fraud", model_file, metrics={"auc": 0.9}, tags={"owner": "risk"})
    registry.transition("fraud", 1, "Staging")
    registry.as_actor("bob").approve("fraud", 1)
    registry.promote("fraud", 1, reason="first release")
    registry.register("fraud", model_file, description="candidate")
    registry.set_alias("fraud", "challenger", 2)
    seen = {
        "versions": as_at_0001(registry.list_versions("fraud")),
        "model": registry.get_model("fraud"),
        "events": registry.audit_events(limit=1000),
    }
    assert registry.db.downgrade("0001").current == "0001"
    registry.close()
    return seen


def test_empty_database_is_created_at_the_newest_schema(database_url: str, artifact_root: Path, engine):
    with Registry(database_url, artifact_root, actor="alice") as registry:
        status = registry.db.schema_status()
        report = registry.verify_audit()
    assert status.up_to_date
    assert revision(engine) == status.head
    assert set(Base.metadata.tables) <= table_names(engine)
    assert (report.intact, report.events, report.head_seq) == (True, 0, 0)


def test_schema_head_constant_is_alembics_head(database_url: str):
    """database.SCHEMA_HEAD, which lets an up-to-date catalog open without Alembic, names the newest migration."""
    database = Database(database_url)
    try:
        assert database.schema_status().head == SCHEMA_HEAD
    finally:
        database.dispose()


def test_opening_an_up_to_date_catalog_again_changes_nothing(database_url: str, artifact_root: Path, catalog_state):
    with Registry(database_url, artifact_root, actor="alice") as registry:
        registry.create_model("fraud")
    before = catalog_state()
    with Registry(database_url, artifact_root, actor="bob") as registry:
        assert registry.get_model("fraud").created_by == "alice"
    assert catalog_state() == before


def test_older_schema_is_refused_with_the_upgrade_command(catalog_at_0001, database_url: str, artifact_root: Path, engine):
    with pytest.raises(SchemaMismatch, match="registry db upgrade") as refused:
        Registry(database_url, artifact_root, actor="alice")
    assert "revision 0001" in str(refused.value)
    assert revision(engine) == "0001"


def test_upgrade_brings_an_older_catalog_to_head_keeping_its_data(catalog_at_0001, database_url: str, artifact_root: Path):
    database = Database(database_url)
    try:
        status = database.upgrade()
    finally:
        database.dispose()
    assert status.up_to_date

    with Registry(database_url, artifact_root, actor="alice") as registry:
        assert as_at_0001(registry.list_versions("fraud")) == catalog_at_0001["versions"]
        assert registry.get_model("fraud") == catalog_at_0001["model"]
        assert registry.audit_events(limit=1000) == catalog_at_0001["events"]
        assert registry.verify_audit().intact
        assert registry.resolve("models:/fraud/Production").version == 1


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 1", DBAPIError),
        ("UPDATE model_versions SET stage = 'Production' WHERE version = 2", IntegrityError),
    ],
    ids=["audit-append-only", "one-production-version"],
)
def test_upgraded_catalog_enforces_invariants_in_the_database(catalog_at_0001, database_url: str, engine, statement, error):
    database = Database(database_url)
    try:
        database.upgrade()
    finally:
        database.dispose()
    with pytest.raises(error), engine.begin() as connection:
        connection.execute(text(statement))


def test_catalog_created_at_0001_by_database_directly_is_refused(database_url: str, artifact_root: Path, engine):
    database = Database(database_url)
    try:
        assert database.upgrade("0001").current == "0001"
    finally:
        database.dispose()
    with pytest.raises(SchemaMismatch, match="registry db upgrade"):
        Registry(database_url, artifact_root, actor="alice")


def test_database_holding_unrelated_tables_is_refused_and_left_alone(database_url: str, artifact_root: Path, engine):
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)"))
    with pytest.raises(SchemaMismatch, match="holds tables but no registry schema revision"):
        Registry(database_url, artifact_root, actor="alice")
    assert table_names(engine) == {"customers"}


def test_schema_revision_newer_than_known_is_refused(database_url: str, artifact_root: Path, engine):
    Registry(database_url, artifact_root, actor="alice").close()
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaMismatch, match="newer than this registry knows") as refused:
        Registry(database_url, artifact_root, actor="alice")
    assert "upgrade the registry package" in str(refused.value)
    assert revision(engine) == "9999"

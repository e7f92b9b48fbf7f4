"""Schema management: empty databases are created, old ones must be upgraded explicitly, foreign ones are refused.

Every test here starts from a truly empty database and runs the real migrations, never the session's template.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

import registry_core.migrations
from registry_core import Registry, SchemaMismatch
from registry_core.database import HEAD_REVISION, Database
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
def database_url(empty_database_url: str) -> str:
    """The shared ``registry`` and ``catalog_state`` fixtures work on this module's empty database too."""
    return empty_database_url


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[Engine]:
    """A plain SQLAlchemy engine on the catalog, bypassing the registry."""
    engine = create_engine(empty_database_url)
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


def test_empty_database_is_created_at_the_newest_schema(empty_database_url: str, artifact_root: Path, engine):
    with Registry(empty_database_url, artifact_root, actor="alice") as registry:
        status = registry.db.schema_status()
        report = registry.verify_audit()
    assert status.up_to_date
    assert revision(engine) == status.head
    assert set(Base.metadata.tables) <= table_names(engine)
    assert (report.intact, report.events, report.head_seq) == (True, 0, 0)


def test_opening_an_up_to_date_catalog_again_changes_nothing(empty_database_url: str, artifact_root: Path, catalog_state):
    with Registry(empty_database_url, artifact_root, actor="alice") as registry:
        registry.create_model("fraud")
    before = catalog_state()
    with Registry(empty_database_url, artifact_root, actor="bob") as registry:
        assert registry.get_model("fraud").created_by == "alice"
    assert catalog_state() == before


def test_older_schema_is_refused_with_the_upgrade_command(catalog_at_0001, empty_database_url: str, artifact_root: Path, engine):
    with pytest.raises(SchemaMismatch, match="registry db upgrade") as refused:
        Registry(empty_database_url, artifact_root, actor="alice")
    assert "revision 0001" in str(refused.value)
    assert revision(engine) == "0001"


def test_upgrade_brings_an_older_catalog_to_head_keeping_its_data(catalog_at_0001, empty_database_url: str, artifact_root: Path):
    database = Database(empty_database_url)
    try:
        status = database.upgrade()
    finally:
        database.dispose()
    assert status.up_to_date

    with Registry(empty_database_url, artifact_root, actor="alice") as registry:
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
        ("UPDATE model_versions SET artifact_kind = 'reference' WHERE version = 2", IntegrityError),
        ("UPDATE model_versions SET artifact_sha256 = '' WHERE version = 2", IntegrityError),
    ],
    ids=["audit-append-only", "one-production-version", "reference-without-bytes", "digest-of-a-real-version"],
)
def test_upgraded_catalog_enforces_invariants_in_the_database(catalog_at_0001, empty_database_url: str, engine, statement, error):
    database = Database(empty_database_url)
    try:
        database.upgrade()
    finally:
        database.dispose()
    with pytest.raises(error), engine.begin() as connection:
        connection.execute(text(statement))


def test_catalog_created_at_0001_by_database_directly_is_refused(empty_database_url: str, artifact_root: Path, engine):
    database = Database(empty_database_url)
    try:
        assert database.upgrade("0001").current == "0001"
    finally:
        database.dispose()
    with pytest.raises(SchemaMismatch, match="registry db upgrade"):
        Registry(empty_database_url, artifact_root, actor="alice")


def test_database_holding_unrelated_tables_is_refused_and_left_alone(empty_database_url: str, artifact_root: Path, engine):
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)"))
    with pytest.raises(SchemaMismatch, match="holds tables but no registry schema revision"):
        Registry(empty_database_url, artifact_root, actor="alice")
    assert table_names(engine) == {"customers"}


def test_schema_revision_newer_than_known_is_refused(empty_database_url: str, artifact_root: Path, engine):
    Registry(empty_database_url, artifact_root, actor="alice").close()
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaMismatch, match="newer than this registry knows") as refused:
        Registry(empty_database_url, artifact_root, actor="alice")
    assert "upgrade the registry package" in str(refused.value)
    assert revision(engine) == "9999"


def test_upgrade_to_0005_ties_existing_decisions_and_checks_to_their_events(
    registry: Registry, model_file, empty_database_url: str, artifact_root: Path, engine
):
    """Decisions and check results recorded before revision 0005 keep counting after the upgrade."""
    registry.register("fraud", model_file)
    registry.set_policy("fraud", production_checks=["auc"])
    registry.transition("fraud", 1, "Staging")
    registry.record_check("fraud", 1, "auc", passed=False)
    registry.record_check("fraud", 1, "auc", passed=True)
    registry.as_actor("carol").reject("fraud", 1, comment="wait")
    registry.as_actor("bob").approve("fraud", 1)
    registry.db.downgrade("0004")
    registry.close()
    database = Database(empty_database_url)
    try:
        database.upgrade()
    finally:
        database.dispose()
    with engine.connect() as connection:
        tied = connection.execute(
            text(
                "SELECT 'approvals', a.approver, e.actor, e.action FROM approvals a JOIN audit_events e ON e.seq = a.audit_seq "
                "UNION ALL SELECT 'checks', c.recorded_by, e.actor, e.action FROM check_results c "
                "JOIN audit_events e ON e.seq = c.audit_seq"
            )
        ).all()
    assert sorted(tied) == [
        ("approvals", "bob", "bob", "approval.record"),
        ("approvals", "carol", "carol", "approval.record"),
        ("checks", "alice", "alice", "check.record"),
        ("checks", "alice", "alice", "check.record"),
    ]
    with Registry(empty_database_url, artifact_root, actor="alice") as upgraded:
        assert upgraded.unmet_gates("fraud", 1, "Production") == []
        assert upgraded.promote("fraud", 1).version.stage.value == "Production"
        assert upgraded.verify_audit().intact


def test_head_revision_is_the_newest_migration_script():
    """Opening a catalog compares against HEAD_REVISION instead of loading the scripts, so it must name their head."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(registry_core.migrations.__file__).parent))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_several_recorded_revisions_are_refused(empty_database_url: str, artifact_root: Path, engine):
    Registry(empty_database_url, artifact_root, actor="alice").close()
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0003')"))
    with pytest.raises(SchemaMismatch, match="several schema revisions"):
        Registry(empty_database_url, artifact_root, actor="alice")


OPEN_WITHOUT_ALEMBIC = """
import json, sys
from registry_core import Registry

Registry(sys.argv[1], sys.argv[2], actor="alice").close()
print(json.dumps(sorted(name for name in sys.modules if name.partition(".")[0] == "alembic")))
"""


def test_opening_an_up_to_date_catalog_does_not_load_alembic(empty_database_url: str, artifact_root: Path):
    """Migration machinery is for migrating: checking an up-to-date catalog is one query, without Alembic."""
    Registry(empty_database_url, artifact_root, actor="alice").close()
    result = subprocess.run(
        [sys.executable, "-c", OPEN_WITHOUT_ALEMBIC, empty_database_url, str(artifact_root)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_a_catalog_holding_a_reference_is_not_downgraded_below_0010(registry: Registry, model_file, engine):
    """Revision 0009 has no version without bytes: the downgrade fails whole and the catalog stays where it was."""
    from registry_core import ArtifactReference

    registry.register("fraud", model_file)
    registry.register("fraud", ArtifactReference("s3://bucket/model"))
    with pytest.raises(SchemaMismatch, match="holds 1 version registered as a reference"):
        registry.db.downgrade("0009")
    assert revision(engine) == HEAD_REVISION
    assert registry.get_version("fraud", 2).artifact_kind == "reference"

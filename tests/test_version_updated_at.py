"""A version's last update: what moves it, how searches order by it, and how ``--verify`` and migration 0012 keep it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from tampering import sql

from registry_core import ArtifactReference, Registry
from registry_core.database import Database

MODEL = "fraud"


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """The migration test downgrades and upgrades the catalog the ``registry`` fixture opened."""
    return empty_database_url


def updated(registry: Registry, number: int) -> datetime:
    return registry.get_version(MODEL, number).updated_at


@pytest.fixture
def two(registry: Registry, model_file) -> Registry:
    """fraud v1 promoted (approved by bob), v2 registered after it."""
    registry.register(MODEL, model_file)
    registry.transition(MODEL, 1, "Staging")
    registry.as_actor("bob").approve(MODEL, 1)
    registry.promote(MODEL, 1)
    registry.register(MODEL, model_file)
    return registry


def test_registration_sets_it_and_a_description_moves_it(two: Registry):
    first = two.get_version(MODEL, 2)
    assert first.updated_at == first.created_at
    two.set_description(MODEL, "retrained on November", version=2)
    assert updated(two, 2) > first.updated_at
    assert two.get_version(MODEL, 2).stage_changed_at == first.stage_changed_at  # a description is no stage change


def test_a_promotion_moves_the_new_and_the_archived_version(two: Registry):
    before = {number: updated(two, number) for number in (1, 2)}
    two.transition(MODEL, 2, "Staging")
    two.as_actor("bob").approve(MODEL, 2)
    change = two.promote(MODEL, 2)
    assert change.version.updated_at == updated(two, 2) > before[2]
    assert updated(two, 1) == updated(two, 2) > before[1]  # archived in the same transaction
    promoted_at = updated(two, 2)
    two.rollback(MODEL, reason="bad release")
    assert updated(two, 1) == updated(two, 2) > promoted_at


def test_tags_aliases_checks_and_decisions_leave_it(two: Registry):
    """They are records of their own, as in MLflow, whose tag and alias calls leave the version's time."""
    before = updated(two, 2)
    two.set_tags(MODEL, {"team": "risk"}, version=2)
    two.set_alias(MODEL, "challenger", 2)
    two.record_check(MODEL, 2, "auc", passed=True)
    two.as_actor("bob").approve(MODEL, 2)
    assert updated(two, 2) == before


def test_attaching_bytes_moves_it(registry: Registry, model_file):
    registry.register(MODEL, ArtifactReference("s3://bucket/model"))
    before = updated(registry, 1)
    registry.attach(MODEL, 1, model_file)
    assert updated(registry, 1) > before
    assert registry.verify_audit().intact


def test_the_default_search_order_is_the_latest_change(two: Registry):
    """MLflow's default order: a description written on the older version brings it first."""
    assert [v.version for v in two.search_versions(f"name = '{MODEL}'").items] == [2, 1]
    two.set_description(MODEL, "notes", version=1)
    assert [v.version for v in two.search_versions(f"name = '{MODEL}'").items] == [1, 2]
    oldest_change_first = two.search_versions(order_by=["last_updated_timestamp ASC"]).items
    assert [v.version for v in oldest_change_first] == [2, 1]


def test_verify_names_an_edited_update_time(two: Registry, engine):
    """An SQL edit that reorders "latest change" searches is named with the event the time comes from."""
    two.set_description(MODEL, "notes", version=2)
    seq = two.audit_events(MODEL, version=2, limit=1)[0].seq
    sql(engine, "UPDATE model_versions SET updated_at = created_at WHERE version = 2")
    report = two.verify_audit()
    assert not report.intact and report.divergence_count == 1
    assert report.divergences[0].startswith("model_versions fraud version 2: updated_at is ")
    assert "the audit log's latest change of it is" in report.divergences[0] and f"(event {seq})" in report.divergences[0]


def test_an_upgrade_to_0012_takes_each_time_from_the_audit_log(
    two: Registry, empty_database_url: str, artifact_root: Path, engine
):
    """Downgraded below 0012 and upgraded again, every version has its time back, and --verify agrees."""
    two.set_description(MODEL, "notes", version=1)  # after its stage changed: the description is the latest change
    two.register(MODEL, ArtifactReference("s3://bucket/model"))
    wanted = {v.version: v.updated_at for v in two.list_versions(MODEL)}
    assert wanted[1] > two.get_version(MODEL, 1).stage_changed_at
    assert two.db.downgrade("0011").current == "0011"
    with engine.connect() as connection:
        columns = connection.execute(text("SELECT * FROM model_versions")).keys()
    assert "updated_at" not in columns
    two.close()
    database = Database(empty_database_url)
    try:
        assert database.upgrade().up_to_date
    finally:
        database.dispose()
    with Registry(empty_database_url, artifact_root, actor="alice") as upgraded:
        assert {v.version: v.updated_at for v in upgraded.list_versions(MODEL)} == wanted
        report = upgraded.verify_audit()
        assert report.intact and report.divergence_count == 0

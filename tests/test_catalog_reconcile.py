"""`registry audit --verify` checks the catalog, not only the chain; gates never count rows written around the registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from registry_core import GateUnmet, Registry


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A plain SQLAlchemy engine on the catalog: what someone with SQL access and no registry can do."""
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def staged(registry: Registry, model_file) -> Registry:
    """'fraud' v1 in Staging with a required check recorded; v2 a candidate with an alias."""
    registry.register("fraud", model_file)
    registry.set_policy("fraud", production_checks=["auc"], approvers=["bob", "carol"])
    registry.transition("fraud", 1, "Staging")
    registry.record_check("fraud", 1, "auc", passed=True, details={"auc": 0.91})
    registry.register("fraud", model_file)
    registry.set_alias("fraud", "challenger", 2)
    assert registry.verify_audit().intact
    return registry


def sql(engine: Engine, statement: str) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement))


def version_id(engine: Engine, number: int) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT id FROM model_versions WHERE version = :n"), {"n": number}).scalar_one()


def test_a_forged_approval_row_is_not_counted_and_verify_names_it(staged: Registry, engine):
    """An approvals row inserted with plain SQL does not open Production, and --verify reports the row."""
    sql(
        engine,
        "INSERT INTO approvals (version_id, approver, decision, comment, recorded_at) "
        f"VALUES ({version_id(engine, 1)}, 'bob', 'approve', NULL, CURRENT_TIMESTAMP)",
    )
    with pytest.raises(GateUnmet, match="0 eligible"):
        staged.promote("fraud", 1)
    report = staged.verify_audit()
    assert not report.intact and report.divergence_count == 1
    assert report.divergences[0].startswith("approvals row ") and "by 'bob'" in report.divergences[0]
    assert "has no audit event" in report.problem


def test_an_approval_pointed_at_another_event_is_not_counted(staged: Registry, engine):
    """A forged row that borrows a real event's sequence number still does not match it."""
    check_seq = staged.audit_events("fraud", version=1, limit=1)[0].seq
    sql(
        engine,
        "INSERT INTO approvals (version_id, approver, decision, comment, recorded_at, audit_seq) "
        f"VALUES ({version_id(engine, 1)}, 'bob', 'approve', NULL, CURRENT_TIMESTAMP, {check_seq})",
    )
    with pytest.raises(GateUnmet):
        staged.promote("fraud", 1)
    report = staged.verify_audit()
    assert "recorded something else" in report.divergences[0] and f"(event {check_seq})" in report.divergences[0]


def test_a_rejection_flipped_to_an_approval_is_not_counted(staged: Registry, engine):
    staged.as_actor("carol").reject("fraud", 1, comment="drift")
    sql(engine, "UPDATE approvals SET decision = 'approve', comment = NULL")
    with pytest.raises(GateUnmet):
        staged.promote("fraud", 1)
    assert "differs from its audit event" in staged.verify_audit().problem


def test_a_renamed_approver_is_reported(staged: Registry, engine):
    staged.as_actor("bob").approve("fraud", 1)
    sql(engine, "UPDATE approvals SET approver = 'carol'")
    report = staged.verify_audit()
    assert not report.intact and "by 'carol'" in report.divergences[0]


def test_a_failed_check_rewritten_as_passed_is_not_counted(staged: Registry, engine):
    staged.record_check("fraud", 1, "auc", passed=False)
    staged.as_actor("bob").approve("fraud", 1)
    sql(engine, "UPDATE check_results SET passed = TRUE WHERE passed = FALSE")
    with pytest.raises(GateUnmet, match="'auc' failed"):
        staged.promote("fraud", 1)
    assert "check_results row" in staged.verify_audit().problem


def test_a_changed_artifact_digest_is_reported(staged: Registry, engine):
    sql(engine, f"UPDATE model_versions SET artifact_sha256 = '{'0' * 64}' WHERE version = 2")
    report = staged.verify_audit()
    assert not report.intact
    assert report.divergences == (report.divergences[0],)
    assert report.divergences[0].startswith("model_versions fraud version 2: artifact file 000")


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("UPDATE model_versions SET stage = 'Archived' WHERE version = 1", "stage is Archived, the audit log says Staging"),
        ("UPDATE model_versions SET registered_by = 'carol' WHERE version = 2", "registered_by is 'carol'"),
        ("UPDATE registered_models SET policy = '{\"approvals_required\": 0}'", "policy differs"),
        ("DELETE FROM aliases", "fraud@challenger: set to version 2 but missing"),
        ("UPDATE aliases SET version_id = (SELECT id FROM model_versions WHERE version = 1)", "points at version 1"),
        ("DELETE FROM check_results", "recorded but missing"),
    ],
    ids=["stage", "registrant", "policy", "alias-deleted", "alias-moved", "check-deleted"],
)
def test_every_fact_the_gates_read_is_checked(staged: Registry, engine, statement: str, expected: str):
    sql(engine, statement)
    report = staged.verify_audit()
    assert not report.intact
    assert any(expected in line for line in report.divergences), report.divergences


def test_an_untouched_catalog_is_intact_after_a_whole_lifecycle(staged: Registry):
    staged.as_actor("bob").approve("fraud", 1)
    staged.promote("fraud", 1)
    staged.delete_alias("fraud", "challenger")
    staged.set_alias("fraud", "champion", 1)
    staged.transition("fraud", 2, "Staging")
    staged.as_actor("carol").reject("fraud", 2, comment="no")
    report = staged.verify_audit()
    assert report.intact and report.divergence_count == 0 and report.divergences == ()

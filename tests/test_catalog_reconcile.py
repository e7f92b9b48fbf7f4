"""`registry audit --verify` checks the catalog, not only the chain; gates never count rows written around the registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text, update
from tampering import registry_cli, verify_divergences

from registry_core import GateUnmet, Registry
from registry_core.actions import AuditAction
from registry_core.rows import VERSIONS
from registry_core.stages import Stage


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


# --- rollback eligibility comes from the audit log ---------------------------------------------


@pytest.fixture
def retired(staged: Registry) -> Registry:
    """fraud v1 promoted through its gates, then taken out of Production: a genuine rollback target."""
    staged.as_actor("bob").approve("fraud", 1)
    staged.promote("fraud", 1)
    staged.transition("fraud", 1, "Archived", reason="retired")
    return staged


def head_seq(registry: Registry) -> int:
    return registry.verify_audit().head_seq


@pytest.mark.parametrize(
    ("target", "forged_seq"),
    [(["--to", "2"], "retiring-v1"), (["--to", "2"], "no-such-event"), ([], "no-such-event")],
    ids=["to-v2-borrowing-v1s-event", "to-v2-naming-no-event", "latest-candidate"],
)
def test_a_forged_rollback_target_never_reaches_production(
    retired: Registry, engine, database_url: str, artifact_root: Path, target: list[str], forged_seq: str
):
    """A version made 'formerly Production' with plain SQL (no checks, no approvals) is refused by rollback."""
    seq = head_seq(retired) if forged_seq == "retiring-v1" else 10**6
    sql(engine, f"UPDATE model_versions SET stage = 'Archived', left_production_seq = {seq} WHERE version = 2")
    result = registry_cli(database_url, artifact_root, "rollback", "fraud", *target, "--reason", "outage")
    assert result.exit_code == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot roll back to fraud version 2" in lines[0] and "audit" in lines[0]
    assert retired.get_version("fraud", 2).stage is Stage.ARCHIVED
    assert retired.get_version("fraud", 1).stage is Stage.ARCHIVED


def test_a_genuine_rollback_still_works_and_stays_intact(retired: Registry):
    retired.rollback("fraud", reason="outage", to_version=None)
    assert retired.get_version("fraud", 1).stage is Stage.PRODUCTION
    assert retired.verify_audit().intact


def test_verify_names_a_forged_rollback_eligibility(staged: Registry, engine, database_url: str, artifact_root: Path):
    """left_production_seq set with plain SQL, nothing else touched: --verify names the version."""
    sql(engine, "UPDATE model_versions SET left_production_seq = 1 WHERE version = 2")
    lines = verify_divergences(database_url, artifact_root)
    assert lines == ["model_versions fraud version 2: left_production_seq (what makes it a rollback target) is 1, "
                     "the audit log says None (event 6)"]


def test_verify_names_a_rollback_to_a_version_the_log_never_promoted(
    staged: Registry, engine, database_url: str, artifact_root: Path
):
    """A version.rollback event appended by a registry that trusted the forged column is named as an event."""
    sql(engine, "UPDATE model_versions SET stage = 'Archived', left_production_seq = 1 WHERE version = 2")
    with staged.catalog.write("mallory") as work:
        event = work.record(
            AuditAction.VERSION_ROLLBACK, "fraud", 2,
            {"stage": "Archived", "production": None}, {"stage": "Production", "reason": "forged"},
        )
        work.connection.execute(update(VERSIONS).where(VERSIONS.c.version == 2).values(stage=Stage.PRODUCTION))
    lines = verify_divergences(database_url, artifact_root)
    assert lines[0] == (
        f"audit_events event {event.seq}: rolled fraud version 2 back into Production, but the log never took it "
        f"out of Production: it was never promoted, so no rollback could reach it (event {event.seq})"
    )


# --- a version's lineage and signature are its registration event's ----------------------------


SIGNATURE = {"inputs": [{"name": "amount", "type": "double"}, {"name": "age", "type": "long"}]}


@pytest.fixture
def lineaged(registry: Registry, model_file) -> Registry:
    """'churn' v1 registered with every lineage field and a signature."""
    registry.register(
        "churn", model_file, run_id="run-7", dataset_digest="sha256:" + "a" * 64,
        params={"C": "1.0"}, metrics={"auc": 0.91}, signature=SIGNATURE,
    )
    assert registry.verify_audit().intact
    return registry


@pytest.mark.parametrize(
    ("assignment", "field"),
    [
        ("""signature = '{"inputs": [{"name": "age", "type": "long"}, {"name": "amount", "type": "double"}]}'""",
         "signature"),
        ("run_id = 'run-8'", "run_id"),
        ("dataset_digest = 'sha256:" + "b" * 64 + "'", "dataset_digest"),
        ("""metrics = '{"auc": 0.99}'""", "metrics"),
        ("""params = '{"C": "100"}'""", "params"),
    ],
    ids=["signature-reordered", "run_id", "dataset_digest", "metrics", "params"],
)
def test_verify_names_an_edited_lineage_field(
    lineaged: Registry, engine, database_url: str, artifact_root: Path, assignment: str, field: str
):
    sql(engine, f"UPDATE model_versions SET {assignment}")
    lines = verify_divergences(database_url, artifact_root)
    assert lines == [f"model_versions churn version 1: its {field} differs from the registered one (event 2)"]


def test_the_registration_event_records_the_signature(lineaged: Registry):
    event = lineaged.audit_events("churn", version=1, limit=1)[0]
    assert event.action == AuditAction.VERSION_REGISTER and event.after["signature"] == SIGNATURE


# --- a copy of a row tied to an event -----------------------------------------------------------


def test_a_copied_passing_check_is_named_and_show_prints_the_latest(
    staged: Registry, engine, database_url: str, artifact_root: Path
):
    """An older passing result copied under its own event number: show keeps the failure, --verify names the copy."""
    staged.record_check("fraud", 1, "auc", passed=False)
    sql(
        engine,
        "INSERT INTO check_results (version_id, name, passed, details, recorded_by, recorded_at, audit_seq) "
        "SELECT version_id, name, passed, details, recorded_by, recorded_at, audit_seq FROM check_results "
        "WHERE passed = TRUE",
    )
    shown = registry_cli(database_url, artifact_root, "show", "models:/fraud/1").stdout
    assert "auc: FAILED" in shown and "auc: passed" not in shown
    lines = verify_divergences(database_url, artifact_root)
    assert len(lines) == 1 and lines[0].startswith("check_results row ")
    assert "a second row tied to the same event (a copy)" in lines[0]


def test_a_copied_approval_from_before_a_rejection_is_named_and_shown_in_event_order(
    staged: Registry, engine, database_url: str, artifact_root: Path
):
    staged.as_actor("bob").approve("fraud", 1)
    staged.as_actor("bob").reject("fraud", 1, comment="drift")
    sql(
        engine,
        "INSERT INTO approvals (version_id, approver, decision, comment, recorded_at, audit_seq) "
        "SELECT version_id, approver, decision, comment, recorded_at, audit_seq FROM approvals "
        "WHERE decision = 'approve'",
    )
    shown = registry_cli(database_url, artifact_root, "show", "models:/fraud/1").stdout.splitlines()
    decisions = [line for line in shown if line.strip().startswith(("approved by", "rejected by"))]
    assert decisions[-1].strip().startswith("rejected by bob"), decisions
    lines = verify_divergences(database_url, artifact_root)
    assert len(lines) == 1 and lines[0].startswith("approvals row ") and "(a copy)" in lines[0]

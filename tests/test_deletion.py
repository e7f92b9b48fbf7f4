"""Deleting models and versions: gone from every read, refused while in service, provable in the audit log."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from tampering import registry_cli, sql, verify_divergences

from registry_core import InvalidInput, NotFound, NotPermitted, Registry, Stage
from registry_core.actions import AuditAction

MODEL = "fraud"


@pytest.fixture
def three(registry: Registry, model_file: Path, tmp_path: Path) -> Registry:
    """Versions 1 (Archived, once Production), 2 (Production) and 3 (None, tagged, checked, approved, aliased)."""
    other = tmp_path / "v3.bin"
    other.write_bytes(b"weights of version 3")
    for artifact in (model_file, model_file, other):
        registry.register(MODEL, artifact)
    for number in (1, 2):
        registry.transition(MODEL, number, Stage.STAGING)
        registry.as_actor("bob").approve(MODEL, number)
        registry.promote(MODEL, number)
    registry.set_tags(MODEL, {"team": "risk"}, version=3)
    registry.record_check(MODEL, 3, "qa", passed=True)
    registry.as_actor("bob").approve(MODEL, 3)
    registry.set_alias(MODEL, "challenger", 3)
    return registry


def test_a_deleted_version_is_gone_from_every_read_and_its_history_stays(three: Registry):
    three.delete_version(MODEL, 3)
    with pytest.raises(NotFound, match=r"has no version 3: it was deleted \(its history: registry audit 'fraud'"):
        three.get_version(MODEL, 3)
    with pytest.raises(NotFound, match="it was deleted"):
        three.resolve(f"models:/{MODEL}/3")
    assert three.get_model(MODEL).aliases == {}
    assert [v.version for v in three.list_versions(MODEL)] == [2, 1]
    assert three.resolve(f"models:/{MODEL}/latest").version == 2
    assert [v.version for v in three.search_versions(f"name = '{MODEL}'").items] == [2, 1]
    event = three.audit_events(MODEL, limit=1)[0]
    assert (event.action, event.version, event.after) == (AuditAction.VERSION_DELETE, 3, {})
    assert event.before["aliases"] == ["challenger"] and event.before["stage"] == "None"
    history = three.audit_events(MODEL, version=3, limit=100)
    assert [e.action for e in history][:1] == [AuditAction.VERSION_REGISTER]
    assert AuditAction.APPROVAL_RECORD in {e.action for e in history}
    assert three.verify_audit().intact


def test_a_deleted_number_is_never_given_out_again(three: Registry, model_file: Path):
    three.delete_version(MODEL, 3)
    assert three.register(MODEL, model_file).version == 4


def test_a_deleted_archived_version_is_no_rollback_target(three: Registry):
    """Version 1 left Production; once deleted, a rollback finds nothing to return to."""
    three.delete_version(MODEL, 1)
    with pytest.raises((NotFound, InvalidInput)):
        three.rollback(MODEL, reason="incident")
    assert three.resolve(f"models:/{MODEL}/Production").version == 2
    assert three.verify_audit().intact


@pytest.mark.parametrize(
    ("setup", "number", "message"),
    [
        (lambda r: None, 2, "version 2 is in Production"),
        (lambda r: (r.transition(MODEL, 3, Stage.STAGING)), 3, "version 3 is in Staging"),
        (lambda r: (r.set_policy(MODEL, approvers=["bob"], protect_aliases=["champion"]),
                    r.set_alias(MODEL, "champion", 3)), 3, "protected alias @champion points at version 3"),
    ],
    ids=["production", "staging", "protected-alias"],
)
def test_a_version_in_service_is_not_deleted(three: Registry, catalog_state, setup, number: int, message: str):
    """One line naming why and the way out; nothing changes."""
    setup(three)
    before = catalog_state()
    with pytest.raises(NotPermitted) as refused:
        three.delete_version(MODEL, number)
    assert str(refused.value) == (
        f"cannot delete version {number} of 'fraud': {message} "
        "(archive it or move the alias first; the audit log keeps every deleted version's history)"
    )
    assert catalog_state() == before


def test_a_model_in_service_is_not_deleted(three: Registry, catalog_state):
    before = catalog_state()
    with pytest.raises(NotPermitted, match="cannot delete model 'fraud': version 2 is in Production"):
        three.delete_model(MODEL)
    assert catalog_state() == before


def test_a_model_with_owners_is_deleted_only_by_one_of_them(registry: Registry, model_file: Path, catalog_state):
    registry.register(MODEL, model_file)
    registry.set_policy(MODEL, owners=["carol"])
    before = catalog_state()
    with pytest.raises(NotPermitted, match=r"its policy names owners \(carol\)"):
        registry.delete_model(MODEL)
    assert catalog_state() == before
    registry.as_actor("carol").delete_model(MODEL)
    assert registry.list_models() == []


def test_a_deleted_model_is_gone_its_name_free_and_its_numbers_kept(three: Registry, model_file: Path):
    """Re-created, the name is a new model: the default policy, no aliases, numbers after the old ones."""
    three.transition(MODEL, 2, Stage.ARCHIVED)
    three.delete_model(MODEL)
    with pytest.raises(NotFound, match=r"model 'fraud' does not exist \(it was deleted; its history: registry audit"):
        three.get_model(MODEL)
    assert three.list_models() == [] and three.search_versions().items == []
    created = three.create_model(MODEL)
    assert created.latest_version == 3 and created.aliases == {}
    assert three.register(MODEL, model_file).version == 4
    assert three.unmet_gates(MODEL, 4, Stage.PRODUCTION)[0].name == "approvals"  # no approval carried over
    assert three.verify_audit().intact


def test_deleted_blobs_go_only_at_gc_and_only_when_unused(three: Registry, model_file: Path):
    """Version 3's bytes are its own: collected once deleted; version 1's are shared with 2: kept."""
    own = three.get_version(MODEL, 3).artifact_sha256
    three.delete_version(MODEL, 3)
    three.delete_version(MODEL, 1)
    assert own in three.collect_garbage(min_age_seconds=0).blobs[0]
    report = three.collect_garbage(delete=True, min_age_seconds=0)
    assert report.deleted and len(report.blobs) == 1
    assert three.download(f"models:/{MODEL}/2", model_file.parent / "out").read_bytes() == model_file.read_bytes()


def test_verify_names_a_version_deleted_in_sql_and_one_deleted_through_the_registry_is_clean(
    three: Registry, engine: Engine, database_url: str, artifact_root: Path
):
    three.delete_version(MODEL, 3)
    assert three.verify_audit().intact
    sql(engine, "DELETE FROM version_tags")
    sql(engine, "DELETE FROM approvals WHERE version_id = (SELECT id FROM model_versions WHERE version = 1)")
    sql(engine, "DELETE FROM aliases")
    sql(engine, "DELETE FROM model_versions WHERE version = 1")
    lines = verify_divergences(database_url, artifact_root)
    assert lines == [
        "model_versions fraud version 1: registered but missing (event 2)",
        "approvals of fraud version 1 by 'bob': recorded but missing (event 6)",
    ]


def test_the_cli_deletes_a_version_and_a_model(three: Registry, database_url: str, artifact_root: Path):
    env = (database_url, artifact_root)
    usage = registry_cli(*env, "delete", MODEL)
    assert usage.exit_code == 2 and "give a VERSION to delete, or --whole-model" in usage.stderr
    refused = registry_cli(*env, "delete", MODEL, "2")
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1 and "is in Production" in refused.stderr
    deleted = registry_cli(*env, "delete", MODEL, "3", actor="bob")
    assert deleted.exit_code == 0 and deleted.stdout.strip() == "Deleted version 3 of 'fraud'"
    assert three.audit_events(MODEL, limit=1)[0].actor == "bob"
    three.transition(MODEL, 2, Stage.ARCHIVED)
    gone = registry_cli(*env, "delete", MODEL, "--whole-model")
    assert gone.exit_code == 0 and gone.stdout.strip() == "Deleted model 'fraud' and every version of it"
    assert registry_cli(*env, "audit", "--verify").exit_code == 0

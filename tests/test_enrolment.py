"""Credentials reconciled with the events that enrolled and revoked them: a row written around the registry is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from registry_core import Registry
from tests.proof_keys import public_key, ssh_key


@pytest.fixture
def enrolled(registry: Registry, model_file: Path, tmp_path: Path) -> tuple[Registry, dict[str, Path]]:
    keys = {name: ssh_key(tmp_path / "keys", name) for name in ("bob", "mallory")}
    registry.register("fraud", model_file)
    registry.transition("fraud", 1, "Staging")
    registry.enrol_ssh_key("bob", public_key(keys["bob"]))
    registry.set_policy("fraud", require_proof=True, owners=["bob"])
    return registry, keys


def test_enrolment_events_name_the_key_and_who_enrolled_it(enrolled):
    registry, keys = enrolled
    event = registry.audit_events(actions=["identity.enrol"])[-1]
    assert event.actor == "alice" and event.after["identity"] == "bob" and event.after["kind"] == "ssh"
    assert keys["bob"].with_name("bob.pub").read_text().split()[1] in event.after["public_key"]
    assert registry.verify_audit().intact


def test_a_key_inserted_around_the_registry_is_named_with_what_it_signed(enrolled, engine):
    """A database administrator adds a key for bob and approves with it: both the row and the decision are named."""
    registry, keys = enrolled
    from registry_core.proofs import parse_public_key

    line, fingerprint = parse_public_key(public_key(keys["mallory"]))
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO credentials (identity, kind, fingerprint, public_key, last_counter, enrolled_by, enrolled_at,"
            " enrol_seq) VALUES ('bob', 'ssh', :fp, :key, 0, 'bob', CURRENT_TIMESTAMP, 4)"
        ), {"fp": fingerprint, "key": line})
    registry.as_actor("bob").approve("fraud", 1, sign_with=keys["mallory"])
    report = registry.verify_audit()
    assert not report.intact
    assert any("not enrolled for bob then" in line for line in report.divergences), report.divergences
    assert any(line.startswith(f"credentials {fingerprint} of bob: no audit event enrolled") for line in report.divergences)


def test_a_revocation_undone_around_the_registry_is_named(enrolled, engine):
    registry, _ = enrolled
    registry.revoke_identity("bob")
    with engine.begin() as connection:
        connection.execute(text("UPDATE credentials SET revoked_at = NULL, revoke_seq = NULL"))
    report = registry.verify_audit()
    assert not report.intact and "its revocation differs from the audit log" in report.divergences[0]


def test_a_deleted_credential_is_named(enrolled, engine):
    registry, _ = enrolled
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM credentials"))
    report = registry.verify_audit()
    assert not report.intact and "enrolled but missing" in report.divergences[0]


def test_a_name_whose_credentials_are_all_revoked_is_enrolled_again_like_a_new_one(enrolled):
    """Revoking needs no proof (a lost key must be stoppable); both steps are events to review."""
    registry, keys = enrolled
    registry.revoke_identity("bob")
    registry.enrol_ssh_key("bob", public_key(keys["mallory"]))
    assert [e.action for e in registry.audit_events(limit=2)] == ["identity.revoke", "identity.enrol"]
    assert registry.verify_audit().intact


def test_a_key_enrolled_revoked_and_enrolled_again_reconciles(enrolled):
    registry, keys = enrolled
    registry.revoke_identity("bob")
    registry.enrol_ssh_key("bob", public_key(keys["bob"]))
    registry.as_actor("bob").approve("fraud", 1, sign_with=keys["bob"])
    assert len(registry.list_identities(include_revoked=True)) == 2
    assert registry.verify_audit().intact

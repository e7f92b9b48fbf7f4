"""Approvals proven by TOTP codes: real codes from pyotp; wrong, expired and replayed codes refused; secrets sealed."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from registry_core import InvalidInput, Registry, Stage
from registry_core.credential_table import Credential
from registry_core.errors import ConflictError, ProofRefused
from tests.proof_keys import SECRET_KEY, event_after, rewrite_history, totp_code


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("REGISTRY_SECRET_KEY", SECRET_KEY)
    return SECRET_KEY


@pytest.fixture
def bob_uri(registry: Registry, secret_key: str) -> str:
    """bob's TOTP enrolment, as his authenticator app scanned it."""
    return registry.enrol_totp("bob").uri


@pytest.fixture
def proven(registry: Registry, model_file: Path, bob_uri: str) -> Registry:
    """'fraud' versions 1 and 2 (by alice) in Staging under a policy that requires proof, owned by bob."""
    registry.register("fraud", model_file)
    registry.register("fraud", model_file)
    registry.transition("fraud", 1, "Staging")
    registry.set_policy("fraud", require_proof=True, owners=["bob"])
    return registry


def test_enrolment_gives_an_otpauth_uri_and_stores_the_secret_sealed(registry: Registry, secret_key, engine):
    enrolment = registry.enrol_totp("bob")
    parsed = pyotp.parse_uri(enrolment.uri)
    assert enrolment.uri.startswith("otpauth://totp/model-registry:bob?secret=")
    assert parsed.secret == enrolment.secret and parsed.interval == 30 and parsed.digits == 6
    with engine.connect() as connection:
        stored = connection.execute(select(Credential.secret)).scalar_one()
        events = " ".join(row[0] for row in connection.execute(select(Credential.__table__.c.identity)))
    assert enrolment.secret not in stored and enrolment.secret not in events
    assert all(enrolment.secret not in str(e.after) for e in registry.audit_events())
    assert [e.action for e in registry.audit_events()] == ["identity.enrol"]


def test_enrolling_needs_the_secret_key(registry: Registry, monkeypatch, catalog_state):
    monkeypatch.delenv("REGISTRY_SECRET_KEY", raising=False)
    before = catalog_state()
    with pytest.raises(InvalidInput, match="set REGISTRY_SECRET_KEY"):
        registry.enrol_totp("bob")
    assert catalog_state() == before


def test_a_current_code_proves_an_approval(proven: Registry, bob_uri):
    proven.as_actor("bob").approve("fraud", 1, totp=totp_code(bob_uri))
    proof = proven.audit_events("fraud", version=1, actions=["approval.record"])[-1].after["proof"]
    assert proof["kind"] == "totp" and len(proof["mac"]) == 64 and '"version":1' in proof["statement"]
    assert proven.promote("fraud", 1).version.stage is Stage.PRODUCTION
    assert proven.verify_audit().intact


def test_a_wrong_code_is_refused_and_writes_nothing(proven: Registry, bob_uri, catalog_state):
    near = {totp_code(bob_uri, seconds_ago=30 * step) for step in range(-3, 4)}
    wrong = next(code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in near)
    before = catalog_state()
    for code in (wrong, "12345", "abcdef", ""):
        with pytest.raises(ProofRefused):
            proven.as_actor("bob").approve("fraud", 1, totp=code)
    assert catalog_state() == before


def test_an_expired_code_is_refused(proven: Registry, bob_uri):
    with pytest.raises(ProofRefused, match="wrong or expired"):
        proven.as_actor("bob").approve("fraud", 1, totp=totp_code(bob_uri, seconds_ago=600))


def test_a_replayed_code_is_refused_even_for_another_version(proven: Registry, bob_uri):
    code = totp_code(bob_uri)
    proven.as_actor("bob").approve("fraud", 1, totp=code)
    with pytest.raises(ProofRefused, match="already used"):
        proven.as_actor("bob").approve("fraud", 1, totp=code)
    with pytest.raises(ProofRefused, match="already used"):
        proven.as_actor("bob").approve("fraud", 2, totp=code)


def test_someone_elses_code_does_not_prove_for_them(proven: Registry, bob_uri):
    with pytest.raises(ProofRefused, match="carol has no TOTP secret enrolled"):
        proven.as_actor("carol").approve("fraud", 1, totp=totp_code(bob_uri))


def test_a_copy_of_the_catalog_with_another_secret_key_cannot_check_codes(proven: Registry, bob_uri, monkeypatch):
    monkeypatch.setenv("REGISTRY_SECRET_KEY", "a guess")
    with pytest.raises(ProofRefused, match="does not decrypt"):
        proven.as_actor("bob").approve("fraud", 1, totp=totp_code(bob_uri))


def test_owner_changes_the_policy_with_a_code(proven: Registry, bob_uri):
    with pytest.raises(ProofRefused, match="a proof by bob is required"):
        proven.as_actor("bob").set_policy("fraud", require_proof=False)
    changed = proven.as_actor("bob").set_policy("fraud", require_proof=False, totp=totp_code(bob_uri))
    assert not changed.require_proof


def test_a_second_secret_needs_rotation_and_the_old_code(proven: Registry, bob_uri):
    with pytest.raises(ConflictError, match="--rotate"):
        proven.enrol_totp("bob")
    with pytest.raises(ProofRefused, match="a proof by bob is required"):
        proven.enrol_totp("bob", rotate=True)
    rotated = proven.enrol_totp("bob", rotate=True, totp=totp_code(bob_uri))
    with pytest.raises(ProofRefused):
        proven.as_actor("bob").approve("fraud", 1, totp=totp_code(bob_uri))
    proven.as_actor("bob").approve("fraud", 1, totp=totp_code(rotated.uri))
    assert [e.action for e in proven.audit_events(limit=2)] == ["identity.rotate", "approval.record"]
    assert proven.verify_audit().intact


def test_verify_names_a_totp_decision_whose_statement_was_edited(proven: Registry, bob_uri, engine):
    proven.as_actor("bob").approve("fraud", 1, totp=totp_code(bob_uri))
    seq = proven.audit_events("fraud", version=1, actions=["approval.record"])[-1].seq
    after = event_after(engine, seq)
    after["proof"]["statement"] = after["proof"]["statement"].replace('"version":1', '"version":2')
    rewrite_history(engine, seq, after)
    report = proven.verify_audit()
    assert not report.intact and report.first_bad_seq == seq
    assert "its proof does not verify: its statement names another version" in report.divergences[0]


def test_verify_names_a_totp_decision_whose_hmac_was_forged(proven: Registry, bob_uri, engine):
    """A forger without REGISTRY_SECRET_KEY cannot make the HMAC that binds a code to its statement."""
    proven.as_actor("bob").approve("fraud", 1, totp=totp_code(bob_uri))
    seq = proven.audit_events("fraud", version=1, actions=["approval.record"])[-1].seq
    after = event_after(engine, seq)
    after["proof"]["mac"] = "0" * 64
    rewrite_history(engine, seq, after)
    report = proven.verify_audit()
    assert not report.intact and "its TOTP HMAC does not match its statement" in report.divergences[0]

"""Approvals proven by SSH signatures: what counts under a proof-requiring policy, and every forgery refused."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_core import GateUnmet, InvalidInput, NotPermitted, Registry, Stage
from registry_core.errors import ConflictError, ProofRefused
from registry_core.governance import decide
from registry_core.policy import Decision
from registry_core.proofs import SshProof, decision_subject
from registry_core.proving import sign_statement
from tests.proof_keys import event_after, public_key, rewrite_history, ssh_key


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """Real ed25519 keys: bob's and carol's are enrolled, mallory's is not."""
    folder = tmp_path / "keys"
    return {name: ssh_key(folder, name) for name in ("bob", "carol", "mallory")}


@pytest.fixture
def proven(registry: Registry, model_file: Path, keys: dict[str, Path]) -> Registry:
    """'fraud' version 1 (by alice) in Staging under a policy that requires proof; bob and carol enrolled."""
    registry.register("fraud", model_file)
    registry.transition("fraud", 1, "Staging")
    registry.enrol_ssh_key("bob", public_key(keys["bob"]))
    registry.enrol_ssh_key("carol", public_key(keys["carol"]))
    registry.set_policy("fraud", require_proof=True, owners=["carol"])
    return registry


def test_unproven_approval_is_refused_and_writes_nothing(proven: Registry, catalog_state):
    before = catalog_state()
    with pytest.raises(ProofRefused, match="a proof by bob is required"):
        proven.as_actor("bob").approve("fraud", 1)
    assert catalog_state() == before


def test_signed_approval_counts_and_opens_production(proven: Registry, keys):
    record = proven.as_actor("bob").approve("fraud", 1, comment="looks good", sign_with=keys["bob"])
    assert record.approver == "bob"
    proof = proven.audit_events("fraud", version=1, actions=["approval.record"])[-1].after["proof"]
    assert proof["kind"] == "ssh" and proof["signature"].startswith("-----BEGIN SSH SIGNATURE-----")
    assert '"artifact_sha256":"' + proven.get_version("fraud", 1).artifact_sha256 + '"' in proof["statement"]
    assert proven.promote("fraud", 1).version.stage is Stage.PRODUCTION
    assert proven.verify_audit().intact


def test_signature_by_a_key_not_enrolled_for_the_approver_is_refused(proven: Registry, keys):
    with pytest.raises(ProofRefused, match="not enrolled for bob"):
        proven.as_actor("bob").approve("fraud", 1, sign_with=keys["mallory"])
    with pytest.raises(ProofRefused, match="not enrolled for bob"):
        proven.as_actor("bob").approve("fraud", 1, sign_with=keys["carol"])
    assert proven.unmet_gates("fraud", 1, "Production")


@pytest.mark.parametrize(
    ("field", "signed"),
    [("version", {"version": 2}), ("artifact_sha256", {"artifact_sha256": "0" * 64}), ("decision", {"decision": "reject"}),
     ("comment", {"comment": "something else"}), ("model", {"model": "other"})],
)
def test_signature_over_another_statement_is_refused(proven: Registry, keys, field, signed):
    """A real signature by bob, but over another version, digest, decision, comment or model."""
    digest = proven.get_version("fraud", 1).artifact_sha256
    subject = {**decision_subject("fraud", 1, digest, "approve", None), **signed}
    proof = sign_statement(proven.catalog, "bob", subject, keys["bob"])
    with pytest.raises(ProofRefused, match=f"another {field.replace('_', ' ')}"):
        decide(proven.catalog, "bob", "fraud", 1, Decision.APPROVE, None, proof)


def test_signature_claiming_another_approver_is_refused(proven: Registry, keys):
    digest = proven.get_version("fraud", 1).artifact_sha256
    proof = sign_statement(proven.catalog, "bob", decision_subject("fraud", 1, digest, "approve", None), keys["bob"])
    with pytest.raises(ProofRefused, match="another actor"):
        decide(proven.catalog, "carol", "fraud", 1, Decision.APPROVE, None, proof)


def test_edited_statement_does_not_verify(proven: Registry, keys):
    digest = proven.get_version("fraud", 1).artifact_sha256
    proof = sign_statement(proven.catalog, "bob", decision_subject("fraud", 1, digest, "reject", None), keys["bob"])
    edited = SshProof(proof.statement.replace('"reject"', '"approve"'), proof.signature)
    with pytest.raises(ProofRefused, match="does not verify"):
        decide(proven.catalog, "bob", "fraud", 1, Decision.APPROVE, None, edited)


def test_replayed_signature_is_refused(proven: Registry, keys):
    digest = proven.get_version("fraud", 1).artifact_sha256
    proof = sign_statement(proven.catalog, "bob", decision_subject("fraud", 1, digest, "approve", None), keys["bob"])
    decide(proven.catalog, "bob", "fraud", 1, Decision.APPROVE, None, proof)
    with pytest.raises(ProofRefused, match="already used"):
        decide(proven.catalog, "bob", "fraud", 1, Decision.APPROVE, None, proof)


def test_approvals_recorded_before_proof_was_required_no_longer_count(registry: Registry, model_file, keys):
    registry.register("fraud", model_file)
    registry.transition("fraud", 1, "Staging")
    registry.as_actor("bob").approve("fraud", 1)
    assert registry.unmet_gates("fraud", 1, "Production") == []
    registry.set_policy("fraud", require_proof=True, owners=["carol"])
    with pytest.raises(GateUnmet, match="0 eligible with a proof recorded"):
        registry.promote("fraud", 1)


def test_unproven_rejection_is_refused_and_a_proven_one_blocks(proven: Registry, keys):
    proven.as_actor("bob").approve("fraud", 1, sign_with=keys["bob"])
    with pytest.raises(ProofRefused):
        proven.as_actor("carol").reject("fraud", 1, comment="wait")
    proven.as_actor("carol").reject("fraud", 1, comment="wait", sign_with=keys["carol"])
    with pytest.raises(GateUnmet, match="since the rejection by carol"):
        proven.promote("fraud", 1)


def test_policy_without_proof_works_as_before(registry: Registry, model_file):
    registry.register("fraud", model_file)
    registry.transition("fraud", 1, "Staging")
    registry.as_actor("bob").approve("fraud", 1)
    assert registry.promote("fraud", 1).version.stage is Stage.PRODUCTION


def test_proof_requiring_policy_needs_an_owner():
    from registry_core import GatePolicy

    with pytest.raises(InvalidInput, match="at least one owner"):
        GatePolicy(require_proof=True)


def test_policy_change_without_an_owners_proof_is_refused(proven: Registry, keys, catalog_state):
    before = catalog_state()
    with pytest.raises(ProofRefused, match="a proof by carol is required"):
        proven.as_actor("carol").set_policy("fraud", require_proof=False)
    with pytest.raises(NotPermitted, match="only its owners"):
        proven.as_actor("bob").set_policy("fraud", require_proof=False, sign_with=keys["bob"])
    with pytest.raises(NotPermitted, match="only its owners"):
        proven.set_policy("fraud", approvals_required=0)
    with pytest.raises(ProofRefused, match="not enrolled for carol"):
        proven.as_actor("carol").set_policy("fraud", require_proof=False, sign_with=keys["mallory"])
    assert catalog_state() == before


def test_owner_with_proof_changes_the_policy(proven: Registry, keys):
    changed = proven.as_actor("carol").set_policy("fraud", require_proof=False, sign_with=keys["carol"])
    assert not changed.require_proof
    event = proven.audit_events("fraud", actions=["policy.set"])[-1]
    assert event.after["proof"]["kind"] == "ssh" and event.after["policy"]["require_proof"] is False
    proven.as_actor("bob").approve("fraud", 1)
    assert proven.promote("fraud", 1).version.stage is Stage.PRODUCTION
    assert proven.verify_audit().intact


def test_adding_a_key_to_an_enrolled_identity_needs_its_proof(proven: Registry, keys, tmp_path):
    spare = ssh_key(tmp_path / "more", "spare")
    with pytest.raises(ProofRefused, match="a proof by bob is required"):
        proven.enrol_ssh_key("bob", public_key(spare))
    with pytest.raises(ProofRefused, match="not enrolled for bob"):
        proven.enrol_ssh_key("bob", public_key(spare), sign_with=keys["mallory"])
    proven.enrol_ssh_key("bob", public_key(spare), sign_with=keys["bob"])
    proven.as_actor("bob").approve("fraud", 1, sign_with=spare)


def test_a_key_enrolled_for_one_identity_cannot_be_enrolled_for_another(proven: Registry, keys):
    with pytest.raises(ConflictError, match="already enrolled for bob"):
        proven.enrol_ssh_key("mallory", public_key(keys["bob"]))


def test_a_lookalike_name_cannot_be_enrolled_beside_an_identity(proven: Registry, keys):
    with pytest.raises(InvalidInput, match="reads like the enrolled identity bob"):
        proven.enrol_ssh_key("b\u043eb", public_key(keys["mallory"]))


def test_rotated_key_no_longer_proves_but_its_decisions_still_verify(proven: Registry, keys, tmp_path):
    proven.as_actor("bob").approve("fraud", 1, sign_with=keys["bob"])
    new = ssh_key(tmp_path / "new", "bob-new")
    proven.enrol_ssh_key("bob", public_key(new), rotate=True, sign_with=keys["bob"])
    with pytest.raises(ProofRefused, match="not enrolled for bob"):
        proven.as_actor("bob").reject("fraud", 1, sign_with=keys["bob"])
    proven.as_actor("bob").reject("fraud", 1, sign_with=new)
    assert proven.verify_audit().intact
    kinds = [(c.identity, c.revoked_at is None) for c in proven.list_identities(include_revoked=True)]
    assert kinds == [("bob", False), ("bob", True), ("carol", True)] or sorted(kinds) == sorted(
        [("bob", False), ("bob", True), ("carol", True)]
    )


def test_revoked_key_no_longer_proves(proven: Registry, keys):
    revoked = proven.revoke_identity("bob")
    assert [c.kind for c in revoked] == ["ssh"]
    with pytest.raises(ProofRefused, match="not enrolled for bob"):
        proven.as_actor("bob").approve("fraud", 1, sign_with=keys["bob"])
    assert [e.action for e in proven.audit_events(limit=1)] == ["identity.revoke"]
    assert proven.verify_audit().intact


@pytest.mark.parametrize("part", ["signature", "statement"])
def test_verify_names_a_decision_whose_stored_proof_was_edited(proven: Registry, keys, engine, part):
    """A forger who edits a stored proof and recomputes every hash keeps the chain intact, but not the proof."""
    proven.as_actor("bob").approve("fraud", 1, sign_with=keys["bob"])
    seq = proven.audit_events("fraud", version=1, actions=["approval.record"])[-1].seq
    after = event_after(engine, seq)
    if part == "signature":
        other = sign_statement(proven.catalog, "bob", {"something": "else"}, keys["bob"])
        after["proof"]["signature"] = other.signature
    else:
        after["proof"]["statement"] = after["proof"]["statement"].replace('"comment":null', '"comment":"fine"')
        after["comment"] = "fine"
    rewrite_history(engine, seq, after)
    report = proven.verify_audit()
    assert not report.intact
    named = f"event {seq}: the approve of fraud version 1 by bob: its proof does not verify"
    assert any(named in line for line in report.divergences), report.divergences
    assert report.first_bad_seq == seq


def test_verify_names_a_decision_moved_to_another_key(proven: Registry, keys, engine):
    """Claiming carol's proof was bob's: the key that signed it was not enrolled for bob."""
    proven.as_actor("bob").approve("fraud", 1, sign_with=keys["bob"])
    seq = proven.audit_events("fraud", version=1, actions=["approval.record"])[-1].seq
    after = event_after(engine, seq)
    carol = proven.list_identities()[1]
    after["proof"]["fingerprint"] = carol.fingerprint
    rewrite_history(engine, seq, after)
    report = proven.verify_audit()
    assert not report.intact and "not enrolled for bob then" in report.divergences[0]


def test_a_stored_proof_checks_with_openssh_alone(proven: Registry, keys, tmp_path):
    """Anyone can check a decision's signature with ssh-keygen, without the registry."""
    proven.as_actor("bob").approve("fraud", 1, comment="ok", sign_with=keys["bob"])
    proof = proven.audit_events("fraud", version=1, actions=["approval.record"])[-1].after["proof"]
    signature = tmp_path / "decision.sig"
    signature.write_text(proof["signature"])
    checked = subprocess.run(
        ["ssh-keygen", "-Y", "check-novalidate", "-n", "model-registry-decision", "-s", str(signature)],
        input=proof["statement"].encode(), capture_output=True, check=False,
    )
    assert checked.returncode == 0, checked.stderr


@pytest.fixture
def agent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An ssh-agent of this test's own, on a short socket path; stopped by its process id afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="agent", dir="/tmp"))
    socket = folder / "s"
    process = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket)], stdout=subprocess.DEVNULL)
    try:
        while not socket.exists():
            assert process.poll() is None, "ssh-agent exited"
            time.sleep(0.01)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket))
        yield socket
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def test_an_agent_held_key_signs_through_its_public_half(proven: Registry, keys, agent):
    """--sign-with KEY.pub signs with the private key ssh-agent holds, as ssh-keygen -Y sign does."""
    subprocess.run(["ssh-add", "-q", str(keys["bob"])], check=True, capture_output=True)
    keys["bob"].unlink()  # only the agent has the private key now
    pub = keys["bob"].with_name("bob.pub")
    proven.as_actor("bob").approve("fraud", 1, sign_with=pub)
    assert proven.promote("fraud", 1).version.stage is Stage.PRODUCTION


@pytest.mark.parametrize(
    "signature",
    ["", "garbage", "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n", "x" * 20_000],
    ids=["empty", "garbage", "truncated", "huge"],
)
def test_a_malformed_signature_is_a_one_line_refusal(proven: Registry, keys, signature):
    digest = proven.get_version("fraud", 1).artifact_sha256
    proof = sign_statement(proven.catalog, "bob", decision_subject("fraud", 1, digest, "approve", None), keys["bob"])
    with pytest.raises(ProofRefused):
        decide(proven.catalog, "bob", "fraud", 1, Decision.APPROVE, None, SshProof(proof.statement, signature))

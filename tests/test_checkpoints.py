"""Signed checkpoints of the chain head: a rewritten history is caught even when every hash was recomputed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_core import InvalidInput, Registry
from tests.proof_keys import event_after, public_key, rewrite_history, ssh_key


@pytest.fixture
def signer(tmp_path: Path) -> Path:
    return ssh_key(tmp_path / "keys", "auditor")


@pytest.fixture
def checkpointed(registry: Registry, model_file: Path, signer: Path, tmp_path: Path) -> tuple[Registry, Path]:
    """A short lifecycle of 'fraud', the auditor's key enrolled, and a checkpoint of its head; then more events."""
    registry.enrol_ssh_key("auditor", public_key(signer))
    registry.register("fraud", model_file)
    registry.transition("fraud", 1, "Staging")
    registry.as_actor("bob").approve("fraud", 1, comment="ok")
    path = tmp_path / "checkpoint.json"
    made = registry.write_checkpoint(path, sign_with=signer)
    assert made.head_seq == registry.verify_audit().head_seq
    registry.promote("fraud", 1)
    return registry, path


def test_checkpoint_verifies_against_an_untouched_history(checkpointed):
    registry, path = checkpointed
    assert registry.verify_audit(checkpoint=path).intact


def test_rewritten_history_with_recomputed_hashes_is_caught_only_by_the_checkpoint(checkpointed, engine):
    """The forger changes who approved and recomputes every hash and the head: the chain alone cannot tell."""
    registry, path = checkpointed
    seq = registry.audit_events("fraud", actions=["approval.record"])[-1].seq
    rewrite_history(engine, seq, {**event_after(engine, seq), "comment": "rubber stamp"})
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE approvals SET comment = 'rubber stamp'")
    assert registry.verify_audit().intact
    report = registry.verify_audit(checkpoint=path)
    assert not report.intact
    head = json.loads(json.loads(path.read_text())["statement"])["chain_head"].split(":")[0]
    assert report.problem.startswith(f"the history up to event {head} was rewritten since the checkpoint")
    assert report.first_bad_seq == int(head)


def test_history_after_the_checkpoint_is_not_its_business(checkpointed, engine):
    """A checkpoint vouches for the history up to its head; later events need a later checkpoint."""
    registry, path = checkpointed
    last = registry.verify_audit().head_seq
    rewrite_history(engine, last, {**event_after(engine, last), "reason": "edited later"})
    assert registry.audit_events(limit=1)[0].after["reason"] == "edited later"
    assert registry.verify_audit(checkpoint=path).intact


def test_an_edited_checkpoint_does_not_verify(checkpointed):
    registry, path = checkpointed
    body = json.loads(path.read_text())
    body["statement"] = body["statement"].replace('"chain_head":"', '"chain_head":"1')
    path.write_text(json.dumps(body))
    report = registry.verify_audit(checkpoint=path)
    assert not report.intact and "its signature does not match its statement" in report.problem


def test_a_checkpoint_signed_by_an_unknown_key_needs_a_trusted_key(registry: Registry, model_file, tmp_path):
    stranger = ssh_key(tmp_path / "keys", "stranger")
    registry.register("fraud", model_file)
    path = tmp_path / "checkpoint.json"
    registry.write_checkpoint(path, sign_with=stranger)
    report = registry.verify_audit(checkpoint=path)
    assert not report.intact and "a key no identity of this catalog enrolled" in report.problem
    assert registry.verify_audit(checkpoint=path, trusted_key=public_key(stranger)).intact
    other = ssh_key(tmp_path / "keys", "other")
    report = registry.verify_audit(checkpoint=path, trusted_key=public_key(other))
    assert not report.intact and "another key than the trusted one" in report.problem


def test_a_checkpoint_is_written_to_a_new_file_only(checkpointed, signer):
    registry, path = checkpointed
    with pytest.raises(InvalidInput, match="exists"):
        registry.write_checkpoint(path, sign_with=signer)


def test_a_file_that_is_not_a_checkpoint_is_a_clear_error(registry: Registry, tmp_path):
    path = tmp_path / "junk.json"
    path.write_text("{}")
    with pytest.raises(InvalidInput, match="is not a registry checkpoint"):
        registry.verify_audit(checkpoint=path)

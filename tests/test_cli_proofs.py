"""The command line of proven approvals: identities, proofs on approve and policy, checkpoints and --verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.proof_keys import SECRET_KEY, event_after, rewrite_history, ssh_key, totp_code
from tests.tampering import registry_cli


@pytest.fixture
def cli(database_url: str, artifact_root: Path, model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``registry ...`` on a catalog where alice registered 'fraud' version 1 and moved it to Staging."""
    monkeypatch.setenv("REGISTRY_SECRET_KEY", SECRET_KEY)

    def run(*args: str, actor: str = "alice"):
        return registry_cli(database_url, artifact_root, *args, actor=actor)

    assert run("register", "fraud", str(model_file)).exit_code == 0
    assert run("transition", "fraud", "1", "Staging").exit_code == 0
    return run


def refused(result, words: str) -> None:
    assert result.exit_code == 1, result.stdout
    assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_identity_add_list_and_revoke(cli, tmp_path):
    key = ssh_key(tmp_path / "keys", "bob")
    added = cli("identity", "add", "bob", "--ssh-key", f"{key}.pub")
    assert added.exit_code == 0 and added.stdout.startswith("Enrolled SSH key SHA256:")
    totp = cli("identity", "add", "carol", "--totp")
    assert totp.exit_code == 0, totp.stderr
    lines = totp.stdout.splitlines()
    assert lines[2].startswith("otpauth://totp/model-registry:carol?secret=") and len(lines) > 20
    listed = cli("identity", "list").stdout.splitlines()
    assert listed[0].split() == ["IDENTITY", "KIND", "FINGERPRINT", "ENROLLED", "BY", "ENROLLED", "STATUS"]
    assert [line.split()[:2] for line in listed[1:]] == [["bob", "ssh"], ["carol", "totp"]]
    assert cli("identity", "revoke", "bob").stdout.startswith("Revoked ssh credential SHA256:")
    assert len(cli("identity", "list").stdout.splitlines()) == 2
    assert len(cli("identity", "list", "--all").stdout.splitlines()) == 3
    actions = [e["action"] for e in json.loads(cli("audit", "--json").stdout)]
    assert actions[-3:] == ["identity.enrol", "identity.enrol", "identity.revoke"]


def test_identity_add_needs_one_kind(cli, tmp_path):
    assert cli("identity", "add", "bob").exit_code == 2
    refused(cli("identity", "add", "bob", "--ssh-key", str(ssh_key(tmp_path / "k", "x"))), "not an OpenSSH public key")


def test_proven_approval_on_the_command_line(cli, tmp_path):
    key = ssh_key(tmp_path / "keys", "bob")
    assert cli("identity", "add", "bob", "--ssh-key", f"{key}.pub").exit_code == 0
    uri = cli("identity", "add", "carol", "--totp").stdout.splitlines()[2]
    shown = cli("policy", "fraud", "--require-proof", "--owner", "carol")
    assert shown.exit_code == 0 and "proof:              required (owners: carol)" in shown.stdout
    refused(cli("approve", "fraud", "1", actor="bob"), "a proof by bob is required")
    refused(cli("approve", "fraud", "1", "--totp", "000000", actor="carol"), "wrong or expired")
    approved = cli("approve", "fraud", "1", "--sign-with", str(key), "--comment", "ok", actor="bob")
    assert approved.stdout == "bob approved fraud version 1 (proven)\n", approved.stderr
    refused(cli("policy", "fraud", "--no-require-proof", actor="carol"), "a proof by carol is required")
    changed = cli("policy", "fraud", "--approvals", "2", "--totp", totp_code(uri), actor="carol")
    assert changed.exit_code == 0 and "approvals required: 2" in changed.stdout
    assert cli("audit", "--verify").exit_code == 0


def test_checkpoint_on_the_command_line_catches_a_rewrite(cli, tmp_path, engine):
    key = ssh_key(tmp_path / "keys", "auditor")
    assert cli("identity", "add", "auditor", "--ssh-key", f"{key}.pub").exit_code == 0
    assert cli("approve", "fraud", "1", "--comment", "ok", actor="bob").exit_code == 0
    path = tmp_path / "head.json"
    made = cli("audit", "checkpoint", "--sign-with", str(key), "-o", str(path))
    assert made.exit_code == 0 and made.stdout.startswith("Checkpoint of event 5 ("), made.stderr
    refused(cli("audit", "checkpoint", "--sign-with", str(key), "-o", str(path)), "exists")
    assert cli("audit", "--verify", "--checkpoint", str(path)).exit_code == 0
    rewrite_history(engine, 5, {**event_after(engine, 5), "comment": "forged"})
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE approvals SET comment = 'forged'")
    assert cli("audit", "--verify").exit_code == 0
    caught = cli("audit", "--verify", "--checkpoint", str(path))
    assert caught.exit_code == 1
    assert caught.stdout.startswith("audit log BROKEN at event 5: the history up to event 5 was rewritten")


def test_checkpoint_options_are_for_the_checkpoint_only(cli):
    assert cli("audit", "fraud", "--sign-with", "key").exit_code == 2
    assert cli("audit", "--checkpoint", "file").exit_code == 2

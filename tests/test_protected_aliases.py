"""Protected aliases: an alias the policy protects points only at a version that meets the Production gates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from tampering import registry_cli, verify_divergences

from registry_core import GateUnmet, InvalidInput, NotPermitted, Registry
from registry_core.actions import AuditAction
from registry_core.serving.model_holder import CatalogModelLoader

MODEL = "fraud"


@pytest.fixture
def governed(registry: Registry, model_file: Path, tmp_path: Path) -> Registry:
    """v1 meets every Production gate (check 'qa' passed, approved by bob); v2 has neither; @champion is protected."""
    registry.register(MODEL, model_file)
    second = tmp_path / "model-2.bin"
    second.write_bytes(b"model weights v2")
    registry.register(MODEL, second)
    registry.set_policy(MODEL, production_checks=["qa"], approvers=["bob", "carol"], protect_aliases=["champion"])
    registry.record_check(MODEL, 1, "qa", passed=True)
    registry.as_actor("bob").approve(MODEL, 1, comment="reviewed")
    return registry


def last_event(registry: Registry):
    return registry.audit_events(MODEL, limit=1)[0]


def test_a_protected_alias_is_refused_on_a_version_that_misses_a_gate(governed: Registry, catalog_state):
    """Pointing @champion at an unchecked, unapproved version names every unmet gate and changes nothing."""
    before = catalog_state()
    with pytest.raises(GateUnmet) as refused:
        governed.set_alias(MODEL, "champion", 2)
    message = str(refused.value)
    assert message.startswith("cannot point protected alias fraud@champion at version 2: 2 gate(s) unmet")
    assert "required check 'qa' has not been recorded" in message and "approval" in message
    assert catalog_state() == before


def test_a_protected_alias_moves_to_a_gated_version_and_the_event_says_what_it_was_gated_on(governed: Registry):
    governed.set_alias(MODEL, "champion", 1)
    event = last_event(governed)
    assert event.action == AuditAction.ALIAS_SET
    assert event.after == {"alias": "champion", "version": 1, "protected": True, "approved_by": ["bob"],
                           "checks": {"qa": True}}
    assert governed.resolve(f"models:/{MODEL}@champion").version == 1
    assert governed.verify_audit().intact


def test_a_failing_check_or_a_rejection_keeps_the_protected_alias_away(governed: Registry):
    """The gates are Production's: any failing check, or a rejection after the approval, blocks the move."""
    governed.record_check(MODEL, 1, "drift", passed=False)
    with pytest.raises(GateUnmet, match="check 'drift' failed"):
        governed.set_alias(MODEL, "champion", 1)
    governed.record_check(MODEL, 1, "drift", passed=True)
    governed.as_actor("carol").reject(MODEL, 1, comment="bias")
    with pytest.raises(GateUnmet, match="since the rejection by carol"):
        governed.set_alias(MODEL, "champion", 1)


def test_an_unprotected_alias_stays_a_free_label(governed: Registry):
    governed.set_alias(MODEL, "challenger", 2)
    assert last_event(governed).after == {"alias": "challenger", "version": 2}


def test_an_alias_cannot_be_protected_while_it_points_at_an_ungated_version(governed: Registry, catalog_state):
    """Protecting is gated too: otherwise an alias set freely, then protected, would look gated."""
    governed.set_alias(MODEL, "challenger", 2)
    before = catalog_state()
    with pytest.raises(GateUnmet, match=r"cannot protect alias fraud@challenger while it points at version 2"):
        governed.set_policy(MODEL, protect_aliases=["challenger"])
    assert catalog_state() == before
    governed.set_alias(MODEL, "challenger", 1)
    assert governed.set_policy(MODEL, protect_aliases=["challenger"]).protected_aliases == ("champion", "challenger")


def test_unprotecting_makes_the_alias_free_and_is_a_policy_event(governed: Registry):
    policy = governed.set_policy(MODEL, unprotect_aliases=["champion"])
    assert policy.protected_aliases == ()
    assert last_event(governed).action == AuditAction.POLICY_SET
    governed.set_alias(MODEL, "champion", 2)


def test_deleting_a_protected_alias_is_audited_as_protected(governed: Registry):
    governed.set_alias(MODEL, "champion", 1)
    governed.delete_alias(MODEL, "champion")
    event = last_event(governed)
    assert event.action == AuditAction.ALIAS_DELETE
    assert event.before == {"alias": "champion", "version": 1, "protected": True}


@pytest.mark.parametrize("change", [
    {"protect_aliases": ["champion"], "unprotect_aliases": ["champion"]},
    {"protect_aliases": ["Production"]},
    {"protect_aliases": "champion"},
    {"protected_aliases": ["bad alias"]},
])
def test_bad_protection_changes_are_one_line_and_change_nothing(governed: Registry, catalog_state, change):
    before = catalog_state()
    with pytest.raises(InvalidInput):
        governed.set_policy(MODEL, **change)
    assert catalog_state() == before


def test_show_answers_what_the_alias_points_at_and_who_approved_it(governed: Registry, database_url, artifact_root):
    """`registry show models:/NAME@champion`: the version, who set the alias, and the approvals it was gated on."""
    governed.as_actor("carol").set_alias(MODEL, "champion", 1)
    result = registry_cli(database_url, artifact_root, "show", f"models:/{MODEL}@champion")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("models:/fraud/1\n")
    assert "@champion (protected) set by carol" in result.stdout
    assert "gated on approvals by bob; checks qa passed" in result.stdout
    details = governed.show(f"models:/{MODEL}@champion")
    assert details.protected_aliases == ["champion"]
    assert details.alias_events["champion"].actor == "carol"


def test_the_cli_protects_and_refuses_with_one_line(governed: Registry, database_url, artifact_root):
    protected = registry_cli(database_url, artifact_root, "policy", MODEL, "--protect-alias", "stable")
    assert protected.exit_code == 0 and "protected aliases:  champion, stable" in protected.stdout
    refused = registry_cli(database_url, artifact_root, "alias", MODEL, "champion", "2")
    assert refused.exit_code == 1
    assert refused.stderr.count("\n") == 1 and "cannot point protected alias fraud@champion at version 2" in refused.stderr
    assert "Traceback" not in refused.output


def test_serving_follows_protected_aliases_and_refuses_unprotected_ones(governed: Registry):
    governed.set_alias(MODEL, "champion", 1)
    governed.set_alias(MODEL, "challenger", 2)
    loader = CatalogModelLoader(governed)
    assert loader.resolve(f"models:/{MODEL}@champion").version == 1
    assert loader.resolve(f"models:/{MODEL}/1").version == 1
    with pytest.raises(NotPermitted, match="unprotected alias @challenger"):
        loader.resolve(f"models:/{MODEL}@challenger")
    with pytest.raises(NotPermitted, match="newest registration"):
        loader.resolve(f"models:/{MODEL}/latest")
    opted_in = CatalogModelLoader(governed, follow_unprotected_alias=True)
    assert opted_in.resolve(f"models:/{MODEL}@challenger").version == 2


def test_registry_serve_refuses_an_unprotected_alias_at_start_up(governed: Registry, database_url, artifact_root):
    """One line, exit 1, before anything listens; --follow-unprotected-alias is the explicit way around it."""
    governed.set_alias(MODEL, "challenger", 2)
    env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root), "PATH": "/usr/bin:/bin"}
    refused = subprocess.run(
        [sys.executable, "-m", "registry_core.cli", "serve", f"models:/{MODEL}@challenger", "--port", "0"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "unprotected alias @challenger" in refused.stderr and "--follow-unprotected-alias" in refused.stderr


@pytest.mark.parametrize("claims", [
    {"protected": True, "approved_by": ["bob"], "checks": {"qa": True}},
    {},
], ids=["claiming-gates-it-did-not-meet", "claiming-nothing"])
def test_verify_names_a_protected_alias_move_the_gates_did_not_admit(
    governed: Registry, database_url, artifact_root, claims
):
    """An alias.set event appended around the gates (code that skipped them) is named, whatever it claims."""
    with governed.catalog.write("mallory") as work:
        event = work.record(AuditAction.ALIAS_SET, MODEL, 2, {}, {"alias": "champion", "version": 2, **claims})
        version_id = work.connection.execute(
            text("SELECT id FROM model_versions WHERE version = 2")
        ).scalar_one()
        model_id = work.connection.execute(text("SELECT id FROM registered_models")).scalar_one()
        work.connection.execute(
            text("INSERT INTO aliases (model_id, alias, version_id) VALUES (:m, 'champion', :v)"),
            {"m": model_id, "v": version_id},
        )
    lines = verify_divergences(database_url, artifact_root)
    assert len(lines) == 1 and lines[0].startswith(f"audit_events event {event.seq}: moved protected alias fraud@champion")
    assert ("which the gates did not admit: required check 'qa' has not been recorded" in lines[0]) == bool(claims)


def forge_alias_move(registry: Registry, number: int, claims: dict) -> int:
    """Append an alias.set event for @champion and point the row there, around the registry (code that skipped it)."""
    with registry.catalog.write("mallory") as work:
        event = work.record(AuditAction.ALIAS_SET, MODEL, number, {}, {"alias": "champion", "version": number, **claims})
        version_id = work.connection.execute(
            text("SELECT id FROM model_versions WHERE version = :n"), {"n": number}
        ).scalar_one()
        model_id = work.connection.execute(text("SELECT id FROM registered_models")).scalar_one()
        work.connection.execute(
            text("INSERT INTO aliases (model_id, alias, version_id) VALUES (:m, 'champion', :v)"),
            {"m": model_id, "v": version_id},
        )
    return event.seq


def test_verify_names_a_protected_alias_move_to_an_archived_version(governed: Registry, database_url, artifact_root):
    """Archived is a gate of its own: a forged move to a version archived by then is named though its approvals hold."""
    governed.transition(MODEL, 1, "Archived")
    seq = forge_alias_move(governed, 1, {"protected": True, "approved_by": ["bob"], "checks": {"qa": True}})
    lines = verify_divergences(database_url, artifact_root)
    assert len(lines) == 1 and lines[0].startswith(
        f"audit_events event {seq}: moved protected alias fraud@champion to version 1, which the gates did not admit: "
        "version 1 is Archived (roll it back to serve it again)"
    )


@pytest.mark.parametrize("claims", [
    {"approved_by": ["carol"], "checks": {"qa": True}},
    {"approved_by": ["bob", "carol"], "checks": {"qa": True}},
    {"approved_by": ["bob"], "checks": {"qa": True, "fairness": True}},
], ids=["another-approver", "an-extra-approver", "an-extra-check"])
def test_verify_names_a_protected_alias_move_that_records_facts_the_log_does_not_hold(
    governed: Registry, database_url, artifact_root, claims
):
    """`show` answers "who approved that?" from the move's event, so --verify holds its claims to the log's."""
    seq = forge_alias_move(governed, 1, {"protected": True, **claims})
    lines = verify_divergences(database_url, artifact_root)
    assert len(lines) == 1 and lines[0].startswith(
        f"audit_events event {seq}: moved protected alias fraud@champion to version 1 recording "
    )
    assert "the log counts approvals by bob and checks qa passed" in lines[0]


def test_verify_accepts_the_facts_a_real_protected_move_records(governed: Registry):
    governed.as_actor("carol").approve(MODEL, 1)
    governed.record_check(MODEL, 1, "fairness", passed=True)
    governed.set_alias(MODEL, "champion", 1)
    assert governed.verify_audit().intact


# --- what a protected alias may still point at, later -------------------------------------------


def test_a_protected_alias_is_refused_on_an_archived_version(governed: Registry, catalog_state):
    """Archived is out of service: the approvals it once earned do not bring it back behind the alias (rollback does)."""
    governed.transition(MODEL, 1, "Archived")
    before = catalog_state()
    with pytest.raises(GateUnmet, match=r"at version 1: 1 gate\(s\) unmet: version 1 is Archived"):
        governed.set_alias(MODEL, "champion", 1)
    assert catalog_state() == before


def test_an_alias_on_an_archived_version_cannot_be_protected(governed: Registry):
    governed.transition(MODEL, 1, "Archived")
    governed.set_alias(MODEL, "challenger", 1)
    with pytest.raises(GateUnmet, match=r"cannot protect alias fraud@challenger while it points at version 1"):
        governed.set_policy(MODEL, protect_aliases=["challenger"])
    assert governed.get_policy(MODEL).protected_aliases == ("champion",)


LATER = {
    "a check fails": lambda registry: registry.record_check(MODEL, 1, "drift", passed=False),
    "the version is archived": lambda registry: registry.transition(MODEL, 1, "Archived"),
    "the policy is tightened": lambda registry: registry.set_policy(MODEL, approvals_required=2),
}


@pytest.mark.parametrize("later", LATER)
def test_show_says_when_a_protected_alias_no_longer_meets_the_gates(governed: Registry, database_url, artifact_root,
                                                                   later):
    """The alias stays where it was put (the audit log says who put it there), and `show` says what it now misses."""
    governed.set_alias(MODEL, "champion", 1)
    assert governed.show(f"models:/{MODEL}@champion").alias_unmet_gates == []
    LATER[later](governed)
    details = governed.show(f"models:/{MODEL}@champion")
    assert details.version.version == 1 and len(details.alias_unmet_gates) == 1
    shown = registry_cli(database_url, artifact_root, "show", f"models:/{MODEL}@champion").stdout
    assert f"no longer meets the gates: {details.alias_unmet_gates[0].message}" in shown


@pytest.mark.parametrize("later", LATER)
def test_serving_refuses_a_protected_alias_whose_version_no_longer_meets_the_gates(governed: Registry, later):
    """Protection is checked when the alias is followed, not only when it is moved; the opt-in flag does not lift it."""
    governed.set_alias(MODEL, "champion", 1)
    loader = CatalogModelLoader(governed, follow_unprotected_alias=True)
    assert loader.resolve(f"models:/{MODEL}@champion").version == 1
    LATER[later](governed)
    with pytest.raises(NotPermitted, match=r"@champion points at version 1, which no longer meets the gates: "):
        loader.resolve(f"models:/{MODEL}@champion")


def test_registry_serve_refuses_a_protected_alias_that_no_longer_meets_the_gates(governed: Registry, database_url,
                                                                                 artifact_root):
    """At start-up, one line naming the gate; --follow-unprotected-alias (warned about) does not lift it."""
    governed.set_alias(MODEL, "champion", 1)
    governed.record_check(MODEL, 1, "drift", passed=False)
    result = registry_cli(database_url, artifact_root, "serve", f"models:/{MODEL}@champion", "--port", "0",
                          "--follow-unprotected-alias")
    assert result.exit_code == 1
    warning, error = result.stderr.splitlines()
    assert warning.startswith("warning: --follow-unprotected-alias: an unprotected alias or 'latest' (or the None or "
                              "Archived stage) may be moved")
    assert error == ("registry: error: the protected alias fraud@champion points at version 1, which no longer "
                     "meets the gates: check 'drift' failed")


@pytest.mark.parametrize("later", LATER)
def test_loading_a_protected_alias_whose_version_no_longer_meets_the_gates_is_refused(registry: Registry, tmp_path,
                                                                                     later):
    """The library's own load follows the alias as serving and MLflow do: the gates are judged when it is followed."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    registry.register(MODEL, model)
    registry.set_policy(MODEL, production_checks=["qa"], approvers=["bob", "carol"], protect_aliases=["champion"])
    registry.record_check(MODEL, 1, "qa", passed=True)
    registry.as_actor("bob").approve(MODEL, 1, comment="reviewed")
    registry.set_alias(MODEL, "champion", 1)
    assert registry.load_model(f"models:/{MODEL}@champion").predict([[3.0]]).tolist() == [1]
    LATER[later](registry)
    with pytest.raises(NotPermitted, match=r"the protected alias fraud@champion points at version 1, which no longer "):
        registry.load_model(f"models:/{MODEL}@champion")
    assert registry.load_model(f"models:/{MODEL}/1").predict([[3.0]]).tolist() == [1]  # by number: no alias to judge

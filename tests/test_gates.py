"""Governance gates: checks and approvals that stand before Staging and Production, per model policy."""

from __future__ import annotations

import pytest

from registry_core import GatePolicy, GateUnmet, InvalidInput, NotPermitted, Registry, Stage
from registry_core.policy import GateKind, UnmetGate


def messages(gates: list[UnmetGate]) -> list[str]:
    """The sentences people read, in order."""
    return [gate.message for gate in gates]


@pytest.fixture
def staged(registry: Registry, model_file) -> Registry:
    """'fraud' version 1, registered by alice and moved to Staging under the default policy."""
    registry.register("fraud", model_file)
    registry.transition("fraud", 1, "Staging")
    return registry


def stage_of(registry: Registry, number: int = 1) -> Stage:
    return registry.get_version("fraud", number).stage


def test_default_policy_needs_no_checks_one_approval_and_no_self_approval(registry: Registry, model_file):
    registry.register("fraud", model_file)
    assert registry.get_policy("fraud") == GatePolicy(
        staging_checks=(), production_checks=(), approvals_required=1, approvers=(), allow_self_approval=False
    )


def test_self_approval_is_refused_and_writes_nothing(staged: Registry, catalog_state):
    before = catalog_state()
    with pytest.raises(NotPermitted, match="self-approval"):
        staged.approve("fraud", 1)
    assert catalog_state() == before


def test_promotion_without_approval_names_the_gate_and_changes_nothing(staged: Registry, catalog_state):
    before = catalog_state()
    with pytest.raises(GateUnmet) as refused:
        staged.promote("fraud", 1)
    assert messages(refused.value.unmet) == ["1 approval(s) required, 0 eligible recorded"]
    assert "1 approval(s) required" in str(refused.value)
    assert stage_of(staged) is Stage.STAGING
    assert catalog_state() == before


def test_approval_by_another_actor_opens_production(staged: Registry):
    staged.as_actor("bob").approve("fraud", 1)
    assert messages(staged.unmet_gates("fraud", 1, "Production")) == []
    assert staged.promote("fraud", 1).version.stage is Stage.PRODUCTION


@pytest.mark.parametrize(
    ("results", "unmet"),
    [
        ([], ["required check 'schema' has not been recorded"]),
        ([False], ["required check 'schema' failed"]),
        ([True, False], ["required check 'schema' failed"]),
        ([False, True], []),
    ],
    ids=["missing", "failed", "passed-then-failed", "failed-then-passed"],
)
def test_required_staging_check_gates_staging(registry: Registry, model_file, catalog_state, results, unmet):
    """The latest result of each required staging check decides whether a version may enter Staging."""
    registry.register("fraud", model_file)
    registry.set_policy("fraud", staging_checks=["schema"])
    for passed in results:
        registry.record_check("fraud", 1, "schema", passed=passed)
    if unmet:
        before = catalog_state()
        with pytest.raises(GateUnmet) as refused:
            registry.transition("fraud", 1, "Staging")
        assert messages(refused.value.unmet) == unmet
        assert stage_of(registry) is Stage.NONE
        assert catalog_state() == before
    else:
        assert registry.transition("fraud", 1, "Staging").version.stage is Stage.STAGING


def test_failed_check_that_is_not_required_does_not_block_staging(registry: Registry, model_file):
    registry.register("fraud", model_file)
    registry.record_check("fraud", 1, "bias", passed=False)
    assert registry.transition("fraud", 1, "Staging").version.stage is Stage.STAGING


@pytest.mark.parametrize(
    ("results", "unmet"),
    [
        ([], ["required check 'accuracy' has not been recorded"]),
        ([False], ["required check 'accuracy' failed"]),
        ([True], []),
    ],
    ids=["missing", "failed", "passed"],
)
def test_required_production_check_gates_production(staged: Registry, catalog_state, results, unmet):
    staged.set_policy("fraud", production_checks=["accuracy"])
    staged.as_actor("bob").approve("fraud", 1)
    for passed in results:
        staged.record_check("fraud", 1, "accuracy", passed=passed)
    if unmet:
        before = catalog_state()
        with pytest.raises(GateUnmet) as refused:
            staged.promote("fraud", 1)
        assert messages(refused.value.unmet) == unmet
        assert stage_of(staged) is Stage.STAGING
        assert catalog_state() == before
    else:
        assert staged.promote("fraud", 1).version.stage is Stage.PRODUCTION


def test_any_failed_check_blocks_production_even_if_not_required(staged: Registry):
    staged.as_actor("bob").approve("fraud", 1)
    staged.record_check("fraud", 1, "bias", passed=False, details={"gap": 0.2})
    with pytest.raises(GateUnmet) as refused:
        staged.promote("fraud", 1)
    assert messages(refused.value.unmet) == ["check 'bias' failed"]
    assert stage_of(staged) is Stage.STAGING


def test_later_passing_result_clears_a_failed_check(staged: Registry):
    staged.as_actor("bob").approve("fraud", 1)
    staged.record_check("fraud", 1, "bias", passed=False)
    staged.as_actor("carol").record_check("fraud", 1, "bias", passed=True)
    assert staged.promote("fraud", 1).version.stage is Stage.PRODUCTION


def test_rejection_blocks_promotion_until_a_later_approval(staged: Registry):
    staged.as_actor("bob").approve("fraud", 1)
    staged.as_actor("carol").reject("fraud", 1, comment="drift on segment B")
    with pytest.raises(GateUnmet) as refused:
        staged.promote("fraud", 1)
    assert messages(refused.value.unmet) == ["1 approval(s) required, 0 eligible since the rejection by carol (drift on segment B)"]

    staged.as_actor("bob").approve("fraud", 1)
    assert staged.promote("fraud", 1).version.stage is Stage.PRODUCTION


def test_two_required_approvals_need_two_distinct_approvers(staged: Registry):
    staged.set_policy("fraud", approvals_required=2)
    staged.as_actor("bob").approve("fraud", 1)
    staged.as_actor("bob").approve("fraud", 1)
    with pytest.raises(GateUnmet) as refused:
        staged.promote("fraud", 1)
    assert messages(refused.value.unmet) == ["2 approval(s) required, 1 eligible recorded"]

    staged.as_actor("carol").approve("fraud", 1)
    change = staged.promote("fraud", 1)
    assert change.version.stage is Stage.PRODUCTION
    assert staged.audit_events("fraud", version=1, limit=1)[0].after["approved_by"] == ["bob", "carol"]


def test_self_approval_does_not_count_towards_required_approvals(staged: Registry):
    """Even when the policy later forbids it, the registrant's own approval is not an eligible one."""
    staged.set_policy("fraud", allow_self_approval=True, approvals_required=2)
    staged.approve("fraud", 1)
    staged.as_actor("bob").approve("fraud", 1)
    staged.set_policy("fraud", allow_self_approval=False)
    assert messages(staged.unmet_gates("fraud", 1, "Production")) == ["2 approval(s) required, 1 eligible recorded"]


def test_approver_not_on_the_list_is_refused_and_writes_nothing(staged: Registry, catalog_state):
    staged.set_policy("fraud", approvers=["bob"])
    before = catalog_state()
    with pytest.raises(NotPermitted, match="carol is not an allowed approver"):
        staged.as_actor("carol").approve("fraud", 1)
    with pytest.raises(NotPermitted, match="carol is not an allowed approver"):
        staged.as_actor("carol").reject("fraud", 1)
    assert catalog_state() == before
    staged.as_actor("bob").approve("fraud", 1)
    assert staged.promote("fraud", 1).version.stage is Stage.PRODUCTION


def test_approval_stops_counting_when_the_approver_is_left_off_a_new_list(staged: Registry):
    staged.as_actor("carol").approve("fraud", 1)
    staged.set_policy("fraud", approvers=["bob"])
    with pytest.raises(GateUnmet) as refused:
        staged.promote("fraud", 1)
    assert messages(refused.value.unmet) == ["1 approval(s) required, 0 eligible recorded"]

    staged.as_actor("bob").approve("fraud", 1)
    assert staged.promote("fraud", 1).version.stage is Stage.PRODUCTION


def test_policy_may_allow_self_approval(staged: Registry):
    staged.set_policy("fraud", allow_self_approval=True)
    staged.approve("fraud", 1)
    staged.promote("fraud", 1)
    event = staged.audit_events("fraud", version=1, limit=1)[0]
    assert (event.action, event.actor, event.after["approved_by"]) == ("version.promote", "alice", ["alice"])


def test_policy_may_require_no_approval(staged: Registry):
    staged.set_policy("fraud", approvals_required=0)
    assert staged.promote("fraud", 1).version.stage is Stage.PRODUCTION


def test_gate_unmet_lists_every_unmet_gate(staged: Registry, catalog_state):
    staged.set_policy("fraud", production_checks=["accuracy", "latency"])
    staged.record_check("fraud", 1, "accuracy", passed=False)
    staged.record_check("fraud", 1, "bias", passed=False)
    before = catalog_state()
    expected = [
        "required check 'accuracy' failed",
        "required check 'latency' has not been recorded",
        "check 'bias' failed",
        "1 approval(s) required, 0 eligible recorded",
    ]

    with pytest.raises(GateUnmet) as refused:
        staged.promote("fraud", 1)

    assert messages(refused.value.unmet) == expected
    assert [(gate.kind, gate.name) for gate in refused.value.unmet] == [
        (GateKind.CHECK_FAILED, "accuracy"),
        (GateKind.CHECK_MISSING, "latency"),
        (GateKind.CHECK_FAILED, "bias"),
        (GateKind.APPROVAL, "approvals"),
    ]
    assert "4 gate(s) unmet" in str(refused.value)
    assert [gate["message"] for gate in refused.value.to_dict()["unmet"]] == expected
    assert refused.value.to_dict()["unmet"][1] == {
        "kind": "check_missing", "name": "latency", "message": "required check 'latency' has not been recorded",
    }
    assert messages(staged.unmet_gates("fraud", 1, "Production")) == expected
    assert messages(staged.show("models:/fraud/1").unmet_gates) == expected
    assert catalog_state() == before


def test_gate_unmet_lists_every_missing_staging_check(registry: Registry, model_file):
    registry.register("fraud", model_file)
    registry.set_policy("fraud", staging_checks=["schema", "smoke"])
    with pytest.raises(GateUnmet) as refused:
        registry.transition("fraud", 1, "Staging")
    assert messages(refused.value.unmet) == [
        "required check 'schema' has not been recorded",
        "required check 'smoke' has not been recorded",
    ]


@pytest.fixture(scope="module")
def governed(module_registry: Registry) -> Registry:
    """A catalog shared by the invalid-policy cases, none of which may change it: 'fraud' needs 2 of bob and carol."""
    module_registry.create_model("fraud")
    module_registry.set_policy("fraud", approvers=["bob", "carol"], approvals_required=2)
    return module_registry


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"approvals_required": 3, "approvers": ["bob", "carol"]}, id="more-approvals-than-approvers"),
        pytest.param({"approvals_required": -1}, id="negative-approvals"),
        pytest.param({"approvals_required": 21}, id="too-many-approvals"),
        pytest.param({"approvals_required": True}, id="boolean-approvals"),
        pytest.param({"staging_checks": ["has space"]}, id="bad-staging-check-name"),
        pytest.param({"production_checks": ["-accuracy"]}, id="bad-production-check-name"),
        pytest.param({"production_checks": [""]}, id="empty-check-name"),
        pytest.param({"production_checks": "accuracy"}, id="check-names-as-one-string"),
        pytest.param({"approvers": "bob"}, id="approvers-as-one-string"),
        pytest.param({"approvers": [" bob"]}, id="approver-with-spaces"),
    ],
)
def test_invalid_policy_is_refused_and_writes_nothing(governed: Registry, module_catalog_state, change):
    policy = governed.get_policy("fraud")
    before = module_catalog_state()
    with pytest.raises(InvalidInput):
        governed.set_policy("fraud", **change)
    assert governed.get_policy("fraud") == policy
    assert module_catalog_state() == before


def test_policy_changes_are_audited(registry: Registry, model_file):
    registry.register("fraud", model_file)
    policy = registry.set_policy("fraud", production_checks=["accuracy"], approvals_required=2)
    event = registry.audit_events("fraud", limit=1)[0]
    assert (event.action, event.actor, event.version) == ("policy.set", "alice", None)
    assert event.before == GatePolicy().to_dict()
    assert event.after == policy.to_dict()
    assert event.after["production_checks"] == ["accuracy"]
    assert event.after["approvals_required"] == 2


def test_unchanged_policy_is_not_audited_again(registry: Registry, model_file):
    registry.register("fraud", model_file)
    registry.set_policy("fraud", approvals_required=2)
    head = registry.verify_audit().head_seq
    registry.set_policy("fraud", approvals_required=2)
    assert registry.verify_audit().head_seq == head


# --- identities compare as people mean them ----------------------------------------------


@pytest.mark.parametrize("spelling", ["Alice", "ALICE", " alice ", "ａｌｉｃｅ"])
def test_the_registrant_under_another_spelling_may_not_approve(registry: Registry, model_file, catalog_state, spelling):
    """Case, surrounding spaces and full-width letters do not make the registrant someone else."""
    registry.register("fraud", model_file)
    before = catalog_state()
    with pytest.raises(NotPermitted, match="self-approval"):
        registry.as_actor(spelling).approve("fraud", 1)
    assert catalog_state() == before


def test_two_spellings_of_one_approver_count_once(staged: Registry):
    """With two approvals required, 'bob' and 'BOB' are one approver, not two."""
    staged.set_policy("fraud", approvals_required=2)
    staged.as_actor("bob").approve("fraud", 1)
    staged.as_actor("BOB").approve("fraud", 1)
    assert messages(staged.unmet_gates("fraud", 1, "Production")) == ["2 approval(s) required, 1 eligible recorded"]
    staged.as_actor("carol").approve("fraud", 1)
    assert staged.promote("fraud", 1).version.stage is Stage.PRODUCTION


def test_the_approvers_list_matches_any_spelling_and_keeps_the_first(staged: Registry):
    """An approver listed as 'Bob' may approve as 'bob'; the list keeps one entry per person."""
    policy = staged.set_policy("fraud", approvers=["Bob", "bob", "Carol"])
    assert policy.approvers == ("Bob", "Carol")
    staged.as_actor("bob").approve("fraud", 1)
    assert staged.promote("fraud", 1).version.stage is Stage.PRODUCTION


def test_a_policy_cannot_require_more_approvals_than_distinct_people():
    with pytest.raises(InvalidInput, match="1 distinct approver"):
        GatePolicy(approvals_required=2, approvers=("bob", "BOB"))

"""The stage workflow: every (from, to) pair of the four stages, and how stage names are read."""

from __future__ import annotations

from itertools import product

import pytest

from registry_core import InvalidInput, InvalidTransition, Registry, Stage, parse_stage

NONE, STAGING, PRODUCTION, ARCHIVED = Stage.NONE, Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED

#: The moves ``transition`` makes. Archived -> Production is missing on purpose: only a rollback does that.
ALLOWED = {
    (NONE, STAGING),
    (NONE, ARCHIVED),
    (STAGING, PRODUCTION),
    (STAGING, ARCHIVED),
    (PRODUCTION, ARCHIVED),
}
MATRIX = [
    pytest.param(current, target, (current, target) in ALLOWED, id=f"{current}->{target}")
    for current, target in product(Stage, Stage)
]


def version_in(registry: Registry, model_file, stage: Stage) -> int:
    """Register version 1 of 'fraud', approved by bob, and walk it to ``stage``; Archived means formerly Production."""
    registry.register("fraud", model_file)
    registry.as_actor("bob").approve("fraud", 1)
    path = {
        NONE: [],
        STAGING: [STAGING],
        PRODUCTION: [STAGING, PRODUCTION],
        ARCHIVED: [STAGING, PRODUCTION, ARCHIVED],
    }[stage]
    for step in path:
        registry.transition("fraud", 1, step)
    assert registry.get_version("fraud", 1).stage is stage
    return 1


def head_seq(registry: Registry) -> int:
    return registry.verify_audit().head_seq


@pytest.mark.parametrize(("current", "target", "allowed"), MATRIX)
def test_transition_matrix(registry: Registry, model_file, catalog_state, current, target, allowed):
    """Allowed moves change the stage and append one audit event; every other move is refused and writes nothing."""
    number = version_in(registry, model_file, current)
    before = catalog_state()
    seq = head_seq(registry)

    if allowed:
        change = registry.transition("fraud", number, target)
        assert change.previous_stage is current
        assert change.version.stage is target
        assert registry.get_version("fraud", number).stage is target
        assert change.audit_seq == head_seq(registry) == seq + 1
        event = registry.audit_events("fraud", version=number, limit=1)[0]
        assert event.before["stage"] == current.value
        assert event.after["stage"] == target.value
    else:
        with pytest.raises(InvalidTransition) as refused:
            registry.transition("fraud", number, target)
        assert (refused.value.current, refused.value.target) == (current.value, target.value)
        assert registry.get_version("fraud", number).stage is current
        assert catalog_state() == before


@pytest.mark.parametrize("move", ["transition", "promote"])
def test_archived_formerly_production_version_returns_only_by_rollback(registry: Registry, model_file, catalog_state, move):
    number = version_in(registry, model_file, ARCHIVED)
    assert registry.get_version("fraud", number).was_production
    before = catalog_state()

    with pytest.raises(InvalidTransition, match="rollback"):
        if move == "transition":
            registry.transition("fraud", number, "Production")
        else:
            registry.promote("fraud", number)

    assert catalog_state() == before
    assert registry.rollback("fraud", reason="bad deploy").version.stage is PRODUCTION


def test_refused_transition_explains_where_the_version_may_go(registry: Registry, model_file):
    version_in(registry, model_file, NONE)
    with pytest.raises(InvalidTransition, match="from None it may move to Archived, Staging"):
        registry.transition("fraud", 1, "Production")


def test_transition_to_the_current_stage_is_refused(registry: Registry, model_file):
    version_in(registry, model_file, STAGING)
    with pytest.raises(InvalidTransition, match="already in Staging"):
        registry.transition("fraud", 1, "Staging")


def test_stage_names_are_case_insensitive(registry: Registry, model_file):
    for _ in range(3):
        registry.register("fraud", model_file)
    for number, spelling in [(1, "staging"), (2, "STAGING"), (3, "  sTaGiNg ")]:
        assert registry.transition("fraud", number, spelling).version.stage is STAGING
    assert [v.version for v in registry.list_versions("fraud", stage="sTAGING")] == [3, 2, 1]
    assert registry.resolve("models:/fraud/STAGING").version == 3


@pytest.mark.parametrize("spelling", ["Candidate", "candidate", "CANDIDATE", "None", "none"])
def test_candidate_is_another_name_for_none(spelling):
    assert parse_stage(spelling) is NONE


def test_candidate_selects_unstaged_versions(registry: Registry, model_file):
    """List filters and model URIs read 'Candidate' as the stage None."""
    for _ in range(3):
        registry.register("fraud", model_file)
    registry.transition("fraud", 3, "Staging")
    assert [v.version for v in registry.list_versions("fraud", stage="Candidate")] == [2, 1]
    assert registry.resolve("models:/fraud/candidate").version == 2


def test_moving_back_to_candidate_is_a_refused_transition_not_bad_input(registry: Registry, model_file):
    version_in(registry, model_file, STAGING)
    with pytest.raises(InvalidTransition) as refused:
        registry.transition("fraud", 1, "Candidate")
    assert (refused.value.current, refused.value.target) == ("Staging", "None")


def test_unknown_stage_is_invalid_input_and_writes_nothing(registry: Registry, model_file, catalog_state):
    """More unknown stages are in the bad-input table of test_validation."""
    version_in(registry, model_file, NONE)
    before = catalog_state()
    with pytest.raises(InvalidInput, match="unknown stage 'Stagin'"):
        registry.transition("fraud", 1, "Stagin")
    assert catalog_state() == before

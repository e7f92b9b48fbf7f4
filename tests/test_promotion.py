"""Promotion, rollback, model URIs, aliases, and what may and may not be edited on a version."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from registry_core import InvalidInput, InvalidTransition, NotFound, Registry, Stage


@pytest.fixture
def release(registry: Registry, model_file) -> Callable[..., int]:
    """A function that registers the next version of 'fraud', has bob approve it and moves it to a stage."""

    def release_(stage: str = "Production") -> int:
        number = registry.register("fraud", model_file).version
        if stage in ("Staging", "Production"):
            registry.as_actor("bob").approve("fraud", number)
            registry.transition("fraud", number, "Staging")
        if stage == "Production":
            registry.promote("fraud", number)
        if stage == "Archived":
            registry.transition("fraud", number, "Archived")
        return number

    return release_


def stages(registry: Registry) -> dict[int, str]:
    return {v.version: v.stage.value for v in registry.list_versions("fraud")}


def production_versions(registry: Registry) -> list[int]:
    return [v.version for v in registry.list_versions("fraud", stage="Production")]


def last_event(registry: Registry, version: int | None = None):
    return registry.audit_events("fraud", version=version, limit=1)[0]


# --- promotion --------------------------------------------------------------------------


def test_promote_archives_previous_production(registry: Registry, release):
    release("Production")
    release("Staging")

    change = registry.promote("fraud", 2)

    assert change.previous_stage is Stage.STAGING
    assert change.archived is not None and change.archived.version == 1
    assert change.archived.stage is Stage.ARCHIVED
    assert stages(registry) == {2: "Production", 1: "Archived"}
    assert registry.get_model("fraud").production_version == 2


def test_first_promotion_archives_nothing(registry: Registry, release):
    release("Staging")
    change = registry.promote("fraud", 1)
    assert change.archived is None
    assert production_versions(registry) == [1]


def test_exactly_one_production_version_at_all_times(registry: Registry, release):
    """Through promotions, archiving and rollbacks there is never more than one Production version."""
    steps: list[Callable[[], object]] = [
        lambda: release("Production"),
        lambda: release("Production"),
        lambda: release("Production"),
        lambda: registry.rollback("fraud", reason="latency regression"),
        lambda: registry.rollback("fraud", to_version=1, reason="back to the baseline"),
        lambda: registry.transition("fraud", 1, "Archived"),
        lambda: registry.rollback("fraud", reason="nothing serves traffic"),
    ]
    expected = [[1], [2], [3], [2], [1], [], [1]]
    seen = []
    for step in steps:
        step()
        seen.append(production_versions(registry))
    assert seen == expected


@pytest.fixture(scope="module")
def shipped(module_registry: Registry, tmp_path_factory) -> Registry:
    """A catalog shared by the cases below, none of which may change it: 'fraud' 1 in Production, 2 in Staging."""
    model_file = tmp_path_factory.mktemp("files") / "model.bin"
    model_file.write_bytes(b"model weights v1")
    for number in (1, 2):
        module_registry.register("fraud", model_file)
        module_registry.as_actor("bob").approve("fraud", number)
        module_registry.transition("fraud", number, "Staging")
    module_registry.promote("fraud", 1)
    return module_registry


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(
            "UPDATE model_versions SET stage = 'Production' WHERE version = 2",
            id="second-production-by-update",
        ),
        pytest.param(
            "INSERT INTO model_versions (model_id, version, stage, artifact_uri, artifact_sha256, artifact_size,"
            " params, metrics, registered_by, created_at, stage_changed_at, updated_at)"
            " SELECT model_id, 3, 'Production', artifact_uri, artifact_sha256, artifact_size, params, metrics,"
            " registered_by, created_at, stage_changed_at, updated_at FROM model_versions WHERE version = 1",
            id="second-production-by-insert",
        ),
        pytest.param(
            "INSERT INTO model_versions (model_id, version, stage, artifact_uri, artifact_sha256, artifact_size,"
            " params, metrics, registered_by, created_at, stage_changed_at, updated_at)"
            " SELECT model_id, 2, 'None', artifact_uri, artifact_sha256, artifact_size, params, metrics,"
            " registered_by, created_at, stage_changed_at, updated_at FROM model_versions WHERE version = 1",
            id="duplicate-version-number",
        ),
        pytest.param("UPDATE model_versions SET stage = 'Live' WHERE version = 2", id="unknown-stage"),
        pytest.param("UPDATE model_versions SET version = 0 WHERE version = 2", id="version-zero"),
    ],
)
def test_database_itself_enforces_catalog_invariants(shipped: Registry, module_database_url, module_catalog_state, statement):
    """Writes that bypass the registry are refused by the database, not only by Python."""
    before = module_catalog_state()
    engine = create_engine(module_database_url)
    try:
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()
    assert module_catalog_state() == before
    assert stages(shipped) == {2: "Staging", 1: "Production"}


# --- rollback ---------------------------------------------------------------------------


def test_rollback_returns_the_most_recently_archived_production_version(registry: Registry, release):
    release("Production")
    release("Production")
    release("Production")
    release("Archived")  # archived last, but never in Production: not a rollback candidate

    change = registry.rollback("fraud", reason="latency regression")

    assert change.version.version == 2
    assert change.previous_stage is Stage.ARCHIVED
    assert change.archived is not None and change.archived.version == 3
    assert stages(registry) == {4: "Archived", 3: "Archived", 2: "Production", 1: "Archived"}


def test_rollback_to_version_returns_that_version(registry: Registry, release):
    release("Production")
    release("Production")
    release("Production")
    change = registry.rollback("fraud", to_version=1, reason="back to the baseline")
    assert change.version.version == 1
    assert stages(registry) == {3: "Archived", 2: "Archived", 1: "Production"}


def test_rollback_needs_no_new_approval(registry: Registry, release):
    release("Production")
    release("Production")
    registry.set_policy("fraud", approvals_required=2, production_checks=["accuracy"])
    assert registry.rollback("fraud", reason="incident 42").version.version == 1


def test_rollback_when_nothing_is_in_production(registry: Registry, release):
    release("Production")
    registry.transition("fraud", 1, "Archived", reason="pulled")
    change = registry.rollback("fraud", reason="restore service")
    assert change.version.version == 1
    assert change.archived is None


@pytest.mark.parametrize(
    ("target", "message"),
    [(2, "never in Production"), (3, "in Staging, not Archived"), (4, "in None, not Archived")],
    ids=["archived-never-production", "staging", "none"],
)
def test_rollback_to_a_version_that_was_not_in_production_is_refused(
    registry: Registry, release, catalog_state, target, message
):
    release("Production")
    release("Archived")
    release("Staging")
    release("None")
    before = catalog_state()
    with pytest.raises(InvalidTransition, match=message):
        registry.rollback("fraud", to_version=target, reason="try it")
    assert catalog_state() == before


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_rollback_needs_a_reason(registry: Registry, release, catalog_state, reason):
    release("Production")
    release("Production")
    before = catalog_state()
    with pytest.raises(InvalidInput, match="reason"):
        registry.rollback("fraud", reason=reason)
    assert catalog_state() == before


@pytest.mark.parametrize("history", [["Production"], ["Archived"], []], ids=["only-production", "never-production", "no-versions"])
def test_rollback_without_a_candidate_is_not_found(registry: Registry, release, catalog_state, history):
    registry.create_model("fraud")
    for stage_name in history:
        release(stage_name)
    before = catalog_state()
    with pytest.raises(NotFound, match="nothing to roll back to"):
        registry.rollback("fraud", reason="incident 42")
    assert catalog_state() == before


# --- audit of promotion and rollback ----------------------------------------------------


def test_promotion_audit_records_approvers_and_reason(registry: Registry, release, model_file):
    release("Production")
    registry.register("fraud", model_file)
    registry.set_policy("fraud", approvals_required=2)
    registry.as_actor("bob").approve("fraud", 2)
    registry.as_actor("carol").approve("fraud", 2)
    registry.transition("fraud", 2, "Staging")

    change = registry.as_actor("dave").promote("fraud", 2, reason="quarterly refresh")

    archived, promoted = registry.audit_events("fraud", limit=2)
    assert promoted.seq == change.audit_seq
    assert (promoted.action, promoted.actor, promoted.version) == ("version.promote", "dave", 2)
    assert promoted.before == {"stage": "Staging", "production": 1}
    assert promoted.after == {"stage": "Production", "approved_by": ["bob", "carol"], "reason": "quarterly refresh"}
    assert (archived.action, archived.version) == ("version.transition", 1)
    assert archived.after == {"stage": "Archived", "reason": "superseded by version 2"}


def test_rollback_audit_records_reason_and_the_archived_version(registry: Registry, release):
    release("Production")
    release("Production")

    change = registry.as_actor("oncall").rollback("fraud", reason="error rate 5%")

    archived, restored = registry.audit_events("fraud", limit=2)
    assert restored.seq == change.audit_seq
    assert (restored.action, restored.actor, restored.version) == ("version.rollback", "oncall", 1)
    assert restored.before == {"stage": "Archived", "production": 2}
    assert restored.after == {"stage": "Production", "reason": "error rate 5%"}
    assert (archived.action, archived.actor, archived.version) == ("version.transition", "oncall", 2)
    assert archived.after == {"stage": "Archived", "reason": "rolled back to version 1: error rate 5%"}
    assert registry.verify_audit().intact


# --- model URIs -------------------------------------------------------------------------


def test_model_uris_resolve(registry: Registry, release):
    """Stages resolve to their highest version, 'latest' to the newest, an alias to where it points."""
    release("Production")
    release("Staging")
    release("Staging")
    release("Archived")
    release("None")
    registry.set_alias("fraud", "champion", 2)
    expected = {
        "models:/fraud/Production": 1,
        "models:/fraud/production": 1,
        "models:/fraud/Staging": 3,
        "models:/fraud/latest": 5,
        "models:/fraud/None": 5,
        "models:/fraud/Archived": 4,
        "models:/fraud/2": 2,
        "models:/fraud@champion": 2,
    }
    assert {uri: registry.resolve(uri).version for uri in expected} == expected


def test_model_uri_follows_promotion(registry: Registry, release):
    release("Production")
    release("Staging")
    registry.promote("fraud", 2)
    assert registry.resolve("models:/fraud/Production").version == 2


# --- aliases ----------------------------------------------------------------------------


def test_alias_moves_and_each_move_is_audited(registry: Registry, release):
    release("None")
    release("None")
    registry.set_alias("fraud", "champion", 1)
    created = last_event(registry)
    registry.set_alias("fraud", "champion", 2)
    moved = last_event(registry)

    assert registry.resolve("models:/fraud@champion").version == 2
    assert registry.get_model("fraud").aliases == {"champion": 2}
    assert (created.action, created.before, created.after) == ("alias.set", {}, {"alias": "champion", "version": 1})
    assert (moved.action, moved.before, moved.after) == (
        "alias.set", {"alias": "champion", "version": 1}, {"alias": "champion", "version": 2},
    )


def test_setting_an_alias_where_it_already_points_writes_nothing(registry: Registry, release, catalog_state):
    release("None")
    registry.set_alias("fraud", "champion", 1)
    before = catalog_state()
    registry.set_alias("fraud", "champion", 1)
    assert catalog_state() == before


def test_deleted_alias_no_longer_resolves_and_the_deletion_is_audited(registry: Registry, release):
    release("None")
    registry.set_alias("fraud", "champion", 1)
    registry.delete_alias("fraud", "champion")
    event = last_event(registry)
    assert (event.action, event.before, event.after) == ("alias.delete", {"alias": "champion", "version": 1}, {})
    with pytest.raises(NotFound, match="no alias 'champion'"):
        registry.resolve("models:/fraud@champion")


# --- editable and immutable fields ------------------------------------------------------


def test_version_tags_are_editable_and_each_edit_is_audited(registry: Registry, release):
    release("None")
    assert registry.set_tags("fraud", {"owner": "risk", "tier": "1"}, version=1) == {"owner": "risk", "tier": "1"}
    added = last_event(registry, 1)
    assert registry.set_tags("fraud", {"tier": "2"}, version=1) == {"owner": "risk", "tier": "2"}
    changed = last_event(registry, 1)
    assert registry.delete_tags("fraud", ["owner"], version=1) == {"tier": "2"}
    deleted = last_event(registry, 1)

    assert registry.get_version("fraud", 1).tags == {"tier": "2"}
    assert (added.action, added.before, added.after) == ("version.tags", {}, {"owner": "risk", "tier": "1"})
    assert (changed.before, changed.after) == ({"tier": "1"}, {"tier": "2"})
    assert (deleted.before, deleted.after) == ({"owner": "risk"}, {})


def test_tag_named_twice_in_one_deletion_is_deleted_once(registry: Registry, release):
    release("None")
    registry.set_tags("fraud", {"owner": "risk", "tier": "1"}, version=1)
    assert registry.delete_tags("fraud", ["owner", "owner"], version=1) == {"tier": "1"}
    assert last_event(registry, 1).before == {"owner": "risk"}


def test_model_tags_are_editable_and_audited(registry: Registry):
    registry.create_model("fraud", tags={"team": "risk"})
    registry.set_tags("fraud", {"team": "payments"})
    event = last_event(registry)
    assert registry.get_model("fraud").tags == {"team": "payments"}
    assert (event.action, event.version, event.before, event.after) == (
        "model.tags", None, {"team": "risk"}, {"team": "payments"},
    )


@pytest.mark.parametrize("version", [None, 1], ids=["model", "version"])
def test_descriptions_are_editable_and_each_edit_is_audited(registry: Registry, release, version):
    release("None")
    registry.set_description("fraud", "first words", version=version)
    registry.set_description("fraud", "better words", version=version)
    first, second = registry.audit_events("fraud", limit=2)
    owner = registry.get_model("fraud") if version is None else registry.get_version("fraud", 1)
    assert owner.description == "better words"
    kind = "model" if version is None else "version"
    assert (first.action, first.before, first.after) == (f"{kind}.description", {"description": None}, {"description": "first words"})
    assert (second.before, second.after) == ({"description": "first words"}, {"description": "better words"})


CORE_FIELDS = (
    "artifact_uri", "artifact_sha256", "artifact_size", "run_id", "dataset_digest", "params",
    "metrics", "signature", "model_card", "registered_by", "created_at",
)


def test_version_core_fields_survive_every_edit(registry: Registry, model_file):
    """Stage changes, tags, descriptions and aliases never touch what a version is."""
    registered = registry.register(
        "fraud", model_file, run_id="run-7", dataset_digest="sha256:abc", params={"depth": 4},
        metrics={"auc": 0.91}, signature={"inputs": ["amount"]}, model_card="# Fraud v1",
    )
    registry.set_tags("fraud", {"owner": "risk"}, version=1)
    registry.set_description("fraud", "retrained", version=1)
    registry.set_alias("fraud", "champion", 1)
    registry.transition("fraud", 1, "Staging")
    registry.as_actor("bob").approve("fraud", 1)
    registry.record_check("fraud", 1, "accuracy", passed=True, details={"auc": 0.5})
    registry.promote("fraud", 1)

    now = registry.get_version("fraud", 1)
    assert {f: getattr(now, f) for f in CORE_FIELDS} == {f: getattr(registered, f) for f in CORE_FIELDS}


def test_no_registry_method_but_register_accepts_core_fields():
    """Core fields of a version are set once, at registration: no other method takes them."""
    core = {"path", *CORE_FIELDS}
    offenders = {
        name: sorted(core & set(inspect.signature(method).parameters))
        for name, method in inspect.getmembers(Registry, inspect.isfunction)
        if not name.startswith("_") and name != "register"
    }
    assert {name: fields for name, fields in offenders.items() if fields} == {}


def test_version_records_are_frozen(registry: Registry, model_file):
    info = registry.register("fraud", model_file)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.artifact_sha256 = "0" * 64  # type: ignore[misc]
    assert registry.get_version("fraud", 1).artifact_sha256 == info.artifact_sha256

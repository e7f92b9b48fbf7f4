"""Who is who: actor names are refused when they cannot be seen, and compared by what they look like."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from registry_core import GatePolicy, InvalidInput, NotPermitted, Registry, Stage
from registry_core.cli import cli, render
from registry_core.policy import same_person
from registry_core.records import ApprovalRecord, AuditEntry, VersionDetails, VersionInfo

#: Names that show as nothing, or as something other than what they hold.
INVISIBLE = [
    pytest.param("\u3164", id="hangul-filler"),
    pytest.param("\u2800", id="braille-blank"),
    pytest.param("\u115f", id="hangul-choseong-filler"),
    pytest.param("\u1160", id="hangul-jungseong-filler"),
    pytest.param("\uffa0", id="halfwidth-hangul-filler"),
    pytest.param("dagster\u3164", id="name-plus-filler"),
    pytest.param("dag\u200bster", id="zero-width-space"),
    pytest.param("dag\u034fster", id="combining-grapheme-joiner"),
    pytest.param("dagster\ufe0f", id="variation-selector"),
    pytest.param("\u202edagster", id="bidi-override"),
    pytest.param("dag\U000e0041ster", id="tag-character"),
    pytest.param("\u0301\u0301", id="marks-without-a-letter"),
    pytest.param("\u3000\u2003", id="whitespace-only"),
]

#: Pairs that read as one name: the second is a look-alike of the first.
LOOK_ALIKES = [
    pytest.param("dagster", "d\u0430gster", id="cyrillic-a"),
    pytest.param("paypal", "\u0440\u0430yp\u0430l", id="cyrillic-p-and-a"),
    pytest.param("bob", "b\u03bfb", id="greek-omicron"),
    pytest.param("alice", "\u0430lice", id="cyrillic-a-first"),
    pytest.param("will", "wi\u217c\u217c", id="roman-numeral-fifty"),
    pytest.param("carol", "caro1", id="digit-one-for-l"),
    pytest.param("dagster", "DAGSTER", id="case"),
    pytest.param("paul", "pau\u04cf", id="cyrillic-palochka-for-l"),
    pytest.param("wes", "\u0448es", id="cyrillic-sha-for-w"),
    pytest.param("bob", "\u0392\u039f\u0392", id="greek-capitals"),
    pytest.param("dagster", "D\u0391GST\u0395R", id="greek-capitals-mixed-with-latin"),
    pytest.param("nina", "\u039dINA", id="greek-capital-nu"),
    pytest.param("alice", "aIice", id="capital-i-for-l"),
    pytest.param("alice", "a\u0399ice", id="greek-capital-iota-for-l"),
]


@pytest.mark.parametrize("name", INVISIBLE)
def test_an_invisible_actor_name_is_refused(registry: Registry, name: str):
    with pytest.raises(InvalidInput, match="invalid actor"):
        registry.as_actor(name)


@pytest.mark.parametrize("name", INVISIBLE)
def test_an_invisible_approver_is_refused_in_a_policy(name: str):
    with pytest.raises(InvalidInput, match="invalid"):
        GatePolicy(approvers=(name,))


@pytest.mark.parametrize(("name", "look_alike"), LOOK_ALIKES)
def test_look_alike_names_are_one_person(name: str, look_alike: str):
    assert same_person(name, look_alike)


@pytest.mark.parametrize(
    ("name", "other"), [("alice", "bob"), ("dan", "dana"), ("ana", "anna"), ("jo", "j o"), ("ali", "all"), ("ALI", "ALL")]
)
def test_different_names_stay_different_people(name: str, other: str):
    assert not same_person(name, other)


@pytest.fixture
def staged(registry: Registry, model_file: Path) -> Registry:
    """'fraud' version 1, registered by 'dagster' and in Staging."""
    as_pipeline = registry.as_actor("dagster")
    as_pipeline.register("fraud", model_file)
    as_pipeline.transition("fraud", 1, "Staging")
    return registry


def test_a_look_alike_of_the_registrant_may_not_approve(staged: Registry, catalog_state):
    """'dаgster' with a Cyrillic а is the registrant 'dagster', so approving is self-approval."""
    before = catalog_state()
    with pytest.raises(NotPermitted, match="self-approval"):
        staged.as_actor("d\u0430gster").approve("fraud", 1)
    assert catalog_state() == before


def test_look_alike_approvers_count_once(staged: Registry):
    """With two approvals required, 'bob' and 'bοb' (Greek ο) are one approver."""
    staged.set_policy("fraud", approvals_required=2)
    staged.as_actor("bob").approve("fraud", 1)
    staged.as_actor("b\u03bfb").approve("fraud", 1)
    [gate] = staged.unmet_gates("fraud", 1, "Production")
    assert gate.message == "2 approval(s) required, 1 eligible recorded"
    staged.as_actor("carol").approve("fraud", 1)
    assert staged.promote("fraud", 1).version.stage is Stage.PRODUCTION


def test_a_capital_look_alike_of_the_registrant_may_not_approve(registry: Registry, model_file: Path):
    """'ΒΟΒ' in Greek capitals reads as 'BOB', the registrant 'bob' in capitals."""
    registry.as_actor("bob").register("fraud", model_file)
    registry.as_actor("bob").transition("fraud", 1, "Staging")
    with pytest.raises(NotPermitted, match="self-approval"):
        registry.as_actor("\u0392\u039f\u0392").approve("fraud", 1)


def test_a_capital_i_for_an_l_is_the_same_approver(staged: Registry):
    """'aIice' (capital I) reads as 'alice': with two approvals required they are one."""
    staged.set_policy("fraud", approvals_required=2)
    staged.as_actor("alice").approve("fraud", 1)
    staged.as_actor("aIice").approve("fraud", 1)
    [gate] = staged.unmet_gates("fraud", 1, "Production")
    assert gate.message == "2 approval(s) required, 1 eligible recorded"


def test_spellings_linked_through_a_third_are_one_approver(staged: Registry):
    """'ALICE' is 'alice' by case and 'aIice' by shape: the three count once, in any order."""
    staged.set_policy("fraud", approvals_required=2)
    for name in ("aIice", "ALICE", "alice"):
        staged.as_actor(name).approve("fraud", 1)
    [gate] = staged.unmet_gates("fraud", 1, "Production")
    assert gate.message == "2 approval(s) required, 1 eligible recorded"


def test_a_look_alike_is_on_the_approvers_list_and_the_list_keeps_one_per_person(staged: Registry):
    policy = staged.set_policy("fraud", approvers=["bob", "b\u03bfb", "carol"])
    assert policy.approvers == ("bob", "carol")
    with pytest.raises(InvalidInput, match="1 distinct approver"):
        GatePolicy(approvals_required=2, approvers=("alice", "\u0430lice"))


def test_a_look_alike_name_is_stored_as_given(staged: Registry):
    """Comparison uses the skeleton; the catalog keeps exactly what was typed."""
    staged.as_actor("b\u03bfb").approve("fraud", 1)
    [decision] = staged.show("models:/fraud/1").decisions
    assert decision.approver == "b\u03bfb"


def cli_invoke(database_url: str, artifact_root: Path, *args: str, actor: str = "alice"):
    env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root), "REGISTRY_ACTOR": actor}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("name", INVISIBLE)
def test_the_cli_refuses_an_invisible_actor_in_one_line(database_url, artifact_root, model_file, catalog_state, name):
    before = catalog_state()
    result = cli_invoke(database_url, artifact_root, "register", "fraud", str(model_file), "--actor", name)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "invalid actor" in result.stderr
    assert "Traceback" not in result.stderr
    assert catalog_state() == before


@pytest.mark.parametrize("look_alike", ["d\u0430gster", "D\u0391GST\u0395R"], ids=["cyrillic-a", "greek-capitals"])
def test_the_cli_refuses_a_look_alike_of_the_registrant(database_url, artifact_root, model_file, look_alike):
    assert cli_invoke(database_url, artifact_root, "register", "fraud", str(model_file), actor="dagster").exit_code == 0
    assert cli_invoke(database_url, artifact_root, "transition", "fraud", "1", "Staging", actor="dagster").exit_code == 0
    result = cli_invoke(database_url, artifact_root, "approve", "fraud", "1", actor=look_alike)
    assert result.exit_code == 1
    assert "self-approval" in result.stderr


# --- names recorded before invisible characters were refused still show as something -------------


def test_an_invisible_name_shows_escaped_in_the_production_history():
    """`registry history` of a promotion by and approved by U+3164 names the character instead of a blank."""
    event = AuditEntry(
        seq=7, recorded_at="2025-01-02T03:04:05Z", actor="\u3164", action="version.promote", model="fraud", version=1, hash="00",
        before={"stage": "Staging", "production": None}, after={"stage": "Production", "approved_by": ["\u2800"]},
    )
    [_, row] = render.history_table([event])
    assert "\u3164" not in row and "\u2800" not in row
    assert "\\u3164" in row and "\\u2800" in row


def test_an_invisible_approver_shows_escaped_in_a_versions_decisions():
    record = ApprovalRecord(model="fraud", version=1, approver="bob\u115f", decision="approve", comment=None,
                            recorded_at=datetime(2025, 1, 2, tzinfo=UTC))
    event = AuditEntry(
        seq=8, recorded_at="2025-01-02T03:04:05Z", actor="\u3164", action="version.transition", model="fraud",
        version=1, hash="00", before={"stage": "Staging"}, after={"stage": "Production", "approved_by": ["\u3164"]},
    )
    version = replace(details_of(), registered_by="\u2800")
    lines = "\n".join(render.details_lines(VersionDetails(
        version=version, checks=[], decisions=[record], aliases=[], next_stage=None, stage_history=[event],
    )))
    assert not any(blank in lines for blank in ("\u3164", "\u2800", "\u115f"))
    assert "approved by bob\\u115f" in lines and "registered by:  \\u2800" in lines


def details_of() -> VersionInfo:
    moment = datetime(2025, 1, 2, tzinfo=UTC)
    return VersionInfo(
        model="fraud", version=1, stage=Stage.PRODUCTION, artifact_uri="file:///blobs/ab", artifact_sha256="ab" * 32,
        artifact_size=10, artifact_kind="file", artifact_format={}, run_id=None, dataset_digest=None, params={},
        metrics={}, signature=None, model_card=None, description=None, tags={}, registered_by="alice",
        created_at=moment, stage_changed_at=moment, updated_at=moment, was_production=True,
    )


def protected_alias_moved_by_invisible_names() -> VersionDetails:
    """Version 1 of 'fraud' under @champion (protected), moved there by U+3164 on the approval of U+2800."""
    event = AuditEntry(
        seq=9, recorded_at="2025-01-02T03:04:05Z", actor="\u3164", action="alias.set", model="fraud", version=1,
        hash="00", before={}, after={"alias": "champion", "protected": True, "approved_by": ["\u2800"]},
    )
    return VersionDetails(
        version=details_of(), checks=[], decisions=[], aliases=["champion"], next_stage=None,
        protected_aliases=["champion"], alias_events={"champion": event},
    )


def test_an_invisible_name_shows_escaped_beside_a_protected_alias():
    """`registry show` names who moved a protected alias, and whose approvals counted, never as blanks."""
    shown = render.alias_line("champion", protected_alias_moved_by_invisible_names())
    assert "\u3164" not in shown and "\u2800" not in shown
    assert "set by \\u3164" in shown and "approvals by \\u2800" in shown

"""What an operator reads: read-only commands that never create a catalog, the audit table, Production's
history, timestamps with their zone, check details in brief, and gc of interrupted uploads."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from registry_core import AuditAction, InvalidInput, NotFound, Registry
from registry_core.cli import cli

READ_ONLY_COMMANDS = [
    ["show", "models:/fraud/1"],
    ["show", "models:/fraud"],
    ["models"],
    ["versions", "fraud"],
    ["audit"],
    ["audit", "--verify"],
    ["history", "fraud"],
    ["policy", "fraud"],
    ["db", "status"],
    ["download", "models:/fraud/1", "out.bin"],
    ["gc"],
    ["gc", "--delete"],
    ["webhook", "list"],
    ["webhook", "deliveries", "1"],
    ["webhook", "deliver", "--once"],
]


def invoke(*args: str, env: dict[str, str]) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def run(database_url: str, artifact_root: Path):
    env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root), "REGISTRY_ACTOR": "alice"}

    def call(*args: str, actor: str = "alice") -> Result:
        return invoke(*args, env={**env, "REGISTRY_ACTOR": actor})

    return call


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stdout}{result.stderr}"
    return result


@pytest.fixture
def promoted_twice_and_rolled_back(run, tmp_path: Path):
    """fraud v1 promoted (approved by bob), v2 promoted (approved by carol), then rolled back to v1."""
    for number in (1, 2):
        artifact = tmp_path / f"model{number}.bin"
        artifact.write_bytes(f"weights {number}".encode())
        ok(run("register", "fraud", str(artifact)))
        ok(run("transition", "fraud", str(number), "Staging"))
        ok(run("approve", "fraud", str(number), actor="bob" if number == 1 else "carol"))
        ok(run("promote", "fraud", str(number), "--reason", "first" if number == 1 else "weekly retrain"))
    ok(run("rollback", "fraud", "--reason", "false positives doubled", actor="dave"))
    return run


# --- read-only commands on a missing catalog ---------------------------------------------------


@pytest.mark.parametrize("args", READ_ONLY_COMMANDS, ids=lambda a: " ".join(a))
def test_read_only_commands_do_not_create_a_missing_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args):
    """Run in an empty folder with the default catalog: one line naming where it looked, exit 1, no file made."""
    monkeypatch.chdir(tmp_path)
    env = {"REGISTRY_DATABASE_URL": "", "REGISTRY_ARTIFACT_ROOT": "", "REGISTRY_ACTOR": "alice"}
    result = invoke(*args, env=env)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    expected = tmp_path / ".registry" / "registry.db"
    assert lines == [
        f"registry: error: no catalog database at {expected}; nothing was created (register a model to start one, "
        "or point --db / REGISTRY_DATABASE_URL at an existing catalog)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_write_command_still_creates_the_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_file: Path):
    monkeypatch.chdir(tmp_path)
    env = {"REGISTRY_DATABASE_URL": "", "REGISTRY_ARTIFACT_ROOT": "", "REGISTRY_ACTOR": "alice"}
    ok(invoke("register", "fraud", str(model_file), env=env))
    assert (tmp_path / ".registry" / "registry.db").is_file()
    ok(invoke("show", "models:/fraud/1", env=env))


def test_registry_without_create_refuses_a_missing_or_empty_catalog(empty_database_url: str, artifact_root: Path):
    """Registry(create=False) raises NotFound and creates nothing; the default still creates."""
    database_url = empty_database_url
    with pytest.raises(NotFound, match="no catalog database at|holds no registry catalog"):
        Registry(database_url, artifact_root, actor="alice", create=False)
    if database_url.startswith("sqlite:///"):
        assert not Path(database_url[len("sqlite:///"):]).exists()
    Registry(database_url, artifact_root, actor="alice").close()
    Registry(database_url, artifact_root, actor="alice", create=False).close()


# --- audit -------------------------------------------------------------------------------------


def test_audit_is_a_readable_table(promoted_twice_and_rolled_back):
    lines = ok(promoted_twice_and_rolled_back("audit")).stdout.splitlines()
    assert lines[0].split() == ["SEQ", "TIME", "ACTOR", "ACTION", "VERSION", "CHANGE"]
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    promote = next(line for line in lines if " version.promote " in line and "fraud v2" in line)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", promote)
    assert "stage: Staging -> Production" in promote


def test_audit_action_filters_and_json_is_whole(promoted_twice_and_rolled_back):
    run = promoted_twice_and_rolled_back
    events = json.loads(ok(run("audit", "--action", "version.promote", "--action", "VERSION.ROLLBACK", "--json")).stdout)
    assert [(e["action"], e["version"]) for e in events] == [
        ("version.promote", 1), ("version.promote", 2), ("version.rollback", 1),
    ]
    assert events[1]["after"] == {"approved_by": ["carol"], "reason": "weekly retrain", "stage": "Production"}
    assert set(events[0]) >= {"seq", "recorded_at", "actor", "action", "model", "version", "before", "after", "hash"}


def test_audit_action_is_validated(run, registry: Registry):
    result = run("audit", "--action", "version.promoted")
    assert result.exit_code == 2 and "version.promoted" in result.stderr
    with pytest.raises(InvalidInput, match="unknown audit action"):
        registry.audit_events(actions=["version.promoted"])
    assert registry.audit_events(actions=[AuditAction.VERSION_PROMOTE]) == []


# --- history -----------------------------------------------------------------------------------


def test_history_shows_how_production_changed(promoted_twice_and_rolled_back):
    lines = ok(promoted_twice_and_rolled_back("history", "fraud")).stdout.splitlines()
    assert lines[0].split() == ["WHEN", "VERSION", "CHANGE", "REPLACED", "APPROVED_BY", "BY", "REASON"]
    rows = [re.split(r"\s{2,}", line) for line in lines[1:]]
    assert [row[1:] for row in rows] == [
        ["1", "promote", "-", "bob", "alice", "first"],
        ["2", "promote", "1", "carol", "alice", "weekly retrain"],
        ["1", "rollback", "2", "-", "dave", "false positives doubled"],
    ]
    assert all(row[0].endswith(" UTC") for row in rows)


def test_history_pages_and_speaks_json(promoted_twice_and_rolled_back):
    run = promoted_twice_and_rolled_back
    newest = json.loads(ok(run("history", "fraud", "--limit", "1", "--json")).stdout)
    assert [(e["action"], e["version"], e["actor"]) for e in newest] == [("version.rollback", 1, "dave")]


def test_history_of_an_unknown_model_is_an_error(promoted_twice_and_rolled_back):
    result = promoted_twice_and_rolled_back("history", "ghost")
    assert result.exit_code == 1
    assert result.stderr.strip() == "registry: error: model 'ghost' does not exist"


# --- show --------------------------------------------------------------------------------------


def test_show_summarises_check_details_and_json_has_them_whole(run, model_file: Path):
    details = {"rows": 4000, "nulls": 0, "columns": ["a"] * 50, "z_note": "x" * 200}
    ok(run("register", "fraud", str(model_file)))
    ok(run("check", "fraud", "1", "data_quality", "--passed", "--details", json.dumps(details)))
    lines = ok(run("show", "models:/fraud/1")).stdout.splitlines()
    (check,) = [line for line in lines if line.startswith("    data_quality:")]
    assert check.endswith('(columns=["a","a","a","a","a","a…, nulls=0, rows=4000, … (1 more))')
    assert len(check) < 140
    shown = json.loads(ok(run("show", "models:/fraud/1", "--json")).stdout)
    assert shown["checks"][0]["details"] == details


def test_every_timestamp_in_show_has_its_zone(promoted_twice_and_rolled_back):
    text = ok(promoted_twice_and_rolled_back("show", "models:/fraud/2")).stdout
    stamps = re.findall(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d\S*(?: UTC)?", text)
    assert len(stamps) >= 5
    assert all(stamp.endswith(" UTC") for stamp in stamps), stamps


def test_a_rejection_reads_rejected(run, model_file: Path):
    ok(run("register", "fraud", str(model_file)))
    ok(run("reject", "fraud", "1", "--comment", "no", actor="bob"))
    assert re.search(r"    rejected by bob at \S+ \S+ UTC: no", ok(run("show", "models:/fraud/1")).stdout)


# --- gc of interrupted uploads -------------------------------------------------------------------


def test_gc_reports_and_removes_stale_interrupted_uploads(run, registry: Registry, artifact_root: Path, model_file: Path):
    registry.register("fraud", model_file)
    incoming = artifact_root / "incoming"
    stale = incoming / ("a" * 32 + ".partial")
    fresh = incoming / ("b" * 32 + ".partial")
    foreign = incoming / "notes.partial"
    for path in (stale, fresh, foreign):
        path.write_bytes(b"x" * 10)
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    os.utime(foreign, (two_hours_ago, two_hours_ago))

    dry = json.loads(ok(run("gc", "--json")).stdout)
    assert (dry["partials"], dry["partial_bytes"], dry["skipped_recent_partials"]) == ([stale.name], 10, 1)
    assert stale.exists()
    assert f"incoming/{stale.name}" in ok(run("gc")).stdout

    report = registry.collect_garbage(delete=True)
    assert report.partials == [stale.name] and report.deleted
    assert not stale.exists() and fresh.exists() and foreign.exists()
    assert registry.collect_garbage().partials == []

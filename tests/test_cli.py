"""The registry command line, end to end, on real SQLite and PostgreSQL catalogs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from registry_core import Registry
from registry_core.cli import cli


def cli_on(database_url: str, artifact_root: Path):
    """Run ``registry ARGS...`` in-process against the catalog at ``database_url``, as 'alice' unless told otherwise."""
    runner = CliRunner()

    def invoke(*args: str, actor: str = "alice") -> Result:
        env = {
            "REGISTRY_DATABASE_URL": database_url,
            "REGISTRY_ARTIFACT_ROOT": str(artifact_root),
            "REGISTRY_ACTOR": actor,
        }
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def run(database_url: str, artifact_root: Path):
    """``registry ARGS...`` against a fresh catalog."""
    return cli_on(database_url, artifact_root)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stdout}{result.stderr}"
    return result


def as_json(result: Result):
    return json.loads(ok(result).stdout)


def audit_head(run) -> int:
    return as_json(run("audit", "--verify", "--json"))["head_seq"]


def refused(run, *args: str, actor: str = "alice", expect: str = "") -> Result:
    """Assert the registry refuses ARGS with exit 1 and one stderr line, and that nothing was written."""
    before = audit_head(run)
    result = run(*args, actor=actor)
    assert result.exit_code == 1, f"exit {result.exit_code}: {result.stdout}{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("registry: error: "), result.stderr
    assert expect in lines[0]
    assert "Traceback" not in result.stderr
    assert audit_head(run) == before
    return result


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"weights of version one")
    return path


def test_lifecycle_from_the_command_line(run, artifact: Path, tmp_path: Path):
    """Register, check, approve as a second person, promote; v2 archives v1; rollback restores v1."""
    ok(run("register", "fraud", str(artifact), "--run-id", "run-1", "--dataset-digest", "sha256:d1",
           "--param", "trees=50", "--metric", "auc=0.91", "--tag", "team=risk", "--description", "baseline"))
    ok(run("check", "fraud", "1", "data_quality", "--passed", "--details", '{"rows": 4000}'))
    ok(run("transition", "fraud", "1", "staging"))
    ok(run("approve", "fraud", "1", "--comment", "reviewed", actor="bob"))
    ok(run("promote", "fraud", "1"))

    second = tmp_path / "model2.pkl"
    second.write_bytes(b"weights of version two")
    ok(run("register", "fraud", str(second), "--run-id", "run-2"))
    ok(run("transition", "fraud", "2", "Staging"))
    ok(run("approve", "fraud", "2", actor="bob"))
    promoted = as_json(run("promote", "fraud", "2", "--json"))
    assert promoted["version"]["stage"] == "Production"
    assert promoted["archived"]["version"] == 1 and promoted["archived"]["stage"] == "Archived"

    rolled = as_json(run("rollback", "fraud", "--reason", "precision dropped", "--json", actor="on-call"))
    assert rolled["version"]["version"] == 1 and rolled["archived"]["version"] == 2

    production = as_json(run("show", "models:/fraud/Production", "--json"))
    assert production["version"]["version"] == 1
    assert production["version"]["dataset_digest"] == "sha256:d1"
    assert [d["approver"] for d in production["decisions"]] == ["bob"]
    stages = {v["version"]: v["stage"] for v in as_json(run("versions", "fraud", "--json"))}
    assert stages == {1: "Production", 2: "Archived"}
    history = as_json(run("audit", "fraud", "--version", "1", "--json"))
    assert [e["action"] for e in history][-2:] == ["version.transition", "version.rollback"]
    assert history[-1]["actor"] == "on-call"
    assert as_json(run("audit", "--verify", "--json"))["intact"] is True


def test_human_output_answers_governance_questions(run, artifact: Path):
    """`show` on the Production URI says which version, who approved it and what data trained it."""
    ok(run("register", "fraud", str(artifact), "--dataset-digest", "sha256:d1"))
    ok(run("transition", "fraud", "1", "Staging"))
    ok(run("approve", "fraud", "1", "--comment", "looks good", actor="bob"))
    ok(run("promote", "fraud", "1"))
    shown = ok(run("show", "models:/fraud/Production")).stdout
    assert "models:/fraud/1" in shown
    assert "approved by bob" in shown
    assert "sha256:d1" in shown


def test_self_approval_is_refused(run, artifact: Path):
    ok(run("register", "fraud", str(artifact)))
    refused(run, "approve", "fraud", "1", expect="may not approve")


def test_promotion_without_approval_is_refused(run, artifact: Path):
    ok(run("register", "fraud", str(artifact)))
    ok(run("transition", "fraud", "1", "Staging"))
    refused(run, "promote", "fraud", "1", expect="approval")


def test_promotion_with_failed_required_check_is_refused(run, artifact: Path):
    ok(run("register", "fraud", str(artifact)))
    ok(run("policy", "fraud", "--production-check", "auc_gate"))
    ok(run("transition", "fraud", "1", "Staging"))
    ok(run("check", "fraud", "1", "auc_gate", "--failed"))
    ok(run("approve", "fraud", "1", actor="bob"))
    refused(run, "promote", "fraud", "1", expect="auc_gate")


def test_illegal_transition_is_refused(run, artifact: Path):
    ok(run("register", "fraud", str(artifact)))
    refused(run, "transition", "fraud", "1", "Production", expect="None to Production")


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (("show", "models:/fraud"), ""),
        (("show", "fraud/1"), "invalid model URI"),
        (("show", "models:/fraud/banana"), "neither a version"),
        (("transition", "fraud", "one", "Staging"), "invalid version"),
        (("transition", "fraud", "1", "Live"), "unknown stage"),
        (("transition", "fraud", "7", "Staging"), "no version 7"),
        (("check", "fraud", "1", "dq", "--passed", "--details", "{oops"), "not valid JSON"),
        (("register", "bad:name", "ARTIFACT"), "invalid model name"),
        (("register", "fraud", "/no/such/file"), "does not exist"),
        (("register", "fraud", "ARTIFACT", "--metric", "auc=high"), "not a number"),
        (("register", "fraud", "ARTIFACT", "--tag", "k=" + "v" * 100_001), "exceeds the maximum length of 100000 characters"),
        (("versions", "ghost"), "does not exist"),
    ],
)
def test_bad_input_exits_1_and_writes_nothing(run, artifact: Path, args: tuple[str, ...], expect: str):
    ok(run("register", "fraud", str(artifact)))
    args = tuple(str(artifact) if a == "ARTIFACT" else a for a in args)
    if args == ("show", "models:/fraud"):
        ok(run(*args))  # a model URI without a version shows the model
        return
    refused(run, *args, expect=expect)


def test_json_errors_are_objects_on_stderr(run, artifact: Path):
    ok(run("register", "fraud", str(artifact)))
    result = run("--json", "promote", "fraud", "1")
    assert result.exit_code == 1
    error = json.loads(result.stderr)
    assert error["error"] == "invalid_transition"
    assert error["current"] == "None"


def test_gate_errors_list_every_unmet_gate_as_json(run, artifact: Path):
    ok(run("register", "fraud", str(artifact)))
    ok(run("policy", "fraud", "--production-check", "auc_gate", "--production-check", "bias_audit"))
    ok(run("transition", "fraud", "1", "Staging"))
    result = run("promote", "fraud", "1", "--json")
    assert result.exit_code == 1
    unmet = json.loads(result.stderr)["unmet"]
    assert len(unmet) == 3
    assert {gate["name"] for gate in unmet} == {"auc_gate", "bias_audit", "approvals"}
    assert all(gate["kind"] in ("check_missing", "check_failed", "approval") and gate["message"] for gate in unmet)


def test_usage_errors_exit_2(run):
    assert run("transition", "fraud").exit_code == 2
    assert run("check", "fraud", "1", "dq").exit_code == 2  # neither --passed nor --failed
    assert run("rollback", "fraud").exit_code == 2  # --reason is required
    assert run("frobnicate").exit_code == 2


def test_policy_shows_and_changes(run, artifact: Path):
    ok(run("register", "fraud", str(artifact)))
    default = as_json(run("policy", "fraud", "--json"))
    assert default == {
        "staging_checks": [], "production_checks": [], "approvals_required": 1,
        "approvers": [], "allow_self_approval": False, "trusted_types": [], "allow_pickle": False,
        "protected_aliases": [], "allow_io_parameters": [], "max_load_bytes": 512 * 1024 * 1024,
        "max_load_objects": 200_000, "require_proof": False, "owners": [], "onnx_parity": None,
    }
    changed = as_json(run("policy", "fraud", "--approvals", "2", "--approver", "bob", "--approver", "carol",
                          "--self-approval", "--json"))
    assert changed["approvals_required"] == 2 and changed["approvers"] == ["bob", "carol"]
    assert changed["allow_self_approval"] is True
    cleared = as_json(run("policy", "fraud", "--clear-approvers", "--approvals", "1", "--json"))
    assert cleared["approvers"] == []


def test_policy_decides_what_loading_a_version_may_run(run, artifact: Path):
    """--trusted-type and --allow-pickle change what loading may construct or unpickle; the policy shows both."""
    ok(run("register", "fraud", str(artifact)))
    changed = as_json(run("policy", "fraud", "--trusted-type", "mypackage.models.Threshold", "--allow-pickle", "--json"))
    assert changed["trusted_types"] == ["mypackage.models.Threshold"] and changed["allow_pickle"] is True
    shown = ok(run("policy", "fraud")).stdout.splitlines()
    assert "trusted types:      mypackage.models.Threshold" in shown and "pickle:             allowed" in shown
    cleared = as_json(run("policy", "fraud", "--clear-trusted-types", "--no-allow-pickle", "--json"))
    assert cleared["trusted_types"] == [] and cleared["allow_pickle"] is False
    refused(run, "policy", "fraud", "--trusted-type", "Threshold", expect="invalid trusted type 'Threshold'")


def test_show_says_how_an_estimator_is_serialized(run, database_url: str, artifact_root: Path):
    from sklearn.linear_model import LogisticRegression

    from registry_core import Registry

    with Registry(database_url, artifact_root, actor="alice") as registry:
        registry.register("fraud", LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
    shown = ok(run("show", "models:/fraud/1")).stdout.splitlines()
    assert "  serialized as:  skops" in shown
    assert as_json(run("show", "models:/fraud/1", "--json"))["version"]["artifact_format"]["serializer"] == "skops"


def test_alias_tag_and_describe_are_audited(run, artifact: Path):
    ok(run("register", "fraud", str(artifact)))
    ok(run("alias", "fraud", "champion", "1"))
    assert as_json(run("show", "models:/fraud@champion", "--json"))["version"]["version"] == 1
    ok(run("tag", "fraud", "--version", "1", "owner=risk"))
    ok(run("describe", "fraud", "the fraud model"))
    actions = [e["action"] for e in as_json(run("audit", "fraud", "--json"))]
    assert actions[-3:] == ["alias.set", "version.tags", "model.description"]
    ok(run("alias", "fraud", "champion", "--delete"))
    refused(run, "show", "models:/fraud@champion", expect="no alias")


def test_global_options_work_before_and_after_the_command(run, artifact: Path, database_url: str):
    ok(run("register", "fraud", str(artifact)))
    ok(run("transition", "fraud", "1", "Staging"))
    ok(run("--actor", "bob", "approve", "fraud", "1"))
    ok(run("approve", "fraud", "1", "--actor", "carol"))
    approvers = [d["approver"] for d in as_json(run("show", "models:/fraud/1", "--json"))["decisions"]]
    assert approvers == ["bob", "carol"]


def test_audit_verify_exits_1_after_tampering(run, artifact: Path, database_url: str):
    ok(run("register", "fraud", str(artifact)))
    ok(run("transition", "fraud", "1", "Staging"))
    engine = create_engine(database_url)
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER audit_events_no_update"))
        else:
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        connection.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"))
    engine.dispose()
    result = run("audit", "--verify")
    assert result.exit_code == 1
    assert "BROKEN at event 2" in result.stdout


def test_audit_verify_names_catalog_rows_that_differ_from_the_log(run, artifact: Path, database_url: str):
    """A row changed with plain SQL, chain untouched: --verify exits 1 and names the row and its event."""
    ok(run("register", "fraud", str(artifact)))
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE model_versions SET artifact_sha256 = '{'f' * 64}'"))
    engine.dispose()
    result = run("audit", "--verify")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("catalog DIFFERS from its audit log: 1 row(s); the chain itself is intact")
    assert lines[1].startswith("  model_versions fraud version 1: artifact file ffff") and lines[1].endswith("(event 2)")


def test_db_status_and_upgrade(empty_database_url: str, artifact_root: Path):
    run = cli_on(empty_database_url, artifact_root)
    if empty_database_url.startswith("sqlite:///"):
        Path(empty_database_url[len("sqlite:///"):]).touch()  # an empty database; a missing one is refused
    status = as_json(run("db", "status", "--json"))
    assert status["up_to_date"] is False and status["current"] is None
    upgraded = as_json(run("db", "upgrade", "--json"))
    assert upgraded["to"] == upgraded["head"]
    assert as_json(run("db", "status", "--json"))["up_to_date"] is True


def test_console_script_prints_no_traceback(tmp_path: Path):
    """The installed `registry` script turns a refusal into one line and exit 1."""
    script = Path(sys.executable).with_name("registry")
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
        "REGISTRY_ARTIFACT_ROOT": str(tmp_path / "a"),
    }
    Registry(env["REGISTRY_DATABASE_URL"], tmp_path / "a").close()
    result = subprocess.run(
        [str(script), "show", "models:/ghost/1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "registry: error: model 'ghost' does not exist"


def test_download_verifies_and_writes_a_folder(run, tmp_path: Path):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "MLmodel").write_bytes(b"flavors")
    (folder / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 100)
    registered = as_json(run("register", "fraud", str(folder), "--json"))
    assert registered["artifact_kind"] == "directory"
    result = as_json(run("download", "models:/fraud/latest", str(tmp_path / "out"), "--json"))
    assert result["sha256"] == registered["artifact_sha256"]
    assert (tmp_path / "out" / "sub" / "weights.bin").read_bytes() == b"\x00\x01" * 100
    refused(run, "download", "models:/fraud/1", str(tmp_path / "out"), expect="already exists")


def test_download_of_a_corrupted_blob_exits_1(run, artifact: Path, artifact_root: Path, tmp_path: Path):
    sha256 = as_json(run("register", "fraud", str(artifact), "--json"))["artifact_sha256"]
    blob = artifact_root / "sha256" / sha256[:2] / sha256
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    result = run("download", "models:/fraud/1", str(tmp_path / "out.bin"))
    assert result.exit_code == 1
    assert "integrity check failed for models:/fraud/1" in result.stderr
    assert not (tmp_path / "out.bin").exists()


def test_gc_is_a_dry_run_by_default(run, artifact: Path, artifact_root: Path):
    ok(run("register", "fraud", str(artifact)))
    orphan = artifact_root / "sha256" / "ab" / ("ab" + "0" * 62)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"orphan")
    listed = as_json(run("gc", "--min-age", "0", "--json"))
    assert listed["blobs"] == ["ab" + "0" * 62] and listed["deleted"] is False
    assert orphan.exists()
    deleted = as_json(run("gc", "--min-age", "0", "--delete", "--json"))
    assert deleted["deleted"] is True and not orphan.exists()
    assert as_json(run("gc", "--min-age", "0", "--json"))["blobs"] == []

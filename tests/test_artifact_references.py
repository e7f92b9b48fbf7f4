"""Versions registered as a reference: visible and audited, never loaded, served or promoted until attached."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from tampering import registry_cli, sql, verify_divergences

from registry_core import (
    ArtifactReference,
    ConflictError,
    GateKind,
    GateUnmet,
    InvalidInput,
    NotPermitted,
    Registry,
    Stage,
)
from registry_core.actions import AuditAction
from registry_core.serving.model_holder import CatalogModelLoader

MODEL = "fraud"
SOURCE = "s3://team-bucket/mlruns/7/abc/artifacts/model"


@pytest.fixture
def referenced(registry: Registry) -> Registry:
    """Version 1 of fraud is a reference to an object-store URI the registry never reads."""
    registry.register(MODEL, ArtifactReference(SOURCE), run_id="abc")
    return registry


def test_a_reference_is_registered_with_its_source_and_no_bytes(referenced: Registry):
    version = referenced.get_version(MODEL, 1)
    assert (version.artifact_kind, version.artifact_sha256, version.artifact_size) == ("reference", "", 0)
    assert version.artifact_uri == SOURCE and version.artifact_format == {"source": SOURCE}
    event = referenced.audit_events(MODEL, limit=1)[0]
    assert event.action == AuditAction.VERSION_REGISTER
    assert event.after["artifact_kind"] == "reference" and event.after["artifact_format"] == {"source": SOURCE}
    assert referenced.verify_audit().intact


@pytest.mark.parametrize("doing", ["load", "download"])
def test_a_reference_is_never_loaded_or_downloaded(referenced: Registry, tmp_path: Path, doing: str):
    """One line naming the source and the way out; nothing is written at the destination."""
    dest = tmp_path / "out"
    with pytest.raises(NotPermitted) as refused:
        if doing == "load":
            referenced.load_model(f"models:/{MODEL}/1")
        else:
            referenced.download(f"models:/{MODEL}/1", dest)
    assert str(refused.value) == (
        f"cannot {doing} version 1 of 'fraud': it references {SOURCE!r} and holds no bytes the registry verified; "
        "attach them first (registry attach NAME VERSION PATH)"
    )
    assert not dest.exists()


def test_a_reference_is_never_served(referenced: Registry, database_url: str, artifact_root: Path):
    """The serving loader refuses it, and `registry serve` exits 1 with one line before anything listens."""
    with pytest.raises(NotPermitted, match="holds no bytes"):
        CatalogModelLoader(referenced).load(referenced.get_version(MODEL, 1))
    env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root), "PATH": "/usr/bin:/bin"}
    refused = subprocess.run(
        [sys.executable, "-m", "registry_core.cli", "serve", f"models:/{MODEL}/1", "--port", "0"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.strip().count("\n") == 0 and "holds no bytes" in refused.stderr, refused.stderr


def test_a_reference_never_reaches_production_whatever_else_it_earned(referenced: Registry, catalog_state):
    """Approved and staged, it still misses one gate: its bytes; the promotion changes nothing."""
    referenced.transition(MODEL, 1, Stage.STAGING)
    referenced.as_actor("bob").approve(MODEL, 1)
    before = catalog_state()
    with pytest.raises(GateUnmet) as refused:
        referenced.promote(MODEL, 1)
    assert [gate.kind for gate in refused.value.unmet] == [GateKind.NO_BYTES]
    assert "1 gate(s) unmet: version 1 holds no bytes" in str(refused.value)
    assert catalog_state() == before
    assert [gate.kind for gate in referenced.show(f"models:/{MODEL}/1").unmet_gates] == [GateKind.NO_BYTES]


def test_a_protected_alias_never_points_at_a_reference(referenced: Registry, catalog_state):
    """Neither by moving the alias nor by protecting an alias that already points at the reference."""
    referenced.set_alias(MODEL, "champion", 1)
    before = catalog_state()
    with pytest.raises(GateUnmet, match="holds no bytes"):
        referenced.set_policy(MODEL, approvers=["bob"], protect_aliases=["champion"])
    assert catalog_state() == before
    referenced.delete_alias(MODEL, "champion")
    referenced.set_policy(MODEL, approvers=["bob"], protect_aliases=["champion"])
    referenced.as_actor("bob").approve(MODEL, 1)
    before = catalog_state()
    with pytest.raises(GateUnmet, match="holds no bytes"):
        referenced.set_alias(MODEL, "champion", 1)
    assert catalog_state() == before


def test_attaching_bytes_makes_a_reference_a_version_like_any_other(referenced: Registry, model_file: Path, tmp_path):
    version = referenced.attach(MODEL, 1, model_file)
    assert version.artifact_kind == "file" and len(version.artifact_sha256) == 64
    event = referenced.audit_events(MODEL, limit=1)[0]
    assert event.action == AuditAction.VERSION_ATTACH
    assert event.before == {"artifact_kind": "reference", "source": SOURCE}
    assert event.after["artifact_sha256"] == version.artifact_sha256
    assert referenced.download(f"models:/{MODEL}/1", tmp_path / "out").read_bytes() == model_file.read_bytes()
    assert referenced.verify_audit().intact
    referenced.transition(MODEL, 1, Stage.STAGING)
    referenced.as_actor("bob").approve(MODEL, 1)
    assert referenced.promote(MODEL, 1).version.stage is Stage.PRODUCTION


def test_bytes_are_attached_once(referenced: Registry, model_file: Path, catalog_state):
    referenced.attach(MODEL, 1, model_file)
    before = catalog_state()
    with pytest.raises(ConflictError, match="already holds its bytes"):
        referenced.attach(MODEL, 1, model_file)
    assert catalog_state() == before


def test_no_gate_counts_what_was_recorded_before_the_bytes_existed(referenced: Registry, model_file: Path, catalog_state):
    """An approval of a reference cannot be carried over to bytes attached afterwards: the attach is refused."""
    referenced.as_actor("bob").approve(MODEL, 1)
    before = catalog_state()
    with pytest.raises(ConflictError, match="check results or decisions"):
        referenced.attach(MODEL, 1, model_file)
    assert catalog_state() == before


def test_bytes_are_not_attached_to_an_archived_reference(referenced: Registry, model_file: Path, catalog_state):
    referenced.transition(MODEL, 1, Stage.ARCHIVED)
    before = catalog_state()
    with pytest.raises(ConflictError, match="is Archived"):
        referenced.attach(MODEL, 1, model_file)
    assert catalog_state() == before


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("s3://bucket/\nmodel", "control character"),
        ("s3://" + "x" * 5000, "at most 4096"),
    ],
)
def test_a_bad_source_is_one_line_and_registers_nothing(registry: Registry, catalog_state, source: str, message: str):
    before = catalog_state()
    with pytest.raises(InvalidInput, match=message):
        registry.register(MODEL, ArtifactReference(source))
    assert catalog_state() == before


def test_a_reference_takes_no_model_format(registry: Registry, catalog_state):
    before = catalog_state()
    with pytest.raises(InvalidInput, match="neither a serialization nor a model format"):
        registry.register(MODEL, ArtifactReference(SOURCE), model_format="onnx")
    assert catalog_state() == before


def test_an_sql_edit_that_makes_a_reference_real_is_named_by_verify(
    referenced: Registry, engine: Engine, database_url: str, artifact_root: Path, model_file: Path
):
    """Bytes slipped in around the registry (a digest, a kind, a size) are not what the log registered."""
    other = referenced.register("other", model_file)
    sql(engine, "UPDATE model_versions SET artifact_kind = 'file', artifact_sha256 = :sha, artifact_size = :size, "
                "artifact_format = :format WHERE version = 1 AND model_id = "
                "(SELECT id FROM registered_models WHERE name = 'fraud')",
        sha=other.artifact_sha256, size=other.artifact_size, format='{"filename": "model.bin"}')
    lines = verify_divergences(database_url, artifact_root)
    assert any(line.startswith("model_versions fraud version 1: artifact file ") and
               line.endswith("differs from the registered reference (no digest) (event 2)") for line in lines), lines


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE model_versions SET artifact_sha256 = '' WHERE artifact_kind = 'file'",
        "UPDATE model_versions SET artifact_sha256 = :sha WHERE artifact_kind = 'reference'",
        "UPDATE model_versions SET artifact_size = 5 WHERE artifact_kind = 'reference'",
    ],
)
def test_the_database_keeps_references_without_bytes_and_others_with_a_digest(
    referenced: Registry, model_file: Path, engine: Engine, statement: str
):
    referenced.register(MODEL, model_file)
    with pytest.raises(IntegrityError):
        sql(engine, statement, sha="0" * 64)


def test_garbage_collection_keeps_working_beside_references(referenced: Registry, model_file: Path):
    referenced.register(MODEL, model_file)
    report = referenced.collect_garbage(delete=True, min_age_seconds=0)
    assert (report.blobs, report.referenced) == ([], 1)
    assert referenced.download(f"models:/{MODEL}/2", model_file.parent / "d").read_bytes() == model_file.read_bytes()


def test_the_cli_registers_a_reference_shows_it_refuses_it_and_attaches_bytes(
    registry: Registry, database_url: str, artifact_root: Path, model_file: Path, tmp_path: Path
):
    registered = registry_cli(database_url, artifact_root, "register", "My Model", SOURCE, "--reference")
    assert registered.exit_code == 0, registered.output
    assert registered.stdout.strip() == (
        f"Registered models:/My Model/1 (stage None) as a reference to {SOURCE}: no bytes until "
        "'registry attach 'My Model' 1 PATH'"
    )
    shown = registry_cli(database_url, artifact_root, "show", "models:/My Model/1")
    assert f"artifact:       reference at {SOURCE}" in shown.stdout
    assert "sha256:         - (no bytes" in shown.stdout
    refused = registry_cli(database_url, artifact_root, "download", "models:/My Model/1", str(tmp_path / "out"))
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1 and "holds no bytes" in refused.stderr
    attached = registry_cli(database_url, artifact_root, "attach", "My Model", "1", str(model_file), actor="bob")
    assert attached.exit_code == 0, attached.output
    assert attached.stdout.startswith("Attached file sha256 ")
    downloaded = registry_cli(database_url, artifact_root, "download", "models:/My Model/1", str(tmp_path / "out"))
    assert downloaded.exit_code == 0, downloaded.output
    assert (tmp_path / "out").read_bytes() == model_file.read_bytes()
    assert registry.audit_events("My Model", limit=1)[0].actor == "bob"
    assert registry_cli(database_url, artifact_root, "audit", "--verify").exit_code == 0

"""Keys under ``registry.`` belong to the registry in any case; a search filter of undecodable bytes is one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from registry_core import InvalidInput, Registry
from registry_core.cli import cli

SPELLINGS = ["registry.approved_by", "Registry.approved_by", "REGISTRY.unmet_gates", "rEgIsTrY.mlflow.source"]


@pytest.mark.parametrize("key", SPELLINGS)
def test_a_reserved_tag_key_is_refused_on_a_model_and_a_version(registry: Registry, model_file, catalog_state, key):
    registry.register("fraud", model_file)
    before = catalog_state()
    for version in (None, 1):
        with pytest.raises(InvalidInput, match="reserved"):
            registry.set_tags("fraud", {key: "mallory"}, version=version)
        with pytest.raises(InvalidInput, match="reserved"):
            registry.delete_tags("fraud", [key], version=version)
    assert catalog_state() == before


@pytest.mark.parametrize("key", SPELLINGS)
def test_a_reserved_tag_key_is_refused_at_creation_and_registration(registry: Registry, model_file, catalog_state, key):
    before = catalog_state()
    with pytest.raises(InvalidInput, match="reserved"):
        registry.create_model("fraud", tags={key: "x"})
    with pytest.raises(InvalidInput, match="reserved"):
        registry.register("fraud", model_file, tags={key: "x"})
    assert catalog_state() == before


def test_the_cli_refuses_a_reserved_tag_in_one_line(registry: Registry, model_file, database_url, artifact_root):
    registry.register("fraud", model_file)
    env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root), "REGISTRY_ACTOR": "bob"}
    result = CliRunner().invoke(cli, ["tag", "fraud", "Registry.approved_by=bob"], env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "reserved" in result.stderr
    assert registry.get_model("fraud").tags == {}


@pytest.mark.parametrize("words", [
    ["search", "models", b"name = '\xff\xfe'"],
    ["search", "versions", b"tags.team = '\xff'"],
    ["search", "models", b"name LIKE '%\xff%'"],
    ["search", "models", "--order-by", b"name\xff"],
])
def test_a_search_filter_of_undecodable_bytes_is_one_line(registry: Registry, model_file, database_url, artifact_root,
                                                            words):
    """Bytes that are not UTF-8 on the command line are refused in one line, with no traceback."""
    registry.register("fraud", model_file)
    env = {**os.environ, "REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "LC_ALL": "C.UTF-8"}
    argv = [os.fsencode(sys.executable), b"-m", b"registry_core.cli", *(w if isinstance(w, bytes) else w.encode() for w in words)]
    result = subprocess.run(argv, env=env, capture_output=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert b"Traceback" not in result.stderr
    assert result.stderr.count(b"\n") == 1 and b"not valid Unicode" in result.stderr


@pytest.mark.parametrize("key", ["registry.mlflow.source", "registry.mlflow.run_link", "registry.mlflow.model_id"])
def test_mlflow_lineage_keys_spelled_exactly_are_refused_at_registration(registry: Registry, model_file, catalog_state,
                                                                         key):
    """Only the MLflow plugin records where a version came from; a caller cannot forge it through tags."""
    before = catalog_state()
    with pytest.raises(InvalidInput, match="reserved"):
        registry.register("fraud", model_file, tags={key: "https://attacker.example/run"})
    assert catalog_state() == before


def test_the_cli_refuses_a_forged_mlflow_run_link_in_one_line(model_file, database_url, artifact_root, catalog_state):
    env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root), "REGISTRY_ACTOR": "bob"}
    before = catalog_state()
    result = CliRunner().invoke(
        cli, ["register", "fraud", str(model_file), "--tag", "registry.mlflow.run_link=https://attacker.example/run"],
        env=env, catch_exceptions=False,
    )
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "reserved" in result.stderr
    assert catalog_state() == before

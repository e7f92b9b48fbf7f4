"""The Dagster code location loads, and the registry resource opens a real catalog."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dagster import Definitions

from registry_pipelines.definitions import defs
from registry_pipelines.resources import RegistryResource


def test_definitions_load():
    """Dagster's own loadability check: unique keys and names, resolvable jobs, every resource provided."""
    Definitions.validate_loadable(defs)


def test_registry_resource_opens_catalog(tmp_path: Path):
    resource = RegistryResource(database_url=f"sqlite:///{tmp_path / 'c.db'}", artifact_root=str(tmp_path / "a"))
    with resource.open(actor="pipeline") as registry:
        assert registry.list_models() == []


def test_workspace_validates():
    """`dagster definitions validate -w workspace.yaml` accepts the repository's workspace."""
    root = Path(__file__).resolve().parents[1]
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=root, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr

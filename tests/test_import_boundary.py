"""registry_core knows nothing of Dagster, and the base package loads none of the extras' libraries.

The probes run in fresh interpreters of the full (dev) install, where every
optional library is installed, so an accidental import would show. The base
install without them is tested in test_lean_install.py.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

#: Libraries that only the extras install: the catalog, artifacts and base CLI import none of them.
OPTIONAL = ("dagster", "great_expectations", "numpy", "pandas", "prometheus_client", "s3fs", "sklearn", "starlette", "uvicorn")

COMMON = f"""
import importlib.util, json, sys

OPTIONAL = {OPTIONAL!r}

def report():
    print(json.dumps({{
        "installed": sorted(name for name in OPTIONAL if importlib.util.find_spec(name) is not None),
        "imported": sorted(
            name for name in sys.modules
            if name.partition(".")[0] in OPTIONAL or name.startswith("dagster_")
        ),
    }}))
"""

API_PROBE = COMMON + """
import registry_core
from registry_core import Registry

with Registry(sys.argv[1], sys.argv[2], actor="alice") as registry:
    registry.register("fraud", sys.argv[3])
    registry.resolve("models:/fraud/latest")
    registry.verify_audit()
report()
"""

CLI_PROBE = COMMON + """
import os
from importlib.metadata import entry_points

(entry_point,) = entry_points(group="console_scripts", name="registry")
main = entry_point.load()
os.environ.update(REGISTRY_DATABASE_URL=sys.argv[1], REGISTRY_ARTIFACT_ROOT=sys.argv[2], REGISTRY_ACTOR="alice")
model, workdir = sys.argv[3], sys.argv[4]
commands = [
    ["db", "upgrade"],
    ["db", "status"],
    ["register", "fraud", model, "--metric", "auc=0.9", "--tag", "owner=risk"],
    ["models"],
    ["versions", "fraud"],
    ["check", "fraud", "1", "smoke", "--passed"],
    ["approve", "fraud", "1", "--actor", "bob"],
    ["transition", "fraud", "1", "Staging"],
    ["promote", "fraud", "1", "--reason", "first"],
    ["register", "fraud", model, "--description", "second"],
    ["transition", "fraud", "2", "Staging"],
    ["reject", "fraud", "2", "--actor", "bob", "--comment", "no"],
    ["alias", "fraud", "champion", "1"],
    ["tag", "fraud", "team=risk"],
    ["describe", "fraud", "fraud model"],
    ["policy", "fraud", "--approvals", "1"],
    ["show", "models:/fraud/Production"],
    ["show", "models:/fraud"],
    ["download", "models:/fraud@champion", workdir + "/downloaded.bin"],
    ["gc"],
    ["audit", "fraud"],
    ["audit", "--action", "version.promote"],
    ["history", "fraud"],
    ["audit", "--verify"],
    ["webhook", "add", "http://127.0.0.1:9/hook", "--event", "all", "--secret", "s" * 32, "--model", "other"],
    ["webhook", "list"],
    ["webhook", "deliveries", "1"],
    ["webhook", "deliver", "--once"],
    ["webhook", "remove", "1"],
]
failures = []
for argv in commands:
    sys.argv = ["registry", *argv]
    try:
        main()
    except SystemExit as exit:
        if exit.code not in (0, None):
            failures.append(argv)
print(json.dumps({"failures": failures}))
report()
"""


def probe(code: str, *args: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.strip().splitlines() if line.startswith("{")]


def test_using_registry_core_imports_no_optional_library(tmp_path: Path, model_file: Path):
    """In a fresh interpreter, importing and using registry_core leaves dagster and the extras unimported (though installed)."""
    (outcome,) = probe(API_PROBE, f"sqlite:///{tmp_path / 'catalog.db'}", str(tmp_path / "artifacts"), str(model_file))
    assert outcome["installed"] == sorted(OPTIONAL), "the probe proves nothing unless they could have been imported"
    assert outcome["imported"] == []


def test_base_cli_commands_import_no_optional_library(tmp_path: Path, model_file: Path):
    """Every command of the base CLI (all but serve) runs without importing dagster or an extra's library."""
    *lines, outcome = probe(
        CLI_PROBE, f"sqlite:///{tmp_path / 'catalog.db'}", str(tmp_path / "artifacts"), str(model_file), str(tmp_path),
    )
    assert lines[-1]["failures"] == []
    assert outcome["installed"] == sorted(OPTIONAL)
    assert outcome["imported"] == []


def test_importing_registry_core_loads_no_database_code():
    """`import registry_core` is cheap: its public names resolve on first use, not at import."""
    probe = (
        "import json, sys, registry_core; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic', 'psycopg') "
        "or m in ('registry_core.registry', 'registry_core.database', 'registry_core.schema'))))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_every_public_name_resolves_to_its_module():
    """Each name in registry_core.__all__ is the object its submodule defines."""
    import importlib

    import registry_core

    for name in registry_core.__all__:
        module = importlib.import_module(f"registry_core.{registry_core._EXPORTS[name]}")
        assert getattr(registry_core, name) is getattr(module, name), name
    assert set(registry_core._EXPORTS) == set(registry_core.__all__)
    assert set(registry_core.__all__) <= set(dir(registry_core))


#: What each package may never import, lazily or not: the orchestrators stay out of each other's way.
FORBIDDEN_IMPORTS = {
    "registry_core": ("dagster", "airflow", "registry_lifecycle", "registry_pipelines", "registry_airflow"),
    "registry_lifecycle": ("dagster", "airflow", "registry_pipelines", "registry_airflow"),
    "registry_pipelines": ("airflow", "registry_airflow"),
    "registry_airflow": ("dagster", "registry_pipelines"),
    "examples/airflow": ("dagster", "registry_pipelines"),
}


def imported_roots(path: Path) -> set[str]:
    """The top-level package of every absolute import in ``path``, inside functions included."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            roots.add(node.module.partition(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_each_package_imports_only_its_own_orchestrator(package: str):
    """registry_airflow imports no Dagster, registry_pipelines no Airflow, registry_core and registry_lifecycle neither."""
    root = Path(__file__).resolve().parents[1]
    files = sorted((root / package).rglob("*.py"))
    assert files
    crossings = {
        str(path.relative_to(root)): sorted(imported_roots(path) & set(FORBIDDEN_IMPORTS[package])) for path in files
    }
    assert {name: found for name, found in crossings.items() if found} == {}

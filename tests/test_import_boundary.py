"""registry_core knows nothing of Dagster: the dependency points from registry_pipelines to registry_core only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import importlib.util, json, sys
import registry_core
from registry_core import Registry

with Registry(sys.argv[1], sys.argv[2], actor="alice") as registry:
    registry.register("fraud", sys.argv[3])
    registry.resolve("models:/fraud/latest")
    registry.verify_audit()

print(json.dumps({
    "dagster_installed": importlib.util.find_spec("dagster") is not None,
    "imported": sorted(name for name in sys.modules if name == "dagster" or name.startswith(("dagster.", "dagster_"))),
}))
"""


def test_using_registry_core_does_not_import_dagster(tmp_path: Path, model_file: Path):
    """In a fresh interpreter, importing and using registry_core leaves dagster unimported (though installed)."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, f"sqlite:///{tmp_path / 'catalog.db'}", str(tmp_path / "artifacts"), str(model_file)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["dagster_installed"], "the probe proves nothing unless dagster could have been imported"
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

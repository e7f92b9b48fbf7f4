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

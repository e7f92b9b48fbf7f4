"""Run MLflow's own model-registry tests against the registry's store plugin and MLflow's SQL store.

Usage: python compat/mlflow_suite.py PATH_TO_MLFLOW_CHECKOUT [--timeout SECONDS]

PATH_TO_MLFLOW_CHECKOUT holds MLflow's ``tests/`` tree. The script writes a
pytest plugin that points the selected tests' store fixtures at a fresh
``registry+sqlite://`` catalog (run "plugin") or at MLflow's own ``sqlite://``
store (run "baseline"), runs both selections, classifies each test and prints
a Markdown table. Test bodies are never changed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

SELECTION = [
    "tests/store/model_registry/test_sqlalchemy_store.py",
    "tests/tracking/test_model_registry.py",
    "tests/tracking/_model_registry/test_model_registry_fluent.py",
    "tests/tracking/test_client_webhooks.py",
    "tests/tracking/test_rest_tracking.py",
]
REST_FILTER = "registered_model or model_version or registry or alias"

PLUGIN = '''
import os, uuid, pytest
SCHEME = os.environ["SUITE_SCHEME"]

def _uri(tmp_path):
    return f"{SCHEME}:///{tmp_path / ('c-' + uuid.uuid4().hex + '.db')}"

def pytest_collection_modifyitems(items):
    """Point the test modules' own ``store`` fixture at the selected store."""
    for item in items:
        for fixturedef in getattr(item, "_fixtureinfo").name2fixturedefs.get("store", ()):
            if fixturedef.func is not _own_store:
                fixturedef.func = _own_store

def _own_store(tmp_path, **_):
    from mlflow.tracking._model_registry.utils import _get_store
    yield _get_store(_uri(tmp_path))

@pytest.fixture(autouse=True)
def _registry_uri(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", _uri(tmp_path))
'''

# Our refusal texts (registry_core/mlflow_store/refusals.py, errors.py) -> group name.
REFUSALS = {
    "(MLflow webhooks)": "webhooks",
    "(MLflow prompts)": "prompts",
    "prompts are not governed models": "prompts",
}


def _run(tests: Path, scheme: str, out: Path, timeout: int) -> dict[str, tuple[str, str]]:
    plugin_dir = Path(tempfile.mkdtemp(prefix="suite-"))
    (plugin_dir / "suite_override.py").write_text(PLUGIN)
    xml = out / f"{scheme.replace('+', '_')}.xml"
    cmd = [sys.executable, "-m", "pytest", *SELECTION, "-k", f"not test_rest_tracking or ({REST_FILTER})",
           "-p", "suite_override", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}"]
    env = {**os.environ, "SUITE_SCHEME": scheme, "PYTHONPATH": str(plugin_dir)}
    subprocess.run(cmd, cwd=tests, env=env, timeout=timeout, check=False)
    results: dict[str, tuple[str, str]] = {}
    for case in ET.parse(xml).iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome, text = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                text = (node.get("message") or "") + (node.text or "")
        results[name] = (outcome, text)
    return results


def classify(plugin: dict[str, tuple[str, str]], baseline: dict[str, tuple[str, str]]) -> Counter[str]:
    """Count each plugin result as passed, skipped, skew, refused (by group) or genuine."""
    counts: Counter[str] = Counter()
    for name, (outcome, text) in plugin.items():
        if outcome != "failed":
            counts[outcome] += 1
        elif baseline.get(name, ("failed", ""))[0] == "failed":
            counts["failed in both (skew)"] += 1
        else:
            group = next((g for marker, g in REFUSALS.items() if marker in text), None)
            counts[f"refused: {group}" if group else "genuine incompatibility"] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("--timeout", type=int, default=3600)
    args = parser.parse_args()
    if not (args.checkout / "tests").is_dir():
        print(f"error: {args.checkout} has no tests/ folder", file=sys.stderr)
        return 2
    out = Path(tempfile.mkdtemp(prefix="suite-out-"))
    start = time.monotonic()
    baseline = _run(args.checkout, "sqlite", out, args.timeout)
    plugin = _run(args.checkout, "registry+sqlite", out, args.timeout)
    print("| result | tests |\n|---|---|")
    for key, n in sorted(classify(plugin, baseline).items()):
        print(f"| {key} | {n} |")
    print(f"\nTime: {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The base package, installed without extras into a fresh virtual environment, runs the whole catalog lifecycle.

One virtual environment (no system site packages) is built for the module
with ``pip install <a copy of this project>``: the base dependencies only.
Every test then drives that environment's ``registry`` command or Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_core import Registry

REPO = Path(__file__).resolve().parents[1]
#: What building and installing the project needs from the work tree.
PROJECT_FILES = ("pyproject.toml", "README.md")
PROJECT_PACKAGES = ("registry_core", "registry_pipelines")
#: Libraries that only the extras install.
OPTIONAL = (
    "dagster", "great_expectations", "numpy", "pandas", "prometheus_client", "s3fs", "skops", "sklearn", "starlette", "uvicorn",
)

Run = Callable[..., subprocess.CompletedProcess]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would let the test's own install leak into the lean one."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env = {k: v for k, v in env.items() if not k.startswith("REGISTRY_")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def lean_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the project's base install and nothing else."""
    root = tmp_path_factory.mktemp("lean")
    # Installing a copy keeps the build's build/ and egg-info out of the work tree.
    source = root / "source"
    source.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(REPO / name, source / name)
    for package in PROJECT_PACKAGES:
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=clean_env(), cwd=root)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        capture_output=True, text=True, timeout=240, env=clean_env(), cwd=root, check=False,
    )
    assert installed.returncode == 0, f"pip install of the base package failed:\n{installed.stdout}{installed.stderr}"
    return venv


@pytest.fixture
def catalog(tmp_path: Path) -> dict[str, str]:
    """The environment variables of a fresh SQLite catalog and artifact folder, acting as 'alice'."""
    return {
        "REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path / 'catalog.db'}",
        "REGISTRY_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "REGISTRY_ACTOR": "alice",
    }


@pytest.fixture
def registry_cli(lean_venv: Path, catalog: dict[str, str], tmp_path: Path) -> Run:
    """Run the lean environment's ``registry ARGS...`` on the test's catalog."""

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(lean_venv / "bin" / "registry"), *args],
            capture_output=True, text=True, timeout=60, env=clean_env(**catalog), cwd=tmp_path, check=False,
        )

    return run


@pytest.fixture
def lean_python(lean_venv: Path, catalog: dict[str, str], tmp_path: Path) -> Run:
    """Run Python code in the lean environment, with the test's catalog in the environment."""

    def run(code: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(lean_venv / "bin" / "python"), "-c", code, *args],
            capture_output=True, text=True, timeout=60, env=clean_env(**catalog), cwd=tmp_path, check=False,
        )

    return run


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stdout}{result.stderr}"
    return result.stdout


def test_base_install_holds_no_optional_library(lean_python: Run):
    """The environment really lacks what the extras add, so the other tests prove the base package does without them."""
    found = ok(lean_python(
        "import importlib.util, json, sys; "
        "print(json.dumps(sorted(m for m in sys.argv[1:] if importlib.util.find_spec(m) is not None)))",
        *OPTIONAL,
    ))
    assert json.loads(found) == []


def test_cli_lifecycle_runs_on_the_base_install(registry_cli: Run, model_file: Path):
    """Register, check, approve as someone else, Staging, promote, show and verify: all with the base package."""
    ok(registry_cli("register", "fraud", str(model_file), "--metric", "auc=0.91"))
    ok(registry_cli("check", "fraud", "1", "smoke", "--passed"))
    ok(registry_cli("approve", "fraud", "1", "--actor", "bob"))
    ok(registry_cli("transition", "fraud", "1", "Staging"))
    ok(registry_cli("promote", "fraud", "1", "--reason", "first release"))
    shown = json.loads(ok(registry_cli("show", "models:/fraud/Production", "--json")))
    assert (shown["version"]["version"], shown["version"]["stage"]) == (1, "Production")
    assert [d["approver"] for d in shown["decisions"]] == ["bob"]
    assert json.loads(ok(registry_cli("audit", "--verify", "--json")))["intact"] is True


def test_serve_names_the_serve_extra(registry_cli: Run):
    """Without the [serve] extra, registry serve exits 1 with one line saying how to install it."""
    result = registry_cli("serve", "models:/fraud/Production")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "registry: error: registry serve needs the [serve] extra: pip install 'dagster-model-registry[serve]'"
    ]


USE_REGISTRY = """
import json, sys
import registry_core
from registry_core import InvalidInput, Registry

with Registry() as registry:
    registry.register("fraud", sys.argv[1], metrics={"auc": 0.9})
    registry.transition("fraud", 1, "Staging")
    registry.as_actor("bob").approve("fraud", 1)
    registry.promote("fraud", 1)
    assert registry.resolve("models:/fraud/Production").version == 1
    registry.download("models:/fraud/1", sys.argv[2])
    for refused in (lambda: registry.register("fraud", object()), lambda: registry.load_model("models:/fraud/1")):
        try:
            refused()
        except InvalidInput:
            pass
        else:
            raise AssertionError("expected InvalidInput")
    assert registry.verify_audit().intact

print(json.dumps(sorted(name for name in sys.modules if name.partition(".")[0] in sys.argv[3:])))
"""


def test_using_registry_core_imports_no_optional_library(lean_python: Run, model_file: Path, tmp_path: Path):
    """import registry_core and a lifecycle through the API load nothing an extra would provide."""
    imported = ok(lean_python(USE_REGISTRY, str(model_file), str(tmp_path / "downloaded.bin"), *OPTIONAL))
    assert json.loads(imported) == []
    assert (tmp_path / "downloaded.bin").read_bytes() == model_file.read_bytes()


NAME_THE_EXTRA = """
import sys
from registry_core import RegistryError

try:
    exec(sys.argv[1])
except RegistryError as error:
    assert isinstance(error, ImportError), "a missing extra is also an ImportError"
    print(error.message)
"""


@pytest.mark.parametrize(
    ("code", "extra"),
    [
        ("import registry_core.serving", "serve"),
        ("import registry_pipelines", "dagster"),
        ("from registry_core import open_store; open_store('s3://models/registry')", "s3"),
    ],
    ids=["serving", "pipelines", "s3-store"],
)
def test_features_needing_an_extra_name_it(lean_python: Run, code: str, extra: str):
    """Using a part that needs an extra raises a registry error whose message installs it."""
    message = ok(lean_python(NAME_THE_EXTRA, code)).strip()
    assert message.endswith(f"needs the [{extra}] extra: pip install 'dagster-model-registry[{extra}]'"), message


def test_loading_an_estimator_names_the_sklearn_extra(lean_python: Run, catalog: dict[str, str]):
    """A scikit-learn model registered elsewhere cannot be loaded without the [sklearn] extra, and the error says so."""
    from sklearn.dummy import DummyClassifier

    with Registry(catalog["REGISTRY_DATABASE_URL"], catalog["REGISTRY_ARTIFACT_ROOT"], actor="alice") as registry:
        registry.register("fraud", DummyClassifier().fit([[0], [1]], [0, 1]))
    message = ok(lean_python(NAME_THE_EXTRA, "from registry_core import Registry; Registry().load_model('models:/fraud/1')"))
    assert message.strip() == (
        "loading models:/fraud/1 (a scikit-learn model) needs the [sklearn] extra: "
        "pip install 'dagster-model-registry[sklearn]'"
    )

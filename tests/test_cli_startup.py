"""What the command line imports: help needs no database code, and reading an up-to-date catalog needs no Alembic.

Each probe runs in a fresh interpreter, so that nothing this test session
imported already hides an import. The speed itself is measured by
benchmarks/cli_startup_benchmark.py, not asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
from registry_core.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print(json.dumps({"exit": code, "modules": sorted(sys.modules)}))
"""

#: Modules whose import `registry --help` must not pay for.
HEAVY = (
    "sqlalchemy", "alembic", "psycopg", "fsspec", "httpx", "dagster",
    "registry_core.registry", "registry_core.database", "registry_core.schema", "registry_core.audit",
    "registry_core.artifacts", "registry_core.blobstore", "registry_core.webhooks", "registry_core.serving",
)


def probe(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[str], str]:
    """Run ``registry ARGS`` in a fresh interpreter; return its exit code, its imported modules and its output."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, check=False, env=env,
    )
    assert result.stdout.strip(), result.stderr
    *output, last = result.stdout.strip().splitlines()
    outcome = json.loads(last)
    return outcome["exit"], outcome["modules"], "\n".join(output)


def heavy(modules: list[str], names: tuple[str, ...] = HEAVY) -> list[str]:
    return [m for m in modules if any(m == name or m.startswith(name + ".") for name in names)]


@pytest.mark.parametrize(
    "command",
    [(), ("show",), ("register",), ("db",), ("db", "upgrade"), ("webhook", "deliver"), ("serve",)],
    ids=lambda command: " ".join(command) or "registry",
)
def test_help_imports_no_database_code(command: tuple[str, ...]):
    """`registry [COMMAND] --help` prints its help without importing SQLAlchemy, Alembic, psycopg or the registry."""
    code, modules, output = probe(*command, "--help")
    assert code == 0
    assert "Usage: registry" in output
    assert heavy(modules) == []


def test_show_on_an_up_to_date_catalog_loads_no_alembic(tmp_path: Path, model_file: Path):
    """`registry show` on a catalog at the newest schema loads neither Alembic nor the other commands' modules."""
    from registry_core import Registry

    database_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    with Registry(database_url, tmp_path / "artifacts", actor="alice") as registry:
        registry.register("fraud", model_file)
    code, modules, output = probe(
        "--db", database_url, "--artifacts", str(tmp_path / "artifacts"), "show", "models:/fraud/1",
    )
    assert code == 0
    assert "models:/fraud/1" in output
    assert heavy(modules, ("alembic", "mako", "registry_core.serving", "dagster")) == []
    assert [m for m in modules if m.startswith("registry_core.cli.")] == [
        "registry_core.cli.app", "registry_core.cli.context", "registry_core.cli.render", "registry_core.cli.versions",
    ]


def test_command_table_names_the_module_of_every_command():
    """The lazily loaded group's table and the command modules agree on which command lives where."""
    import importlib

    from registry_core.cli import cli
    from registry_core.cli.app import COMMAND_MODULES

    defined = {
        command.name: module
        for module in set(COMMAND_MODULES.values())
        for command in importlib.import_module(f"registry_core.cli.{module}").COMMANDS
    }
    assert defined == COMMAND_MODULES
    assert cli.list_commands(None) == sorted(COMMAND_MODULES)

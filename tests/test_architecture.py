"""The shape of the code: registry_core's modules import each other without cycles, and no module grows past ~400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("registry_core", "registry_lifecycle", "registry_pipelines", "registry_airflow")
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """Modules ``module`` depends on at its top level, type-only imports (``if TYPE_CHECKING:``) included.

    Imports inside functions are left out: they are the deliberate, lazy ones.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(ast.parse(path.read_text(), filename=str(path)).body)
    return found


def _graph(package: str) -> dict[str, set[str]]:
    """Import edges between the package's plain modules (package ``__init__`` files are where cycles are allowed)."""
    modules = {
        _module_name(path): path
        for path in (ROOT / package).rglob("*.py")
        if path.name != "__init__.py" and "migrations" not in path.parts
    }
    return {name: _imports(path, name) & modules.keys() for name, path in modules.items()}


def test_registry_core_has_no_import_cycle():
    """Following imports (type-only ones too) from any registry_core module never leads back to it."""
    graph = _graph("registry_core")
    assert len(graph) > 20, "the graph must see the package's modules"
    done: set[str] = set()

    def walk(node: str, path: list[str]) -> None:
        if node in path:
            cycle = path[path.index(node):] + [node]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if node in done:
            return
        for target in sorted(graph[node]):
            walk(target, [*path, node])
        done.add(node)

    for module in sorted(graph):
        walk(module, [])


def test_the_facade_delegates_to_modules_by_concern():
    """registry.py imports the modules that hold each concern instead of holding them itself."""
    imports = _graph("registry_core")["registry_core.registry"]
    for concern in ("versions", "workflow", "governance", "labels", "queries", "garbage"):
        assert f"registry_core.{concern}" in imports


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_is_over_400_lines(package: str):
    """Modules stay small enough to read in one sitting; split by concern instead of growing one."""
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in (ROOT / package).rglob("*.py")
    }
    assert sizes
    too_long = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"

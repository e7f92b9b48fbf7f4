"""Reads run a bounded number of statements, whatever the number of models, versions, tags, checks or events."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from registry_core import Registry


@contextlib.contextmanager
def counting(registry: Registry) -> Iterator[Callable[[], int]]:
    """Count the SQL statements the registry sends while the block runs."""
    count = [0]

    def on_execute(*_args: object) -> None:
        count[0] += 1

    event.listen(registry.db.engine, "before_cursor_execute", on_execute)
    try:
        yield lambda: count[0]
    finally:
        event.remove(registry.db.engine, "before_cursor_execute", on_execute)


def statements(registry: Registry, call: Callable[[], object]) -> int:
    with counting(registry) as counted:
        call()
    return counted()


def grow(registry: Registry, model_file: Path, *, models: int, versions: int) -> None:
    """Up to ``models`` models with tags and an alias, each given ``versions`` more versions with tags, checks,
    decisions and stage changes."""
    existing = {model.name for model in registry.list_models()}
    for m in range(models):
        name = f"m{m}"
        if name not in existing:
            registry.create_model(name, tags={"team": "risk", "index": str(m)})
        for _ in range(versions):
            number = registry.register(name, model_file, tags={"a": "1", "b": "2"}).version
            registry.record_check(name, number, "smoke", passed=True)
            registry.record_check(name, number, "smoke", passed=True)
            registry.as_actor("bob").approve(name, number)
            registry.transition(name, number, "Staging")
        registry.set_alias(name, "champion", 1)


#: The reads measured, each on the same catalog small and then grown.
READS: dict[str, Callable[[Registry], object]] = {
    "list_models": lambda r: r.list_models(),
    "get_model": lambda r: r.get_model("m0"),
    "list_versions": lambda r: r.list_versions("m0"),
    "show": lambda r: r.show("models:/m0/1"),
    "show_versions": lambda r: r.show_versions("m0", range(1, 100)),
    "resolve": lambda r: r.resolve("models:/m0/Staging"),
    "audit_events": lambda r: r.audit_events("m0", limit=1000),
}


@pytest.fixture(scope="module")
def counts(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[int]]:
    """The statements each read sends on a small catalog and on the same catalog grown: grown once per database.

    The reads change nothing, so they share the catalog; each is measured in the same order at both sizes.
    """
    folder = tmp_path_factory.mktemp("statement-counts")
    model_file = folder / "model.bin"
    model_file.write_bytes(b"model weights v1")
    counted: dict[str, list[int]] = {label: [] for label in READS}
    with Registry(module_database_url, folder / "artifacts", actor="alice") as registry:
        for models, versions in ((2, 2), (6, 6)):
            grow(registry, model_file, models=models, versions=versions)
            for label, call in READS.items():
                counted[label].append(statements(registry, lambda call=call: call(registry)))
    return counted


@pytest.mark.parametrize("label", list(READS))
def test_reads_send_the_same_statements_for_a_small_and_a_large_catalog(label: str, counts: dict[str, list[int]]):
    """The statement count of a read does not grow with the catalog."""
    assert 0 < counts[label][0] == counts[label][1], f"{label}: {counts[label]}"

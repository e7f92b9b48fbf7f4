"""Every call of the MLflow plugin costs the same number of SQL statements on a small catalog and on a larger one:
more models, versions, tags, aliases, checks and approvals never add a statement."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
from sqlalchemy import event

from registry_core import Registry
from registry_core.mlflow_store import RegistryStore

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@dataclass(frozen=True)
class Size:
    models: int
    versions: int
    tags: int
    aliases: int


SMALL = Size(models=2, versions=2, tags=1, aliases=1)
LARGE = Size(models=6, versions=14, tags=8, aliases=6)


def _build(folder: Path, size: Size) -> RegistryStore:
    """``size.models`` models, each with tags, versions (tagged, checked, approved; 1 in Production, the others
    in Staging but the last) and aliases on version 1."""
    url = f"sqlite:///{folder / 'catalog.db'}"
    artifact = folder / "model.bin"
    artifact.write_bytes(b"weights")
    tags = {f"t{i}": "value" for i in range(size.tags)}
    with Registry(url, folder / "artifacts", actor="alice") as registry:
        for m in range(size.models):
            name = f"m{m}"
            registry.create_model(name, tags=tags)
            for _ in range(size.versions):
                number = registry.register(name, artifact, tags=tags).version
                registry.record_check(name, number, "smoke", passed=True)
                registry.as_actor("bob").approve(name, number)
                if number < size.versions:
                    registry.transition(name, number, "Staging")
            registry.promote(name, 1, reason="first")
            for a in range(size.aliases):
                registry.set_alias(name, f"alias-{a}", 1)
            registry.set_alias(name, "champion", 1)
    return RegistryStore(f"registry+{url}")


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[Size, RegistryStore], str]]:
    """The two catalogs, built once for the module, and a model folder to register; each call below leaves them
    as it found them, or changes both alike."""
    patch = pytest.MonkeyPatch()
    built: dict[Size, RegistryStore] = {}
    for size in (SMALL, LARGE):
        folder = tmp_path_factory.mktemp("statements")
        patch.setenv("REGISTRY_ARTIFACT_ROOT", str(folder / "artifacts"))
        built[size] = _build(folder, size)
    source = tmp_path_factory.mktemp("source")
    (source / "MLmodel").write_text("flavors: {}\n")
    yield built, str(source)
    patch.undo()


def _statements(store: RegistryStore, call: Callable[[RegistryStore, str], Any], source: str) -> int:
    count = [0]

    def on_execute(*_args: object) -> None:
        count[0] += 1

    engine = store.registry.db.engine
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        call(store, source)
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    return count[0]


def _tags_round_trip(store: RegistryStore, _source: str) -> None:
    store.set_registered_model_tag("m1", RegisteredModelTag("note", "x"))
    store.delete_registered_model_tag("m1", "note")
    store.set_model_version_tag("m1", 1, ModelVersionTag("note", "x"))
    store.delete_model_version_tag("m1", 1, "note")


def _alias_round_trip(store: RegistryStore, _source: str) -> None:
    store.set_registered_model_alias("m1", "spare", 2)
    store.delete_registered_model_alias("m1", "spare")
    store.delete_registered_model_alias("m1", "spare")  # missing now: a no-op, as in MLflow


CALLS: dict[str, Callable[[RegistryStore, str], Any]] = {
    "get_registered_model": lambda s, _: s.get_registered_model("m0"),
    "search_registered_models": lambda s, _: s.search_registered_models(max_results=100),
    "search_registered_models by tag": lambda s, _: s.search_registered_models("tags.t0 = 'value'", max_results=100),
    "get_latest_versions(Production)": lambda s, _: s.get_latest_versions("m0", ["Production"]),
    "get_latest_versions()": lambda s, _: s.get_latest_versions("m0"),
    "get_model_version": lambda s, _: s.get_model_version("m0", 1),
    "get_model_version_download_uri": lambda s, _: s.get_model_version_download_uri("m0", 1),
    "search_model_versions of a model": lambda s, _: s.search_model_versions("name = 'm0'", max_results=1000),
    "search_model_versions of every model": lambda s, _: s.search_model_versions(max_results=1000),
    "get_model_version_by_alias": lambda s, _: s.get_model_version_by_alias("m0", "champion"),
    "get_model_version_by_alias(latest)": lambda s, _: s.get_model_version_by_alias("m0", "latest"),
    "tags set and deleted": _tags_round_trip,
    "alias set and deleted": _alias_round_trip,
    "update_registered_model": lambda s, _: s.update_registered_model("m1", "described"),
    "update_model_version": lambda s, _: s.update_model_version("m1", 1, "described"),
    "create_registered_model": lambda s, _: s.create_registered_model("new-model"),
    "create_model_version": lambda s, source: s.create_model_version("m1", source),
    "transition to Archived": lambda s, _: s.transition_model_version_stage("m1", 2, "Archived"),
}


@pytest.mark.parametrize("label", list(CALLS))
def test_a_plugin_call_costs_the_same_statements_at_either_size(
    stores: tuple[dict[Size, RegistryStore], str], label: str
):
    """The same call sends as many statements to a catalog of 2 models x 2 versions as to one of 6 x 14."""
    built, source = stores
    counts = {size: _statements(store, CALLS[label], source) for size, store in built.items()}
    assert counts[SMALL] == counts[LARGE], counts

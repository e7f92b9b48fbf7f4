"""Search side by side: the same data in MLflow's own SqlAlchemyStore (a SQLite file) and in the catalog.

Every filter, ordering and page size below must give the same models or
versions, in the same order, split into the same pages.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
from mlflow.exceptions import MlflowException
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

from registry_core.mlflow_store import RegistryStore

MODELS = {
    "alpha": {"team": "risk", "tier": "gold"},
    "Beta": {"team": "Risk"},
    "beta-2": {"team": "risk", "k.x": "value-1"},
    "gamma.x": {},
    "delta_1": {"team": "ops"},
}
#: (model, run id, version tags), registered in this order.
VERSIONS = [
    ("alpha", "r1", {"kind": "rf"}),
    ("Beta", "r3", {"kind": "gbm"}),
    ("alpha", "r2", {}),
    ("beta-2", "r2", {"kind": "rf", "owner": "bob"}),
    ("alpha", "r1", {"kind": "RF"}),
    ("delta_1", None, {}),
    ("beta-2", "r4", {"kind": "rf"}),
]

MODEL_FILTERS = [
    None,
    "name = 'alpha'",
    "name != 'alpha'",
    "name LIKE 'b%'",
    "name ILIKE 'b%'",
    "name LIKE '%a_%'",
    "name IN ('alpha', 'Beta', 'nope')",
    "name NOT IN ('alpha')",
    "tags.team = 'risk'",
    "tags.team ILIKE 'RISK'",
    "tags.team != 'risk'",
    "tags.`k.x` LIKE 'value%'",
    "tags.team = 'risk' AND name LIKE '%2'",
    "tags.team = 'risk' AND tags.tier = 'gold'",
    "tags.`mlflow.prompt.is_prompt` != 'true'",
    "tags.`mlflow.prompt.is_prompt` = 'true'",
    "tags.`mlflow.prompt.is_prompt` = 'false' AND name LIKE 'b%'",
]
MODEL_ORDERS = [None, ["name DESC"], ["last_updated_timestamp DESC"], ["timestamp ASC", "name DESC"]]
VERSION_FILTERS = [
    None,
    "name = 'alpha'",
    "name = 'alpha' AND version_number > 1",
    "version_number >= 2",
    "run_id IN ('r1', 'r3')",
    "run_id = 'r2'",
    "name ILIKE 'BETA%'",
    "name IN ('alpha', 'delta_1')",
    "tags.kind = 'rf'",
    "tags.kind LIKE 'r%'",
    "tags.kind ILIKE 'r%' AND tags.owner = 'bob'",
    "tags.`mlflow.prompt.is_prompt` != 'true' AND name = 'alpha'",
]
VERSION_ORDERS = [
    None,
    ["version_number ASC"],
    ["creation_timestamp ASC", "name DESC"],
    ["name ASC", "version_number ASC"],
    ["last_updated_timestamp ASC"],
]


@pytest.fixture
def stores(
    database_url: str, tmp_path: Path, mlflow_database_template: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, RegistryStore]]:
    """MLflow's SQL store (on a copy of the session's migrated MLflow database) and ours, filled alike in the same order."""
    monkeypatch.setenv("REGISTRY_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    shutil.copyfile(mlflow_database_template, tmp_path / "mlflow-registry.db")
    reference = SqlAlchemyStore(f"sqlite:///{tmp_path / 'mlflow-registry.db'}")
    ours = RegistryStore(f"registry+{database_url}")
    sources: dict[str, str] = {}
    for name, tags in MODELS.items():
        for store in (reference, ours):
            store.create_registered_model(name, tags=[RegisteredModelTag(k, v) for k, v in tags.items()])
        time.sleep(0.003)  # distinct milliseconds: ties would be broken differently by the two clocks
    for number, (name, run_id, tags) in enumerate(VERSIONS):
        folder = sources.setdefault(name, str(tmp_path / "sources" / name))
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "MLmodel").write_text(f"flavors: {{}}\nnumber: {number}\n")
        for store in (reference, ours):
            store.create_model_version(name, folder, run_id=run_id, tags=[ModelVersionTag(k, v) for k, v in tags.items()])
        time.sleep(0.003)
    yield reference, ours
    ours.registry.close()


def _pages(search: Any, **kwargs: Any) -> list[list[Any]]:
    pages, token = [], None
    while True:
        page = search(page_token=token, **kwargs)
        pages.append([(item.name, getattr(item, "version", None)) for item in page])
        token = page.token
        if not token:
            return pages
        assert len(pages) < 50, "pagination does not end"


def _mismatches(reference: Any, ours: Any, method: str, filters: list[Any], orders: list[Any], sizes: tuple[int, ...]) -> list[str]:
    found = []
    for filter_string in filters:
        for order_by in orders:
            for max_results in sizes:
                kwargs = {"filter_string": filter_string, "order_by": order_by, "max_results": max_results}
                expected = _pages(getattr(reference, method), **kwargs)
                actual = _pages(getattr(ours, method), **kwargs)
                if actual != expected:
                    found.append(f"{kwargs}: MLflow {expected}, ours {actual}")
    return found


def test_registered_model_search_matches_mlflow(stores):
    """Every filter and ordering gives the same models, in the same order, in the same pages of two."""
    mismatches = _mismatches(*stores, "search_registered_models", MODEL_FILTERS, MODEL_ORDERS, (2, 100))
    assert mismatches == []


def test_model_version_search_matches_mlflow(stores):
    """Every filter and ordering gives the same versions, in the same order, in the same pages of three."""
    mismatches = _mismatches(*stores, "search_model_versions", VERSION_FILTERS, VERSION_ORDERS, (3, 1000))
    assert mismatches == []


INVALID_SEARCHES = [
    ("search_registered_models", {"filter_string": "description = 'x'"}),
    ("search_registered_models", {"order_by": ["size DESC"]}),
    ("search_registered_models", {"max_results": 5000}),
    ("search_model_versions", {"filter_string": "tags.kind IN ('rf')"}),
    ("search_model_versions", {"filter_string": "version_number = 'one'"}),
    ("search_model_versions", {"max_results": 0}),
]


def test_invalid_searches_are_refused_like_mlflow(stores):
    """Unknown attributes and keys, bad comparators and page sizes are INVALID_PARAMETER_VALUE in both."""
    for method, kwargs in INVALID_SEARCHES:
        for store in stores:
            with pytest.raises(MlflowException) as refused:
                getattr(store, method)(**kwargs)
            assert refused.value.error_code == "INVALID_PARAMETER_VALUE", (method, kwargs, store)


def test_latest_versions_match_mlflow(stores):
    """get_latest_versions and the model's latest_versions name the same highest version per stage."""
    reference, ours = stores
    for store in (reference, ours):
        store.transition_model_version_stage("alpha", "1", "Staging", archive_existing_versions=False)
        store.transition_model_version_stage("alpha", "3", "Staging", archive_existing_versions=False)
    for stages in (None, ["Staging"], ["None", "staging"]):
        expected = sorted((v.current_stage, v.version) for v in reference.get_latest_versions("alpha", stages))
        assert sorted((v.current_stage, v.version) for v in ours.get_latest_versions("alpha", stages)) == expected
    expected = sorted((v.current_stage, v.version) for v in reference.get_registered_model("alpha").latest_versions)
    assert sorted((v.current_stage, v.version) for v in ours.get_registered_model("alpha").latest_versions) == expected

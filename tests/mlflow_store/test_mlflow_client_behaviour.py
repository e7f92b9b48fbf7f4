"""MLflow's client-facing registry behaviours hold on the catalog: create, get, search, pages, tags, aliases, latest."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.tracking._model_registry.utils import _get_store

from registry_core.mlflow_store import RegistryStore

from .conftest import MlflowSetup

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _register(client: MlflowClient, folder: Path, name: str, count: int) -> None:
    folder.mkdir(exist_ok=True)
    for number in range(count):
        (folder / "MLmodel").write_text(f"flavors: {{}}\nnumber: {number}\n")
        client.create_model_version(name, str(folder), run_id=f"run-{number}")


def test_create_and_get_a_model_with_tags_and_description(mlflow_setup: MlflowSetup):
    client = MlflowClient()
    created = client.create_registered_model("fraud", tags={"team": "risk"}, description="scores payments")
    fetched = client.get_registered_model("fraud")
    assert created.name == fetched.name == "fraud"
    assert fetched.tags == {"team": "risk"} and fetched.description == "scores payments"
    assert fetched.latest_versions == [] and fetched.aliases == {}
    assert fetched.creation_timestamp <= fetched.last_updated_timestamp


def test_versions_are_numbered_one_to_n(mlflow_setup: MlflowSetup, tmp_path: Path):
    client = MlflowClient()
    client.create_registered_model("fraud")
    _register(client, tmp_path / "m", "fraud", 3)
    assert sorted(int(v.version) for v in client.search_model_versions("name = 'fraud'")) == [1, 2, 3]
    assert client.get_model_version("fraud", "2").run_id == "run-1"


def test_search_pages_through_every_model_once(mlflow_setup: MlflowSetup):
    client = MlflowClient()
    names = [f"model-{i:02d}" for i in range(7)]
    for name in names:
        client.create_registered_model(name)
    seen, token = [], None
    while True:
        page = client.search_registered_models(max_results=3, page_token=token)
        seen.extend(m.name for m in page)
        token = page.token
        if not token:
            break
    assert seen == names
    assert [m.name for m in client.search_registered_models(filter_string="name LIKE 'model-0%'", max_results=2)] == names[:2]


def test_model_and_version_tags_set_and_deleted(mlflow_setup: MlflowSetup, tmp_path: Path):
    client = MlflowClient()
    client.create_registered_model("fraud")
    _register(client, tmp_path / "m", "fraud", 1)
    client.set_registered_model_tag("fraud", "owner", "risk")
    client.set_model_version_tag("fraud", "1", "validated", "yes")
    assert client.get_registered_model("fraud").tags == {"owner": "risk"}
    assert client.get_model_version("fraud", "1").tags["validated"] == "yes"
    client.delete_registered_model_tag("fraud", "owner")
    client.delete_model_version_tag("fraud", "1", "validated")
    assert client.get_registered_model("fraud").tags == {}
    assert "validated" not in client.get_model_version("fraud", "1").tags


def test_aliases_set_moved_resolved_and_deleted(mlflow_setup: MlflowSetup, tmp_path: Path):
    client = MlflowClient()
    client.create_registered_model("fraud")
    _register(client, tmp_path / "m", "fraud", 2)
    client.set_registered_model_alias("fraud", "champion", "1")
    client.set_registered_model_alias("fraud", "champion", "2")
    assert client.get_model_version_by_alias("fraud", "champion").version in (2, "2")
    assert client.get_registered_model("fraud").aliases == {"champion": 2}
    client.delete_registered_model_alias("fraud", "champion")
    with pytest.raises(MlflowException) as missing:
        client.get_model_version_by_alias("fraud", "champion")
    assert missing.value.error_code == "INVALID_PARAMETER_VALUE"  # MLflow's SQL store's code for a missing alias


def test_latest_versions_per_stage_and_descriptions(mlflow_setup: MlflowSetup, tmp_path: Path):
    client = MlflowClient()
    client.create_registered_model("fraud")
    _register(client, tmp_path / "m", "fraud", 3)
    client.transition_model_version_stage("fraud", "2", "Staging")
    latest = {v.current_stage: int(v.version) for v in client.get_latest_versions("fraud")}
    assert latest == {"None": 3, "Staging": 2}
    assert [int(v.version) for v in client.get_latest_versions("fraud", stages=["staging"])] == [2]
    client.update_registered_model("fraud", description="v2 in review")
    client.update_model_version("fraud", "2", description="candidate")
    assert client.get_registered_model("fraud").description == "v2 in review"
    assert client.get_model_version("fraud", "2").description == "candidate"


def test_a_version_of_a_model_never_created_is_refused(mlflow_setup: MlflowSetup, tmp_path: Path):
    """As in MLflow, create_model_version needs the model to exist first."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    with pytest.raises(MlflowException) as missing:
        MlflowClient().create_model_version("never-created", str(folder))
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.postgres
def test_a_bare_postgresql_scheme_builds_the_store(postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """registry+postgresql:// (psycopg 3 implied) and registry+postgresql+psycopg:// reach the same catalog."""
    database_url = postgres_url
    assert database_url.startswith("postgresql+psycopg://")
    monkeypatch.setenv("REGISTRY_ARTIFACT_ROOT", str(tmp_path))
    bare = "registry+postgresql://" + database_url.removeprefix("postgresql+psycopg://")
    first = _get_store(bare)
    first.create_registered_model("fraud")
    second = _get_store(f"registry+{database_url}")
    assert isinstance(first, RegistryStore) and second.get_registered_model("fraud").name == "fraud"

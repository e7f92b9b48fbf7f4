"""Model names with spaces, as MLflow allows them, through MLflow's client and its `models:/` URIs."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from .conftest import MlflowSetup

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    return folder


def test_a_model_named_with_spaces_is_created_searched_and_staged(mlflow_setup: MlflowSetup, tmp_path: Path):
    """`My Model` is created, versioned, found by a filter and moved to Staging, under its name as given."""
    client = MlflowClient()
    client.create_registered_model("My Model")
    client.create_model_version("My Model", str(_model_folder(tmp_path)))
    client.transition_model_version_stage("My Model", "1", "Staging")
    assert [m.name for m in client.search_registered_models("name = 'My Model'")] == ["My Model"]
    assert [int(v.version) for v in client.search_model_versions("name = 'My Model'")] == [1]
    assert [int(v.version) for v in client.get_latest_versions("My Model", ["Staging"])] == [1]


def test_models_uri_with_spaces_downloads_the_version(mlflow_setup: MlflowSetup, tmp_path: Path):
    """`models:/My Model/Staging` and `models:/My Model@champion` download the version's verified files."""
    client = MlflowClient()
    client.create_registered_model("My Model")
    client.create_model_version("My Model", str(_model_folder(tmp_path)))
    client.transition_model_version_stage("My Model", "1", "Staging")
    client.set_registered_model_alias("My Model", "champion", "1")
    for uri in ("models:/My Model/Staging", "models:/My Model@champion", "models:/My Model/1"):
        target = tmp_path / uri.replace("/", "_").replace(":", "").replace("@", "_")
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(target))
        assert (Path(local) / "MLmodel").read_text() == "flavors: {}\n"


@pytest.mark.parametrize("name", ["My/Model", "My:Model"])
def test_names_mlflow_refuses_are_refused_alike(mlflow_setup: MlflowSetup, name: str):
    """`/` and `:` are refused by MLflow and here: INVALID_PARAMETER_VALUE."""
    with pytest.raises(MlflowException) as refused:
        MlflowClient().create_registered_model(name)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"

"""MLflow flavors through the plugin: typed versions that load without registrant code, the rest opaque or refused."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from registry_core.errors import InvalidInput

from .conftest import MlflowSetup, mlflow

xgboost = pytest.importorskip("xgboost")
lightgbm = pytest.importorskip("lightgbm")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

#: Requirements given, so MLflow does not load each model in a subprocess to infer them (seconds per model).
REQUIREMENTS = {"pip_requirements": ["scikit-learn"]}


def rows(fraud_data: tuple[Any, Any], n: int = 20) -> np.ndarray:
    return np.asarray(fraud_data[0][:n], dtype=np.float32)


def stored(setup: MlflowSetup, name: str, version: int = 1) -> Any:
    with setup.registry() as registry:
        return registry.get_version(name, version)


def load_both(setup: MlflowSetup, name: str) -> tuple[Any, Any]:
    """The version loaded by the registry, and by MLflow's pyfunc through the plugin."""
    with setup.registry() as registry:
        ours = registry.load_model(f"models:/{name}/1")
    return ours, mlflow.pyfunc.load_model(f"models:/{name}/1")


def test_xgboost_classifier_becomes_a_typed_version(mlflow_setup: MlflowSetup, fraud_data):
    """mlflow.xgboost.log_model of a classifier (UBJSON) is an xgboost version; both loaders predict as it does."""
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=3).fit(*fraud_data)
    with mlflow.start_run():
        mlflow.xgboost.log_model(model, name="model", registered_model_name="boosted", **REQUIREMENTS)
    version = stored(mlflow_setup, "boosted")
    assert version.artifact_kind == "directory"
    assert version.artifact_format["model_format"] == "xgboost"
    assert version.artifact_format["model_file"] == "model.ubj"
    assert "registry.mlflow.opaque" not in version.tags
    ours, theirs = load_both(mlflow_setup, "boosted")
    X = rows(fraud_data)
    assert ours.predict(X).tolist() == model.predict(X).tolist()
    assert np.asarray(theirs.predict(X)).tolist() == model.predict(X).tolist()


def test_lightgbm_booster_becomes_a_typed_version(mlflow_setup: MlflowSetup, fraud_data):
    """mlflow.lightgbm.log_model of a Booster (its text model) is a lightgbm version."""
    booster = lightgbm.train({"objective": "binary", "verbose": -1, "num_leaves": 4},
                             lightgbm.Dataset(*fraud_data), num_boost_round=5)
    with mlflow.start_run():
        mlflow.lightgbm.log_model(booster, name="model", registered_model_name="light", **REQUIREMENTS)
    assert stored(mlflow_setup, "light").artifact_format["model_format"] == "lightgbm"
    ours, theirs = load_both(mlflow_setup, "light")
    X = rows(fraud_data)
    np.testing.assert_allclose(ours.predict_proba(X)[:, 1], booster.predict(X), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(theirs.predict(X)), booster.predict(X), rtol=1e-6)


def test_lightgbm_classifier_stays_opaque_and_says_why(mlflow_setup: MlflowSetup, fraud_data):
    """mlflow.lightgbm stores a scikit-learn wrapper as a scikit-learn model: opaque, the tag saying to log booster_."""
    model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(*fraud_data)
    with mlflow.start_run():
        mlflow.lightgbm.log_model(model, name="model", registered_model_name="light", **REQUIREMENTS)
    version = stored(mlflow_setup, "light")
    assert "model_format" not in version.artifact_format
    assert "booster_" in version.tags["registry.mlflow.opaque"]
    with mlflow_setup.registry() as registry, pytest.raises(InvalidInput, match="did not serialize"):
        registry.load_model("models:/light/1")


def wide_linear_model(width: int = 300) -> tuple[Any, np.ndarray]:
    """``Y = X @ W`` with W over 1 KiB, so mlflow.onnx saves it as external data beside model.onnx."""
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).normal(size=(width, 2)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])], "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, width])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])],
        initializer=[numpy_helper.from_array(weights, "W")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), weights


def test_onnx_with_external_data_becomes_a_typed_version(mlflow_setup: MlflowSetup, tmp_path: Path):
    """mlflow.onnx.log_model writes large tensors to a file beside model.onnx: read from the version's own files."""
    model, weights = wide_linear_model()
    with mlflow.start_run():
        mlflow.onnx.log_model(model, name="model", registered_model_name="graph", **REQUIREMENTS)
    version = stored(mlflow_setup, "graph")
    # MLmodel, model.onnx, W's data file and MLflow's three environment files.
    assert version.artifact_format["model_format"] == "onnx" and version.artifact_format["files"] == 6
    ours, theirs = load_both(mlflow_setup, "graph")
    X = np.random.default_rng(1).normal(size=(4, 300)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(X), X @ weights, rtol=1e-5)
    np.testing.assert_allclose(theirs.predict(X)["Y"], X @ weights, rtol=1e-5)  # MLflow answers by output name


def test_sklearn_skops_becomes_a_typed_version(mlflow_setup: MlflowSetup, fraud_data):
    """mlflow.sklearn's default (skops) is a sklearn version, judged by the policy like the registry's own."""
    from .steps import train

    model = train(fraud_data, 3)
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", registered_model_name="forest",
                                 skops_trusted_types=["sklearn.tree._tree.Tree"], **REQUIREMENTS)
    version = stored(mlflow_setup, "forest")
    assert version.artifact_format["model_format"] == "sklearn"
    assert version.artifact_format["serializer"] == "skops"
    assert version.artifact_format["class"] == "sklearn.ensemble._forest.RandomForestClassifier"
    ours, theirs = load_both(mlflow_setup, "forest")
    X = fraud_data[0]
    assert ours.predict(X).tolist() == model.predict(X).tolist() == np.asarray(theirs.predict(X)).tolist()


def test_sklearn_cloudpickle_stays_opaque_and_is_never_loaded(mlflow_setup: MlflowSetup, fraud_data):
    """A cloudpickled estimator is an opaque folder: the registry refuses to load it, the tag says why."""
    from .steps import train

    with mlflow.start_run():
        mlflow.sklearn.log_model(train(fraud_data, 1), name="model", registered_model_name="pickled",
                                 serialization_format="cloudpickle", **REQUIREMENTS)
    version = stored(mlflow_setup, "pickled")
    assert "model_format" not in version.artifact_format
    assert "cloudpickle" in version.tags["registry.mlflow.opaque"]
    with mlflow_setup.registry() as registry, pytest.raises(InvalidInput, match="did not serialize"):
        registry.load_model("models:/pickled/1")


# --- hand-made MLflow folders ---------------------------------------------------------------------


class RunsWhenUnpickled:
    """A pickle that creates a file when loaded: proof that someone ran it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (str(self.marker), "w")


def mlflow_folder(tmp_path: Path, flavor: str, conf: dict[str, Any], model_file: str, data: bytes,
                  pyfunc: dict[str, Any] | None = None) -> Path:
    """An MLflow model folder as log_model writes one, with ``data`` as its model file."""
    folder = tmp_path / "model"
    folder.mkdir()
    python_function = {"loader_module": f"mlflow.{flavor}", "data": model_file, **(pyfunc or {})}
    document = {"flavors": {flavor: {"code": None, "data": model_file, **conf}, "python_function": python_function}}
    (folder / "MLmodel").write_text(yaml.safe_dump(document))
    (folder / model_file).write_bytes(data)
    return folder


def xgboost_bytes(fraud_data: tuple[Any, Any]) -> bytes:
    return bytes(xgboost.XGBClassifier(n_estimators=2).fit(*fraud_data).get_booster().save_raw("ubj"))


def register_folder(folder: Path, name: str = "forged") -> Any:
    client = MlflowClient()
    client.create_registered_model(name)
    return client.create_model_version(name, str(folder))


PICKLED_FLAVOR_FILES = {
    "xgboost": ({"model_format": "ubj", "model_class": "xgboost.sklearn.XGBClassifier"}, "model.ubj",
                "not an XGBoost JSON or UBJSON model"),
    "lightgbm": ({"model_class": "lightgbm.basic.Booster"}, "model.lgb", "not a LightGBM text model"),
    "onnx": ({"providers": ["CPUExecutionProvider"]}, "model.onnx", "not an ONNX model"),
    "sklearn": ({"serialization_format": "skops", "pickled_model": "model.skops"}, "model.skops",
                "not a readable skops file"),
}


@pytest.mark.parametrize("flavor", sorted(PICKLED_FLAVOR_FILES))
def test_a_pickle_presented_as_a_flavor_file_is_refused_unrun(mlflow_setup: MlflowSetup, tmp_path: Path, flavor: str):
    """A pickle named as the flavor's model file: refused with one line, never unpickled, no version written."""
    conf, model_file, message = PICKLED_FLAVOR_FILES[flavor]
    marker = tmp_path / "ran"
    folder = mlflow_folder(tmp_path, flavor, conf, model_file, pickle.dumps(RunsWhenUnpickled(marker)),
                           pyfunc={"model_path": model_file} if flavor == "sklearn" else None)
    with pytest.raises(MlflowException, match=message) as refused:
        register_folder(folder)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "\n" not in refused.value.message
    assert not marker.exists()
    assert MlflowClient().search_model_versions("name = 'forged'") == []
    assert not any(path.is_file() for path in mlflow_setup.artifact_root.rglob("*")), "a refused folder stored blobs"


@pytest.mark.parametrize("location", ["../weights.bin", "/etc/passwd", "missing.bin"])
def test_onnx_external_data_outside_the_version_is_refused(mlflow_setup: MlflowSetup, tmp_path: Path, location: str):
    """External data may name only the version's own files: ``..``, an absolute path or a missing file is refused."""
    from onnx import TensorProto, helper

    weights = helper.make_tensor("W", TensorProto.FLOAT, [3, 2], [1.0] * 6)
    weights.ClearField("float_data")
    weights.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "24")):
        entry = weights.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])], "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])], initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    (tmp_path / "weights.bin").write_bytes(b"\0" * 24)
    folder = mlflow_folder(tmp_path, "onnx", {}, "model.onnx", model.SerializeToString())
    with pytest.raises(MlflowException, match="unsafe path|not one of the version's files") as refused:
        register_folder(folder)
    assert "\n" not in refused.value.message
    assert MlflowClient().search_model_versions("name = 'forged'") == []


OPAQUE_MLMODELS = {
    "pyfunc loads a python model": ({"loader_module": "mlflow.pyfunc.model", "python_model": "python_model.pkl"},
                                    {}, "python_function"),
    "code paths": ({"code": "code"}, {}, "ships code"),
    "a class outside xgboost": ({}, {"model_class": "os.system"}, "not an XGBoost booster"),
    "legacy binary format": ({}, {"model_format": "xgb"}, "not XGBoost's JSON or UBJSON"),
}


@pytest.mark.parametrize("case", sorted(OPAQUE_MLMODELS))
def test_an_mlmodel_that_would_load_more_than_the_model_file_stays_opaque(mlflow_setup: MlflowSetup, tmp_path: Path,
                                                                        fraud_data, case: str):
    """A valid booster whose MLmodel makes MLflow run something else is not typed; the registry never loads it."""
    pyfunc, conf, reason = OPAQUE_MLMODELS[case]
    folder = mlflow_folder(tmp_path, "xgboost", {"model_format": "ubj", **conf}, "model.ubj",
                           xgboost_bytes(fraud_data), pyfunc=pyfunc)
    register_folder(folder)
    version = stored(mlflow_setup, "forged")
    assert "model_format" not in version.artifact_format
    assert reason in version.tags["registry.mlflow.opaque"]
    with mlflow_setup.registry() as registry, pytest.raises(InvalidInput, match="did not serialize"):
        registry.load_model("models:/forged/1")

"""Models registered as ONNX: checked at registration, loaded with ONNX Runtime, and hostile graphs refused."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from registry_core import Registry  # noqa: E402
from registry_core.errors import InvalidInput  # noqa: E402
from tests.test_cli import cli_on  # noqa: E402

_WEIGHTS = np.array([[0.5, -1.0], [2.0, 0.25], [-0.5, 1.5]], dtype=np.float32)


def linear_classifier(domain: str = "ai.onnx.ml") -> onnx.ModelProto:
    """Three features, two classes: ``LinearClassifier`` from ai.onnx.ml, labels and probabilities out."""
    node = helper.make_node(
        "LinearClassifier", ["X"], ["label", "probabilities"], domain=domain,
        coefficients=_WEIGHTS.T.ravel().tolist(), intercepts=[0.0, 0.0], classlabels_ints=[0, 1],
        post_transform="SOFTMAX",
    )
    graph = helper.make_graph(
        [node], "classifier",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def external_data_model(location: str) -> onnx.ModelProto:
    """``Y = X @ W`` where W claims to live in the file ``location``."""
    weights = helper.make_tensor("W", TensorProto.FLOAT, [3, 2], _WEIGHTS.ravel().tolist())
    weights.ClearField("float_data")
    weights.data_location = TensorProto.EXTERNAL
    entry = weights.external_data.add()
    entry.key, entry.value = "location", location
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])], "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])],
        initializer=[weights],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _expected(rows: np.ndarray) -> np.ndarray:
    scores = rows @ _WEIGHTS
    return np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)


ROWS = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, -1.0]], dtype=np.float32)


def test_register_model_proto_loads_and_predicts(registry: Registry) -> None:
    """An onnx.ModelProto registers as a typed file and loads as a model with predict and predict_proba."""
    version = registry.register("fraud", linear_classifier())
    assert version.artifact_kind == "file"
    assert version.artifact_format["model_format"] == "onnx"
    assert version.artifact_format["inputs"] == [{"name": "X", "type": "float", "shape": [None, 3]}]
    loaded = registry.load_model("models:/fraud/1")
    np.testing.assert_allclose(loaded.predict_proba(ROWS), _expected(ROWS), rtol=1e-5)
    assert loaded.predict(ROWS).tolist() == _expected(ROWS).argmax(axis=1).tolist()


def test_register_onnx_file_from_cli(database_url: str, artifact_root: Path, tmp_path: Path) -> None:
    """``registry register NAME model.onnx --format onnx`` stores a version that loads."""
    path = tmp_path / "model.onnx"
    path.write_bytes(linear_classifier().SerializeToString())
    result = cli_on(database_url, artifact_root)("register", "fraud", str(path), "--format", "onnx")
    assert result.exit_code == 0, result.output
    with Registry(database_url, artifact_root) as registry:
        assert registry.get_version("fraud", 1).artifact_format["filename"] == "model.onnx"
        assert registry.load_model("models:/fraud/1").predict(ROWS).shape == (2,)


def test_onnx_file_without_format_stays_opaque(registry: Registry, tmp_path: Path) -> None:
    """Without a format, a .onnx file is a plain file that only downloads."""
    path = tmp_path / "model.onnx"
    path.write_bytes(linear_classifier().SerializeToString())
    registry.register("fraud", path)
    with pytest.raises(InvalidInput, match="did not serialize"):
        registry.load_model("models:/fraud/1")


def _pickle_bytes() -> bytes:
    return pickle.dumps({"weights": [1, 2, 3]})


HOSTILE = {
    "custom-op domain": (lambda: linear_classifier(domain="com.example.evil").SerializeToString(), "custom domain"),
    "external data at a host path": (lambda: external_data_model("/etc/passwd").SerializeToString(), "external data"),
    "external data beside the model": (lambda: external_data_model("weights.bin").SerializeToString(), "external data"),
    "a pickle named .onnx": (_pickle_bytes, "not an ONNX model|fails the ONNX checker"),
    "empty file": (lambda: b"", "not an ONNX model"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_onnx_file_refused_and_nothing_stored(registry: Registry, catalog_state, tmp_path: Path,
                                                      case: str) -> None:
    """A graph that would need a custom op, read a file outside its blob, or is no ONNX at all, is refused."""
    make, message = HOSTILE[case]
    path = tmp_path / "model.onnx"
    path.write_bytes(make())
    before = catalog_state()
    with pytest.raises(InvalidInput, match=message) as raised:
        registry.register("fraud", path, model_format="onnx")
    assert "\n" not in str(raised.value)
    assert catalog_state() == before


def test_hostile_onnx_refused_by_cli_with_one_line(database_url: str, artifact_root: Path, tmp_path: Path) -> None:
    """The CLI prints one line and exits 1 for a graph with a custom-op domain."""
    path = tmp_path / "model.onnx"
    path.write_bytes(linear_classifier(domain="com.example.evil").SerializeToString())
    result = cli_on(database_url, artifact_root)("register", "fraud", str(path), "--format", "onnx")
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "custom domain" in result.stderr


def test_unknown_model_format_refused(registry: Registry, tmp_path: Path) -> None:
    """A model format the registry does not know is refused by name."""
    path = tmp_path / "model.bin"
    path.write_bytes(b"x")
    with pytest.raises(InvalidInput, match="unknown model format 'tensorflow'"):
        registry.register("fraud", path, model_format="tensorflow")


def test_registry_serve_answers_predict_with_an_onnx_production_version(registry: Registry) -> None:
    """An ONNX version promoted to Production is served by /predict, labels and probabilities."""
    from tests.test_serving import register_ready, serving

    register_ready(registry, linear_classifier())
    registry.promote("fraud", 1)
    with serving(registry) as (_server, client):
        response = client.post("/predict", json={"records": ROWS.tolist(), "return_probabilities": True})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["predictions"] == _expected(ROWS).argmax(axis=1).tolist()
    np.testing.assert_allclose(answer["probabilities"], _expected(ROWS), rtol=1e-5)
    assert answer["classes"] == [0, 1]


# --- LightGBM ------------------------------------------------------------------------------------


def trained_booster():
    """A small binary LightGBM booster on a fixed random data set, and the rows to score."""
    lightgbm = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 4))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    params = {"objective": "binary", "num_leaves": 4, "verbose": -1, "deterministic": True, "num_threads": 1}
    return lightgbm.train(params, lightgbm.Dataset(features, labels), num_boost_round=5), features[:5]


def test_register_lightgbm_booster_loads_and_predicts_as_its_own(registry: Registry) -> None:
    """A live booster is stored as its text model and loads to the same probabilities, with labels from them."""
    booster, rows = trained_booster()
    version = registry.register("churn", booster)
    assert version.artifact_format["model_format"] == "lightgbm"
    assert version.artifact_format["objective"] == "binary"
    loaded = registry.load_model("models:/churn/1")
    np.testing.assert_allclose(loaded.predict_proba(rows)[:, 1], booster.predict(rows))
    assert loaded.predict(rows).tolist() == (booster.predict(rows) > 0.5).astype(int).tolist()


def test_register_lightgbm_text_file_from_cli(database_url: str, artifact_root: Path, tmp_path: Path) -> None:
    """``registry register NAME model.txt --format lightgbm`` stores a version that loads."""
    booster, rows = trained_booster()
    path = tmp_path / "model.txt"
    booster.save_model(str(path))
    result = cli_on(database_url, artifact_root)("register", "churn", str(path), "--format", "lightgbm")
    assert result.exit_code == 0, result.output
    with Registry(database_url, artifact_root) as registry:
        np.testing.assert_allclose(registry.load_model("models:/churn/1").predict_proba(rows)[:, 1],
                                   booster.predict(rows))


LIGHTGBM_HOSTILE = {
    "a pickle named .txt": pickle.dumps({"tree": 1}),
    "JSON that is not a model": b'{"learner": {"gradient_booster": "print(1)"}}',
    "a text header without trees": b"tree\nversion=v4\nnum_class=1\n",
}


def refused_as_booster(registry: Registry, catalog_state, path: Path, data: bytes, model_format: str) -> None:
    """Registering ``data`` as ``model_format`` is refused with one line, and nothing is stored."""
    pytest.importorskip(model_format)
    path.write_bytes(data)
    before = catalog_state()
    with pytest.raises(InvalidInput) as raised:
        registry.register("churn", path, model_format=model_format)
    assert "\n" not in str(raised.value)
    assert catalog_state() == before


@pytest.mark.parametrize("case", sorted(LIGHTGBM_HOSTILE))
def test_hostile_lightgbm_file_refused_and_nothing_stored(registry: Registry, catalog_state, tmp_path: Path,
                                                          case: str) -> None:
    """A file that is no LightGBM text model is refused with one line before anything is stored."""
    refused_as_booster(registry, catalog_state, tmp_path / "model.txt", LIGHTGBM_HOSTILE[case], "lightgbm")


# --- XGBoost -------------------------------------------------------------------------------------


def trained_xgboost():
    """A small binary XGBoost booster on a fixed random data set, and the rows to score."""
    xgboost = pytest.importorskip("xgboost")
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 4)).astype(np.float32)
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    params = {"objective": "binary:logistic", "max_depth": 2, "nthread": 1}
    return xgboost.train(params, xgboost.DMatrix(features, label=labels), num_boost_round=5), features[:5]


def test_register_xgboost_booster_loads_and_predicts_as_its_own(registry: Registry) -> None:
    """A live booster is stored as UBJSON and loads to the same probabilities, with labels from them."""
    xgboost = pytest.importorskip("xgboost")
    booster, rows = trained_xgboost()
    version = registry.register("churn", booster)
    assert version.artifact_format["model_format"] == "xgboost"
    assert version.artifact_format["objective"] == "binary:logistic"
    own = booster.predict(xgboost.DMatrix(rows))
    loaded = registry.load_model("models:/churn/1")
    np.testing.assert_allclose(loaded.predict_proba(rows)[:, 1], own, rtol=1e-6)
    assert loaded.predict(rows).tolist() == (own > 0.5).astype(int).tolist()


def test_register_xgboost_json_file_from_cli(database_url: str, artifact_root: Path, tmp_path: Path) -> None:
    """``registry register NAME model.json --format xgboost`` stores a version that loads."""
    booster, rows = trained_xgboost()
    path = tmp_path / "model.json"
    booster.save_model(str(path))
    result = cli_on(database_url, artifact_root)("register", "churn", str(path), "--format", "xgboost")
    assert result.exit_code == 0, result.output
    with Registry(database_url, artifact_root) as registry:
        assert registry.load_model("models:/churn/1").predict(rows).shape == (5,)


XGBOOST_HOSTILE = {
    "a pickle named .json": pickle.dumps({"learner": 1}),
    "booster JSON that is not a model": b'{"learner": {"gradient_booster": "print(1)"}, "version": [2, 0, 0]}',
    "empty JSON object": b"{}",
}


@pytest.mark.parametrize("case", sorted(XGBOOST_HOSTILE))
def test_hostile_xgboost_file_refused_and_nothing_stored(registry: Registry, catalog_state, tmp_path: Path,
                                                         case: str) -> None:
    """A file that is no XGBoost model is refused with one line before anything is stored."""
    refused_as_booster(registry, catalog_state, tmp_path / "model.json", XGBOOST_HOSTILE[case], "xgboost")


@pytest.mark.parametrize("train", [trained_booster, trained_xgboost], ids=["lightgbm", "xgboost"])
def test_registry_serve_answers_predict_with_a_booster_production_version(registry: Registry, train) -> None:
    """A booster version promoted to Production is served by /predict with labels and probabilities."""
    from tests.test_serving import register_ready, serving

    booster, rows = train()
    register_ready(registry, booster)
    registry.promote("fraud", 1)
    expected = registry.load_model("models:/fraud/1").predict_proba(rows)
    with serving(registry) as (_server, client):
        response = client.post("/predict", json={"records": rows.tolist(), "return_probabilities": True})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["predictions"] == expected.argmax(axis=1).tolist()
    np.testing.assert_allclose(answer["probabilities"], expected, rtol=1e-5)
    assert answer["classes"] == [0, 1]


def test_a_serialization_is_refused_for_a_booster(registry: Registry, catalog_state) -> None:
    """A booster is never pickled, even when asked: the request is refused and nothing is stored."""
    booster, _rows = trained_booster()
    before = catalog_state()
    with pytest.raises(InvalidInput, match="stored in its own format"):
        registry.register("churn", booster, serialization="pickle")
    assert catalog_state() == before


CONTAINED = {
    "onnx": lambda registry: registry.register("fraud", linear_classifier()),
    "lightgbm": lambda registry: registry.register("fraud", trained_booster()[0]),
    "xgboost": lambda registry: registry.register("fraud", trained_xgboost()[0]),
}


@pytest.mark.parametrize("model_format", sorted(CONTAINED))
def test_a_contained_load_runs_the_formats_own_loader_and_warm_up_in_a_separate_process(
    registry: Registry, model_format: str
) -> None:
    """As a shadow or canary would: the candidate loads and warms up in a child first; a failure there is one line."""
    from registry_core.contained_load import LoadCrashed, Rehearsal

    version = CONTAINED[model_format](registry).version
    uri = f"models:/fraud/{version}"
    width = registry.load_model(uri).n_features_in_
    loaded = registry.load_model(uri, contained=Rehearsal([[0.5] * width], None))
    assert loaded.predict(np.zeros((1, width), dtype=np.float32)).shape == (1,)
    with pytest.raises(LoadCrashed, match=rf"^{uri} did not load in the separate process that tried it first: "):
        registry.load_model(uri, contained=Rehearsal([[0.5] * (width + 7)], None))

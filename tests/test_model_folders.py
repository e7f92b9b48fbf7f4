"""Folder versions typed by one model file, hostile model files, and the load limit judged before parsing."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from registry_core import Registry  # noqa: E402
from registry_core.errors import InvalidInput  # noqa: E402
from tests.test_model_formats import linear_classifier  # noqa: E402

WIDTH = 4


def matmul_model(weights: Any, *, external: dict[str, str] | None = None) -> onnx.ModelProto:
    """``Y = X @ W``; with ``external``, W's bytes are said to live in another file (location, offset, length)."""
    tensor = numpy_helper.from_array(np.asarray(weights, dtype=np.float32), "W")
    if external is not None:
        tensor.ClearField("raw_data")
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in external.items():
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])], "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, len(weights)])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])], initializer=[tensor],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


WEIGHTS = np.arange(WIDTH * 2, dtype=np.float32).reshape(WIDTH, 2) / 10


def folder_with(tmp_path: Path, files: dict[str, bytes]) -> Path:
    folder = tmp_path / "model"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def test_a_folder_with_external_onnx_data_loads_from_its_own_files(registry: Registry, tmp_path: Path) -> None:
    """The model file's external data, in a file of the same version, is read verified and copied inline."""
    model = matmul_model(WEIGHTS, external={"location": "weights/w.bin", "offset": "8", "length": str(WEIGHTS.nbytes)})
    folder = folder_with(tmp_path, {"graph/model.onnx": model.SerializeToString(),
                                    "graph/weights/w.bin": b"padding!" + WEIGHTS.tobytes(), "README": b"notes"})
    version = registry.register("linear", folder, model_format="onnx", model_file="graph/model.onnx")
    assert version.artifact_kind == "directory" and version.artifact_format["model_file"] == "graph/model.onnx"
    X = np.ones((3, WIDTH), dtype=np.float32)
    np.testing.assert_allclose(registry.load_model("models:/linear/1").predict(X), X @ WEIGHTS, rtol=1e-6)


def test_a_contained_load_of_a_folder_version_inlines_its_external_data(registry: Registry, tmp_path: Path) -> None:
    """The separate process that tries a candidate first gets one self-contained model, not a path to open."""
    model = matmul_model(WEIGHTS, external={"location": "w.bin"})
    folder = folder_with(tmp_path, {"model.onnx": model.SerializeToString(), "w.bin": WEIGHTS.tobytes()})
    registry.register("linear", folder, model_format="onnx", model_file="model.onnx")
    loaded = registry.load_model("models:/linear/1", contained=True)
    assert loaded.predict(np.ones((1, WIDTH), dtype=np.float32)).shape == (1, 2)


class RunsWhenUnpickled:
    """A pickle that creates a file when loaded: proof that someone ran it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (str(self.marker), "w")


def _external(location: str, length: int = WEIGHTS.nbytes, offset: int = 0) -> bytes:
    spec = {"location": location, "offset": str(offset), "length": str(length)}
    return matmul_model(WEIGHTS, external=spec).SerializeToString()


HOSTILE_FOLDERS: dict[str, tuple[str, str, Any, str]] = {
    "onnx custom-op domain": ("onnx", "model.onnx", lambda _: linear_classifier(domain="com.example.evil")
                              .SerializeToString(), "custom domain"),
    "onnx external data above the folder": ("onnx", "model.onnx", lambda _: _external("../w.bin"), "unsafe path"),
    "onnx external data at an absolute path": ("onnx", "model.onnx", lambda _: _external("/etc/passwd"), "unsafe path"),
    "onnx external data in no file of the version": ("onnx", "model.onnx", lambda _: _external("other.bin"),
                                                     "not one of the version's files"),
    "onnx external data past the end of its file": ("onnx", "model.onnx", lambda _: _external("w.bin", offset=8),
                                                    "which holds"),
    "a pickle as an ONNX model": ("onnx", "model.onnx", None, "not an ONNX model"),
    "a pickle as an XGBoost model": ("xgboost", "model.ubj", None, "not an XGBoost JSON or UBJSON model"),
    "a pickle as a LightGBM model": ("lightgbm", "model.lgb", None, "not a LightGBM text model"),
    "a pickle as a skops file": ("sklearn", "model.skops", None, "not a readable skops file"),
    "a model file outside the folder": ("onnx", "../model.onnx", lambda _: b"", "unsafe path"),
    "a model file the folder lacks": ("xgboost", "absent.ubj", lambda _: b"", "has no file 'absent.ubj'"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_FOLDERS))
def test_a_hostile_folder_is_refused_with_one_line_and_nothing_stored(
    registry: Registry, catalog_state, tmp_path: Path, case: str
) -> None:
    """Custom ops, external data outside the version, pickles under a model's name: refused unrun, nothing written."""
    model_format, model_file, make, message = HOSTILE_FOLDERS[case]
    marker = tmp_path / "ran"
    data = make(None) if make is not None else pickle.dumps(RunsWhenUnpickled(marker))
    name = model_file if not model_file.startswith("..") and model_file != "absent.ubj" else "model.bin"
    folder = folder_with(tmp_path / "f", {name: data, "w.bin": WEIGHTS.tobytes()})
    (tmp_path / "f" / "w.bin").write_bytes(WEIGHTS.tobytes())  # a file beside the folder, for ``../w.bin``
    before = catalog_state()
    with pytest.raises(InvalidInput, match=message) as refused:
        registry.register("hostile", folder, model_format=model_format, model_file=model_file)
    assert "\n" not in str(refused.value)
    assert not marker.exists()
    assert catalog_state() == before


@pytest.mark.parametrize(("arguments", "message"), [
    ({"model_format": "onnx"}, "name the onnx file in it"),
    ({"model_file": "model.onnx"}, "only together with its model format"),
    ({"model_format": "tensorflow", "model_file": "model.onnx"}, "unknown model format 'tensorflow'"),
])
def test_a_folder_names_its_model_file_and_format_together(registry: Registry, tmp_path: Path, arguments: dict[str, str],
                                                           message: str) -> None:
    folder = folder_with(tmp_path, {"model.onnx": linear_classifier().SerializeToString()})
    with pytest.raises(InvalidInput, match=message):
        registry.register("linear", folder, **arguments)


# --- the load limit ---------------------------------------------------------------------------------------


def big_onnx(features: int = 70_000) -> bytes:
    """A valid model of a little over 512 KiB (its weights)."""
    return matmul_model(np.ones((features, 2), dtype=np.float32)).SerializeToString()


def test_a_model_file_over_the_policy_limit_is_refused_at_registration(registry: Registry, catalog_state,
                                                                     tmp_path: Path) -> None:
    registry.create_model("big")
    registry.set_policy("big", max_load_bytes=512 * 1024)
    path = tmp_path / "model.onnx"
    path.write_bytes(big_onnx())
    before = catalog_state()
    with pytest.raises(InvalidInput, match="larger than 524288 bytes, the most a version of 'big' may load") as refused:
        registry.register("big", path, model_format="onnx")
    assert "registry policy big --max-load-mib" in str(refused.value)
    assert catalog_state() == before


@pytest.mark.parametrize("as_folder", [False, True], ids=["file", "folder"])
def test_a_model_over_the_limit_set_since_is_refused_at_load_by_its_recorded_size(
    registry: Registry, tmp_path: Path, as_folder: bool
) -> None:
    """Lowering the limit after registration: the catalog's (or the manifest's) size refuses it before parsing."""
    (tmp_path / "model.onnx").write_bytes(big_onnx())
    if as_folder:
        registry.register("big", tmp_path, model_format="onnx", model_file="model.onnx")
    else:
        registry.register("big", tmp_path / "model.onnx", model_format="onnx")
    registry.set_policy("big", max_load_bytes=512 * 1024)
    with pytest.raises(InvalidInput, match=r"is \d+ bytes, over the limit of 524288 bytes") as refused:
        registry.load_model("models:/big/1")
    assert "\n" not in str(refused.value)


def test_external_data_counts_towards_the_limit_before_it_is_read(registry: Registry, tmp_path: Path) -> None:
    """A small model file naming a large external file: the external length is judged before any of it is read."""
    weights = np.ones((70_000, 2), dtype=np.float32)
    model = matmul_model(weights, external={"location": "w.bin"})
    folder = folder_with(tmp_path, {"model.onnx": model.SerializeToString(), "w.bin": weights.tobytes()})
    registry.create_model("big")
    registry.set_policy("big", max_load_bytes=512 * 1024)
    with pytest.raises(InvalidInput, match="external data hold more than 524288 bytes"):
        registry.register("big", folder, model_format="onnx", model_file="model.onnx")


def test_a_tiny_onnx_graph_does_not_inflate_while_loading(registry: Registry, tmp_path: Path) -> None:
    """ConstantOfShape of a large shape: ONNX Runtime's constant folding would allocate it at load (400 MB here)."""
    shape = numpy_helper.from_array(np.array([10_000, 10_000], dtype=np.int64), "S")
    one = numpy_helper.from_array(np.array([1.0], dtype=np.float32))
    graph = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["S"], ["C"], value=one),
         helper.make_node("ReduceSum", ["C"], ["R"], keepdims=0),
         helper.make_node("Add", ["X", "R"], ["Y"])], "inflating",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None])], initializer=[shape],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()
    assert len(data) < 300
    # Measured in a fresh process: the peak resident size it reaches while loading, against its own before.
    script = textwrap.dedent("""
        import resource, sys
        from registry_core.formats import load_model_file
        import onnxruntime  # noqa: F401 - imported before the baseline
        data = sys.stdin.buffer.read()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        load_model_file("onnx", data, label="inflating")
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    done = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True, check=True, timeout=120,
                          env={"PYTHONPATH": str(Path(__file__).parents[1]), "PATH": ""})
    grew_mib = int(done.stdout.decode().split()[-1])
    assert grew_mib < 100, f"loading a {len(data)}-byte model grew the process by {grew_mib} MiB"


def test_registry_serve_answers_predict_with_a_folder_production_version(registry: Registry, tmp_path: Path) -> None:
    """A folder version typed by its ONNX file (external data beside it) is served by /predict once in Production."""
    from tests.test_serving import serving, stage_and_approve

    model = matmul_model(WEIGHTS, external={"location": "w.bin"})
    folder = folder_with(tmp_path, {"model.onnx": model.SerializeToString(), "w.bin": WEIGHTS.tobytes()})
    registry.register("linear", folder, model_format="onnx", model_file="model.onnx")
    stage_and_approve(registry, "linear", 1)
    registry.promote("linear", 1)
    X = np.ones((2, WIDTH), dtype=np.float32)
    with serving(registry, model_uri="models:/linear/Production") as (_server, client):
        response = client.post("/predict", json={"records": X.tolist()})
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"], X @ WEIGHTS, rtol=1e-6)

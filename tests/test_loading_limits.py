"""Loading never gives a model the host's files, never inflates past a limit, and a malformed file is one line."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from registry_core import GatePolicy, InvalidInput, Registry, UntrustedType
from registry_core.estimator_io import IoParameterRefused, io_parameters
from registry_core.estimators import describe_serialization, load_estimator

MODEL = "texts"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A host file no model should ever read: what the reload secret in /proc/self/environ stood for."""
    path = tmp_path / "host-secret.txt"
    path.write_text("reload secret hunter2 hunter2")
    return path


def file_reader(secret: Path) -> Pipeline:
    """The attack: scikit-learn's own classes only, and predicting opens whatever path the input names."""
    pipeline = make_pipeline(CountVectorizer(input="filename"), LinearRegression())
    return pipeline.fit([str(secret), str(secret)], [1.0, 2.0])


def test_a_vectorizer_that_opens_files_is_refused_at_registration(registry: Registry, secret: Path, catalog_state):
    """The estimator reads host files at predict time; registering it names the class and parameter, stores nothing."""
    attack = file_reader(secret)
    assert attack.predict([str(secret)]) is not None  # it really does open the file
    before = catalog_state()
    with pytest.raises(IoParameterRefused) as refused:
        registry.register(MODEL, attack)
    assert "sets CountVectorizer.input (input='filename' or 'file' opens each input as a file)" in str(refused.value)
    assert f"registry policy {MODEL} --allow-io-parameter CountVectorizer.input" in str(refused.value)
    assert catalog_state() == before


@pytest.mark.parametrize("estimator, key", [
    (make_pipeline(TfidfVectorizer(input="file"), LogisticRegression()), "TfidfVectorizer.input"),
    (Pipeline([("model", LogisticRegression())], memory="/tmp/registry-cache"), "Pipeline.memory"),
    (make_pipeline(make_pipeline(CountVectorizer(input="filename")), LogisticRegression()), "CountVectorizer.input"),
])
def test_every_nested_io_parameter_is_found(estimator, key):
    assert io_parameters(estimator) == [key]


def test_plain_text_models_register_and_load(registry: Registry):
    """The default input='content' reads nothing: such a pipeline registers and predicts."""
    texts = ["fraud alert", "all good", "fraud again", "fine"]
    pipeline = make_pipeline(CountVectorizer(), LogisticRegression()).fit(texts, [1, 0, 1, 0])
    version = registry.register(MODEL, pipeline)
    assert list(registry.load_model(version.uri).predict(["fraud"])) == [1]


def test_a_policy_may_allow_it_and_then_show_says_so_and_loading_follows_the_policy(registry: Registry, secret: Path):
    """Allowed explicitly, it registers and the serialization says so; withdrawn, its versions no longer load."""
    registry.create_model(MODEL)
    registry.set_policy(MODEL, allow_io_parameters=["CountVectorizer.input"])
    version = registry.register(MODEL, file_reader(secret))
    assert version.artifact_format["io_parameters"] == ["CountVectorizer.input"]
    assert "sets CountVectorizer.input (reads or writes files; allowed by the policy)" in describe_serialization(
        version.artifact_format
    )
    assert registry.load_model(version.uri) is not None
    registry.set_policy(MODEL, allow_io_parameters=[])
    with pytest.raises(IoParameterRefused, match=f"models:/{MODEL}/1 sets CountVectorizer.input"):
        registry.load_model(version.uri)


def test_an_unknown_io_parameter_in_a_policy_is_one_line(registry: Registry, model_file: Path):
    registry.register(MODEL, model_file)
    with pytest.raises(InvalidInput, match="unknown I/O parameter 'LinearRegression.fit_intercept'"):
        registry.set_policy(MODEL, allow_io_parameters=["LinearRegression.fit_intercept"])


# --- bounded inflation -------------------------------------------------------------------------


def skops_bytes(estimator) -> bytes:
    return skops.io.dumps(estimator, compression=zipfile.ZIP_DEFLATED)


def store_blob(registry: Registry, data: bytes) -> str:
    return registry.store.put_stream(io.BytesIO(data)).sha256


def load_blob(registry: Registry, data: bytes, policy: GatePolicy | None = None):
    """The loader every load goes through, on bytes put in the store directly (as a forged version would be)."""
    return load_estimator(registry.store, sha256=store_blob(registry, data), label="models:/texts/9",
                          format={"serializer": "skops"}, model=MODEL, policy=policy or GatePolicy())


def test_a_gigabyte_of_declared_zeros_is_refused_before_anything_inflates(registry: Registry):
    """The reported bomb: a member declaring 1 GiB, a few MB on disk; refused by its declared size, at once."""
    base = skops_bytes(LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            bomb.writestr(item, source.read(item))
        with bomb.open("zeros.npy", "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(1024):
                member.write(chunk)
    data = buffer.getvalue()
    assert len(data) < 8 << 20
    with pytest.raises(InvalidInput) as refused:
        load_blob(registry, data)
    assert "member 'zeros.npy' inflates to 1073741824 bytes" in str(refused.value)
    assert "over the limit of 536870912 bytes" in str(refused.value)


def test_a_model_over_the_policys_limit_is_refused_at_registration_and_at_load(registry: Registry, catalog_state):
    """A LogisticRegression carrying 4 MiB of zeros (a few KB compressed) against a 1 MiB limit."""
    heavy = LogisticRegression().fit(np.zeros((4, 2)) + [[0, 0], [1, 1], [0, 1], [1, 0]], [0, 1, 0, 1])
    heavy.coef_ = np.zeros((1, 1 << 19))
    registry.register(MODEL, heavy)
    registry.set_policy(MODEL, max_load_bytes=1 << 20)
    with pytest.raises(InvalidInput, match=r"models:/texts/1: member '.*\.npy' inflates to 4194432 bytes"):
        registry.load_model(f"models:/{MODEL}/1")
    before = catalog_state()
    with pytest.raises(InvalidInput, match="over the limit of 1048576 bytes"):
        registry.register(MODEL, heavy)
    assert catalog_state() == before


def test_an_array_header_declaring_more_than_its_member_holds_is_refused(registry: Registry):
    base = skops_bytes(LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
    buffer = io.BytesIO()
    lying = io.BytesIO()
    np.lib.format.write_array_header_1_0(lying, {"descr": "<f8", "fortran_order": False, "shape": (1 << 28,)})
    with zipfile.ZipFile(io.BytesIO(base)) as source, zipfile.ZipFile(buffer, "w") as forged:
        for item in source.infolist():
            forged.writestr(item, source.read(item))
        forged.writestr("lie.npy", lying.getvalue())
    with pytest.raises(InvalidInput, match="array 'lie.npy' declares 2147483648 bytes but its member holds"):
        load_blob(registry, buffer.getvalue())


def test_too_many_objects_or_too_deep_a_schema_is_refused(registry: Registry):
    data = skops_bytes(make_pipeline(CountVectorizer(), LogisticRegression()).fit(["fraud alert", "all good"], [0, 1]))
    with pytest.raises(InvalidInput, match="its schema constructs .* objects, over the limit of 3"):
        load_blob(registry, data, GatePolicy(max_load_objects=3))
    node = '{"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {"x": '
    with pytest.raises(InvalidInput, match="nests deeper than 200 levels"):
        load_blob(registry, hand_made(node * 150 + "{}" + "}}" * 150))
    with pytest.raises(InvalidInput, match="its schema is not JSON"):  # deeper than Python's own recursion limit
        load_blob(registry, hand_made(node * 5000 + "{}" + "}}" * 5000))


# --- hand-made archives --------------------------------------------------------------------------


def hand_made(schema) -> bytes:
    """A skops-shaped zip holding only ``schema`` (JSON text, or an object to encode)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", schema if isinstance(schema, str) else json.dumps(schema))
    return buffer.getvalue()


@pytest.mark.parametrize("schema", [
    [1, 2, 3],
    {"__class__": "LogisticRegression", "__module__": 7, "__loader__": "ObjectNode", "content": {}},
    {"__class__": "LogisticRegression", "__module__": "sklearn.linear_model", "__loader__": "NoSuchNode"},
    {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": [1]},
    {"protocol": "x"},
], ids=["list", "int-module", "unknown-loader", "list-content", "no-class"])
def test_a_hand_made_skops_file_is_one_invalid_input(registry: Registry, schema):
    """Whatever the schema's shape, the loader answers InvalidInput (or a refused type), never a raw exception."""
    with pytest.raises((InvalidInput, UntrustedType)):
        load_blob(registry, hand_made(schema))


def test_naming_a_build_script_as_a_type_imports_nothing_and_prints_nothing():
    """The trust check resolves scikit-learn names without importing modules that run code of their own."""
    probe = (
        "import sys; from registry_core.estimators import is_scikit_learn_class\n"
        "assert not is_scikit_learn_class('sklearn._build_utils.version.Version')\n"
        "assert not is_scikit_learn_class('sklearn._min_dependencies.X')\n"
        "assert is_scikit_learn_class('sklearn.linear_model._logistic.LogisticRegression')\n"
        "assert is_scikit_learn_class('sklearn._loss.loss.HalfBinomialLoss')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('sklearn._build_utils', 'sklearn._min_dependencies'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"

"""Loading never gives a model the host's files, never inflates past a limit, and a malformed file is one line."""

from __future__ import annotations

import functools
import io
import json
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse
import skops.io
from sklearn.callback import ScoringMonitor
from sklearn.callback._transport import ListenerHandle
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import VotingRegressor
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OrdinalEncoder
from sklearn.utils import Bunch

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
    with pytest.raises(InvalidInput, match="its schema constructs 116 objects, over the limit of 50"):
        load_blob(registry, data, GatePolicy(max_load_objects=50))
    node = '{"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {"x": '
    with pytest.raises(InvalidInput, match="nests deeper than 200 levels"):
        load_blob(registry, hand_made(node * 150 + "{}" + "}}" * 150))
    with pytest.raises(InvalidInput, match="its schema is not JSON"):  # deeper than Python's own recursion limit
        load_blob(registry, hand_made(node * 5000 + "{}" + "}}" * 5000))


def test_a_schema_of_more_json_values_than_its_objects_need_is_refused_before_parsing(registry: Registry):
    """Parsed JSON takes tens of times its text: a schema of bare lists is refused by counting, not by parsing."""
    with pytest.raises(InvalidInput, match="its schema holds up to 2001 JSON values, over the 16 per object of the limit "
                                           "of 10 objects"):
        load_blob(registry, hand_made('{"a": [' + "[]," * 999 + "[]]}"), GatePolicy(max_load_objects=10))


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


# --- the reported attack, and where an I/O parameter can hide ------------------------------------


LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
#: The encoder and imputer keep numpy dtypes, a harmless type this registry's default policy does not list.
DTYPES = GatePolicy(trusted_types=("numpy.dtype",))
CSR = GatePolicy(trusted_types=("scipy.sparse._csr.csr_matrix",))


@pytest.fixture
def texts(registry: Registry) -> Registry:
    """The registry with model ``texts`` trusting numpy dtypes (and nothing that touches files)."""
    registry.create_model(MODEL)
    registry.set_policy(MODEL, trusted_types=list(DTYPES.trusted_types))
    return registry


def secret_reader(secret: Path) -> Pipeline:
    """The reported attack, scikit-learn's classes only: any input becomes ``secret``'s path, whose characters come back.

    An OrdinalEncoder turns every unseen value into NaN, a SimpleImputer fitted on the path fills it in,
    CountVectorizer(input="filename") opens it, and a multi-output LinearRegression returns each letter's count.
    """
    path = np.array([[str(secret)]], dtype=object)
    pipeline = make_pipeline(
        OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
        SimpleImputer(strategy="most_frequent", missing_values=np.nan),
        ColumnTransformer([("file", CountVectorizer(input="filename", analyzer="char", vocabulary=list(LETTERS)), 0)]),
        LinearRegression(fit_intercept=False),
    )
    pipeline[0].fit(np.array([["seen at fit"]], dtype=object))
    pipeline[1].fit(path)
    pipeline[2].fit(path)
    pipeline[3].fit(np.eye(len(LETTERS)), np.eye(len(LETTERS)))
    return pipeline


def letters_read(model, secret: Path) -> dict[str, int]:
    counts = np.asarray(model.predict(np.array([["any input at all"]], dtype=object))).ravel()
    return {letter: round(count) for letter, count in zip(LETTERS, counts, strict=True) if round(count)}


def hidden_in_an_object_array(estimator) -> VotingRegressor:
    """A VotingRegressor whose fitted estimators are an object array: its parameters name a harmless regressor."""
    voting = VotingRegressor([("plain", LinearRegression())])
    voting.estimators_ = np.empty(1, dtype=object)
    voting.estimators_[0] = estimator
    voting.named_estimators_ = Bunch()
    return voting


def test_the_reported_attack_reads_a_host_file_and_is_refused_at_registration(
    texts: Registry, secret: Path, catalog_state
):
    """Any input at all returns the letters of the host file; registering it is refused and stores nothing."""
    attack = secret_reader(secret)
    assert letters_read(attack, secret) == dict(Counter(c for c in secret.read_text() if c in LETTERS))
    before = catalog_state()
    with pytest.raises(IoParameterRefused, match="sets CountVectorizer.input"):
        texts.register(MODEL, attack)
    assert catalog_state() == before


@pytest.mark.parametrize("hide", [lambda e: e, hidden_in_an_object_array], ids=["as-is", "in-an-object-array"])
def test_the_reported_attack_forged_past_registration_is_refused_at_load(registry: Registry, secret: Path, hide):
    """Stored directly (as a forged version would be), the loader refuses it wherever the vectorizer sits."""
    attack = hide(secret_reader(secret))
    assert letters_read(attack, secret)  # it really does read the file
    with pytest.raises(IoParameterRefused, match=r"models:/texts/9 sets CountVectorizer.input \(input='filename'"):
        load_blob(registry, skops_bytes(attack), DTYPES)


def test_an_io_parameter_in_an_object_array_is_refused_at_registration(texts: Registry, secret: Path, catalog_state):
    """Nested estimators are found in object arrays too, not only in lists, dicts and estimator attributes."""
    before = catalog_state()
    with pytest.raises(IoParameterRefused, match="sets CountVectorizer.input"):
        texts.register(MODEL, hidden_in_an_object_array(secret_reader(secret)))
    assert catalog_state() == before


@pytest.mark.parametrize("wrap", [
    lambda e: functools.partial(print, e),
    lambda e: SimpleNamespace(inner=e),
    lambda e: {"key": [(e,)]},
], ids=["partial", "plain-object", "nested-containers"])
def test_an_io_parameter_is_found_inside_any_object_the_estimator_holds(secret: Path, wrap):
    holder = LinearRegression()
    holder.extra = wrap(CountVectorizer(input="file"))
    assert io_parameters(holder) == ["CountVectorizer.input"]


# --- members read more than once, and archives inside members --------------------------------------


def with_schema(data: bytes, edit) -> bytes:
    """``data`` with its schema replaced by ``edit(schema)`` and every other member kept."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as forged:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "schema.json":
                content = json.dumps(edit(json.loads(content))).encode()
            forged.writestr(item.filename, content)
    return buffer.getvalue()


def test_a_member_read_by_many_nodes_counts_once_per_read(registry: Registry):
    """One 1 MiB array member named by 64 nodes inflates 64 MiB: over an 8 MiB limit although the zip declares 1 MiB."""
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    model.coef_ = np.zeros((1, 1 << 17))
    base = skops_bytes(model)

    def reread(schema):
        coef = schema["content"]["content"]["coef_"]
        for copy in range(64):
            schema["content"]["content"][f"copy{copy}"] = {**coef, "__id__": 10_000 + copy}
        return schema

    with pytest.raises(InvalidInput, match=r"models:/texts/9: member '.*\.npy' .*over the limit of 8388608 bytes"):
        load_blob(registry, with_schema(base, reread), GatePolicy(max_load_bytes=8 << 20))


def sparse_bomb(inflated: int) -> bytes:
    """A model holding a sparse matrix whose .npz member is itself a zip declaring ``inflated`` bytes of zeros."""
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    model.extra_ = scipy.sparse.csr_matrix(np.eye(2))
    data = skops_bytes(model)
    inner = io.BytesIO()
    count = inflated // 8
    scipy.sparse.save_npz(inner, scipy.sparse.csr_matrix(
        (np.zeros(count), np.zeros(count, dtype=np.int32), np.array([0, count], dtype=np.int32)), shape=(1, 1)
    ), compressed=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as forged:
        for item in source.infolist():
            is_npz = item.filename.endswith(".npz")
            forged.writestr(item.filename, inner.getvalue() if is_npz else source.read(item))
    return buffer.getvalue()


def test_an_archive_inside_a_member_is_measured_before_it_inflates(registry: Registry):
    """A sparse matrix's .npz is a zip of its own: 64 MiB of zeros in a member of a few hundred KB is over 8 MiB."""
    data = sparse_bomb(64 << 20)
    assert len(data) < 1 << 20
    with pytest.raises(InvalidInput, match=r"models:/texts/9: member '.*\.npz' inflates to \d+ bytes"):
        load_blob(registry, data, GatePolicy(max_load_bytes=8 << 20, trusted_types=CSR.trusted_types))


def test_a_sparse_model_within_its_limit_still_loads(registry: Registry):
    model = LogisticRegression().fit(scipy.sparse.csr_matrix([[0.0], [1.0]]), [0, 1])
    model.extra_ = scipy.sparse.csr_matrix(np.eye(3))
    registry.create_model(MODEL)
    registry.set_policy(MODEL, trusted_types=list(CSR.trusted_types))
    version = registry.register(MODEL, model)
    loaded = registry.load_model(version.uri)
    assert (loaded.extra_ != model.extra_).nnz == 0


# --- classes of scikit-learn that reach the network when loaded ----------------------------------


@pytest.fixture
def listener() -> Iterator[tuple[tuple[str, int], list[str]]]:
    """A TCP port on loopback recording every connection made to it: where a loaded model must never connect."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    connections: list[str] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            connections.append("connected")
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname(), connections
    stop.set()
    thread.join()
    server.close()


def carrying_a_scoring_monitor(address: tuple[str, int]) -> LogisticRegression:
    """A model holding scikit-learn's ScoringMonitor callback, whose unpickling connects to the address it holds."""
    monitor = ScoringMonitor(scoring="accuracy")
    monitor._listener_handle = ListenerHandle(address, b"key")
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    model.monitor_ = monitor
    return model


def test_a_callback_that_connects_when_loaded_is_refused_at_load_and_connects_nowhere(registry: Registry, listener):
    """scikit-learn's callbacks open sockets when restored: they are not trusted as scikit-learn's own."""
    address, connections = listener
    with pytest.raises(UntrustedType, match="sklearn.callback._scoring_monitor.ScoringMonitor"):
        load_blob(registry, skops_bytes(carrying_a_scoring_monitor(address)))
    time.sleep(0.3)
    assert connections == []


def test_a_callback_is_refused_at_registration(registry: Registry, listener, catalog_state):
    address, _ = listener
    before = catalog_state()
    with pytest.raises(UntrustedType, match="sklearn.callback._scoring_monitor.ScoringMonitor"):
        registry.register(MODEL, carrying_a_scoring_monitor(address))
    assert catalog_state() == before

"""Property: whatever a hand-made skops schema holds, loading it is a model or one RegistryError, and prints nothing."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from registry_core import GatePolicy, RegistryError
from registry_core.estimators import load_estimator

SETTINGS = settings(
    max_examples=150, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LOADERS = ["ObjectNode", "DictNode", "ListNode", "TupleNode", "JsonNode", "TypeNode", "FunctionNode", "MethodNode",
           "NdArrayNode", "SparseMatrixNode", "ReduceNode", "PartialNode", "BytesNode", "SetNode", "SliceNode",
           "NoSuchNode"]
MODULES = ["builtins", "numpy", "sklearn.linear_model", "sklearn._build_utils.version", "sklearn.callback",
           "os", "this", "", "sklearn", "scipy.sparse"]
CLASSES = ["dict", "list", "LogisticRegression", "ndarray", "system", "Version", "ScoringMonitor", "X", ""]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.text(max_size=12),
                    st.sampled_from(["0.npy", "schema.json", "true", "null", "json", "numpy", "scipy"]))


def nodes(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts shaped like skops nodes, each key sometimes of the wrong type or missing."""
    return st.fixed_dictionaries(
        {"__class__": st.one_of(st.sampled_from(CLASSES), scalars),
         "__module__": st.one_of(st.sampled_from(MODULES), scalars),
         "__loader__": st.one_of(st.sampled_from(LOADERS), scalars)},
        optional={"content": children, "__id__": st.integers(0, 5), "is_json": st.booleans(),
                  "type": st.sampled_from(["json", "numpy", "scipy", "x"]), "file": scalars, "shape": children,
                  "attrs": children, "obj": children, "key_types": children, "args": children},
    )


schemas = st.recursive(
    scalars,
    lambda children: st.one_of(nodes(children), st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=6), children, max_size=4)),
    max_leaves=30,
)


class _OneBlob:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def open(self, sha256: str) -> io.BytesIO:
        return io.BytesIO(self.data)


def load_schema(schema: Any) -> Any:
    top = {**schema, "protocol": 2, "_skops_version": "0.16.0"} if isinstance(schema, dict) else schema
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(top))
        archive.writestr("0.npy", b"\x93NUMPY")
    data = buffer.getvalue()
    return load_estimator(_OneBlob(data), sha256=hashlib.sha256(data).hexdigest(), label="models:/m/1",  # type: ignore[arg-type]
                          format={"serializer": "skops"}, model="m", policy=GatePolicy())


@SETTINGS
@given(schema=schemas)
@example(schema={"__class__": "Version", "__module__": "sklearn._build_utils.version", "__loader__": "TypeNode"})
@example(schema={"__class__": "LogisticRegression", "__module__": 7, "__loader__": "ObjectNode", "content": {}})
@example(schema=[1, 2, 3])
def test_any_schema_loads_or_is_one_registry_error_and_prints_nothing(schema: Any, capsys: pytest.CaptureFixture[str]):
    try:
        load_schema(schema)
    except RegistryError as exc:
        assert "\n" not in exc.message
    assert capsys.readouterr().out == ""

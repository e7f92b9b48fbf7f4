"""ONNX models: checked at registration, run with ONNX Runtime, never with registrant code.

A graph is accepted only when :func:`onnx.checker.check_model` passes, every
operator comes from the default ONNX domain or ``ai.onnx.ml`` (so no custom-op
library is ever needed), it defines no model-local functions and it holds
every tensor inline, or, for a model that is one file of a folder version,
in other files of that same folder: an external-data location is a plain
relative path (no ``..``, nothing absolute) naming one of the version's own
files, read verified and copied inline before ONNX Runtime sees the model, so
a model reads no byte outside its version. The same checks run again before a
stored model is loaded. ONNX Runtime's constant folding is disabled: it
evaluates the graph's constant subexpressions while loading, so a file of a
few hundred bytes (``ConstantOfShape`` of a large shape) would otherwise
allocate up to a gigabyte before any request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from ..errors import InvalidInput
from ..extras import requiring_extra
from ..relative_paths import check_relative_path

__all__ = ["MAX_ONNX_BYTES", "OnnxModel", "SiblingFiles", "check_onnx", "inlined_onnx", "load_onnx", "onnx_bytes_of"]

#: Protocol buffers cannot hold more than 2 GiB; models with external data are refused, so this bounds every model.
MAX_ONNX_BYTES = 2 * 1024 * 1024 * 1024 - 1
_ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


class SiblingFiles(Protocol):
    """The other files of the folder version a model file belongs to, by path relative to that folder."""

    def size(self, path: str) -> int:
        """The recorded size of ``path``; :class:`InvalidInput` when it is not one of the version's files."""
        ...

    def read(self, path: str) -> bytes:
        """The verified bytes of ``path`` (its size was checked first)."""
        ...


def onnx_bytes_of(model: Any) -> bytes | None:
    """The serialized bytes of ``model`` when it is an ``onnx.ModelProto``, else None (onnx is never imported here)."""
    import sys

    onnx = sys.modules.get("onnx")
    if onnx is None or not isinstance(model, onnx.ModelProto):
        return None
    return model.SerializeToString()


def check_onnx(data: bytes, *, label: str, siblings: SiblingFiles | None = None,
               max_bytes: int = MAX_ONNX_BYTES) -> dict[str, Any]:
    """Parse and check an ONNX model; return its typed ``artifact_format``, or raise :class:`InvalidInput`.

    ``siblings``: the folder's other files, which external data may name; ``max_bytes`` bounds the model and
    its external data together, checked before any external byte is read.
    """
    model = _parse(data, label, siblings, max_bytes)
    inputs = [_describe(value) for value in model.graph.input if value.name not in _initializer_names(model)]
    return {
        "model_format": "onnx",
        "ir_version": int(model.ir_version),
        "opsets": {entry.domain or "ai.onnx": int(entry.version) for entry in model.opset_import},
        "inputs": inputs,
        "outputs": [_describe(value) for value in model.graph.output],
    }


def inlined_onnx(data: bytes, *, label: str, siblings: SiblingFiles, max_bytes: int = MAX_ONNX_BYTES) -> bytes:
    """A checked model with the external data it names among ``siblings`` copied inline: one self-contained model."""
    return bytes(_parse(data, label, siblings, max_bytes).SerializeToString())


def load_onnx(data: bytes, *, label: str, siblings: SiblingFiles | None = None,
              max_bytes: int = MAX_ONNX_BYTES) -> OnnxModel:
    """An ONNX Runtime session over checked bytes, with no custom-op library and only the CPU provider."""
    model = _parse(data, label, siblings, max_bytes)
    with requiring_extra("onnx", "loading an ONNX model"):
        import onnxruntime

    if siblings is not None:
        data = model.SerializeToString()  # its external data now inline: ONNX Runtime opens no file
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"],
                                               disabled_optimizers=["ConstantFolding"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for graphs it cannot run
        raise InvalidInput(f"{label}: ONNX Runtime cannot run this model: {_first_line(exc)}") from None
    return OnnxModel(session, classes=_class_labels(model))


class OnnxModel:
    """A loaded ONNX model with the scikit-learn calls gates and serving use: ``predict`` and, when the graph
    has a probability output, ``predict_proba``."""

    def __init__(self, session: Any, *, classes: list[Any] | None = None) -> None:
        import numpy as np

        self.session = session
        if classes is not None:
            #: The class labels of an ai.onnx.ml classifier, in the order of its probability columns.
            self.classes_ = np.asarray(classes)
        self._input = session.get_inputs()[0]
        outputs = session.get_outputs()
        self._label = outputs[0].name
        self._proba = next((o.name for o in outputs[1:] if o.type.startswith("tensor(float")), None)
        width = self._input.shape[-1] if self._input.shape else None
        #: The number of features per record when the graph fixes it (the serving input check reads it).
        self.n_features_in_: int | None = width if isinstance(width, int) else None

    def _run(self, X: Any, output: str) -> Any:
        import numpy as np

        dtype = np.float64 if self._input.type == "tensor(double)" else np.float32
        values = np.asarray(getattr(X, "values", X), dtype=dtype)
        if values.ndim == 1:
            values = values.reshape(1, -1)
        return self.session.run([output], {self._input.name: values})[0]

    def predict(self, X: Any) -> Any:
        """The graph's first output for the rows of ``X``."""
        result = self._run(X, self._label)
        return result.ravel() if getattr(result, "ndim", 1) == 2 and result.shape[1] == 1 else result

    @property
    def predict_proba(self) -> Any:
        """The graph's probability output for the rows of ``X`` (absent when the graph has none)."""
        if self._proba is None:
            raise AttributeError("this ONNX model has no probability output")
        proba = self._proba
        return lambda X: self._run(X, proba)


def _parse(data: bytes, label: str, siblings: SiblingFiles | None = None, max_bytes: int = MAX_ONNX_BYTES) -> Any:
    max_bytes = min(max_bytes, MAX_ONNX_BYTES)
    if len(data) > max_bytes:
        raise InvalidInput(f"{label}: an ONNX model is at most {max_bytes} bytes")
    with requiring_extra("onnx", "registering or loading an ONNX model"):
        import onnx
        import onnx.checker

    try:
        model = onnx.load_model_from_string(data)
    except Exception:  # protobuf's DecodeError and friends: any non-ONNX bytes
        raise InvalidInput(f"{label} is not an ONNX model") from None
    if not model.graph.node and not model.graph.output:
        raise InvalidInput(f"{label} is not an ONNX model (no graph)")
    for domain in sorted({entry.domain for entry in model.opset_import} | {n.domain for n in _nodes(model.graph)}):
        if domain not in _ALLOWED_DOMAINS:
            raise InvalidInput(f"{label} uses operators of the custom domain {domain!r}; only ONNX and ai.onnx.ml run")
    if model.functions:
        raise InvalidInput(f"{label} defines model-local functions; they are not accepted")
    external = [t for t in _tensors(model.graph) if t.data_location == onnx.TensorProto.EXTERNAL or t.external_data]
    if external and siblings is None:
        raise InvalidInput(f"{label} keeps tensor {external[0].name!r} in external data; store every tensor inline")
    if external:
        _inline_external(external, data_size=len(data), label=label, siblings=siblings, max_bytes=max_bytes)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx.checker.ValidationError, and C++ errors surfaced as others
        raise InvalidInput(f"{label} fails the ONNX checker: {_first_line(exc)}") from None
    return model


def _inline_external(tensors: list[Any], *, data_size: int, label: str, siblings: Any, max_bytes: int) -> None:
    """Copy each tensor's external data inline from the version's own files, every range checked before reading."""
    import onnx

    ranges = []
    total = data_size
    for tensor in tensors:
        fields = {entry.key: entry.value for entry in tensor.external_data}
        what = f"{label}: the external data of tensor {tensor.name!r}"
        location = str(check_relative_path(fields.get("location"), what=what))
        size = siblings.size(location)
        try:
            offset = int(fields.get("offset") or 0)
            length = int(fields["length"]) if fields.get("length") else size - offset
        except ValueError:
            raise InvalidInput(f"{what} has an offset or length that is not a number") from None
        if offset < 0 or length < 0 or offset + length > size:
            raise InvalidInput(f"{what} reads bytes {offset}..{offset + length} of {location!r}, which holds {size}")
        total += length
        if total > max_bytes:
            raise InvalidInput(f"{label} and its external data hold more than {max_bytes} bytes")
        ranges.append((tensor, location, offset, length))
    for tensor, location, offset, length in ranges:
        tensor.raw_data = siblings.read(location)[offset:offset + length]
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT


def _class_labels(model: Any) -> list[Any] | None:
    import onnx

    for node in _nodes(model.graph):
        for attribute in node.attribute:
            if attribute.name in ("classlabels_ints", "classlabels_int64s", "classlabels_strings"):
                values = onnx.helper.get_attribute_value(attribute)
                return [v.decode() if isinstance(v, bytes) else int(v) for v in values]
    return None


def _nodes(graph: Any) -> Iterator[Any]:
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                yield from _nodes(sub)


def _tensors(graph: Any) -> Iterator[Any]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                yield from _tensors(sub)


def _initializer_names(model: Any) -> set[str]:
    return {tensor.name for tensor in model.graph.initializer}


def _describe(value: Any) -> dict[str, Any]:
    import onnx

    tensor = value.type.tensor_type
    if not value.type.HasField("tensor_type"):
        return {"name": value.name, "type": value.type.WhichOneof("value") or "unknown"}
    shape = [dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or None) for dim in tensor.shape.dim]
    return {"name": value.name, "type": onnx.TensorProto.DataType.Name(tensor.elem_type).lower(), "shape": shape}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__

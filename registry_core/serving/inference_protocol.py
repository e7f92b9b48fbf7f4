"""The Open Inference Protocol (KServe V2 REST) beside ``/predict``: health, metadata and ``infer``.

Tensors arrive as ``{"name", "shape", "datatype", "data"}`` with ``data`` flat
and row-major. Either one 2-D input ``[records, features]`` in the model's
feature order, or one 1-D input (``[records]`` or ``[records, 1]``) per
feature column, named after it. The records then take the very path
``/predict``'s take (:func:`~.scoring.route_and_score`): canary routing,
fallback, metrics, the prediction log and shadow scoring. Answers are the
``predict`` tensor and, when the model gives them, ``predict_proba``
(``[records, classes]``). Every refusal is ``{"error": "..."}`` with a 4xx.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import __version__
from ..uris import parse_model_uri
from .model_holder import ServedModel
from .payload import PayloadError, PredictRequest, parse_json_body
from .runtime import ServingRuntime
from .scoring import Scored, error_response, read_body, refusal, route_and_score

__all__ = ["OUTPUT_NAMES", "endpoint_label", "parse_infer_request", "protocol_routes"]

#: The outputs a model can give: its predictions and, for a classifier, the class probabilities.
OUTPUT_NAMES = ("predict", "predict_proba")
_REQUEST_FIELDS = frozenset({"id", "parameters", "inputs", "outputs"})
_INPUT_FIELDS = frozenset({"name", "shape", "datatype", "data", "parameters"})
_FLOATS = frozenset({"FP16", "FP32", "FP64"})
_INTEGERS = frozenset({"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"})
_DATATYPES = _FLOATS | _INTEGERS | {"BOOL", "BYTES"}
#: Signature column types (MLflow's names) as protocol datatypes; anything else is FP64.
_SIGNATURE_TYPES = {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32", "boolean": "BOOL",
                    "string": "BYTES", "binary": "BYTES"}


def protocol_routes(runtime: ServingRuntime, limiter: Callable[[], anyio.CapacityLimiter]) -> list[Route]:
    """The protocol's routes for ``runtime``; ``limiter`` gives the scoring threads' limiter once the app started."""
    options = runtime.options
    name = parse_model_uri(runtime.primary.uri).name

    def unknown(requested: str) -> JSONResponse | None:
        if requested != name:
            return error_response(404, f"unknown model {requested!r}: this server serves {name!r}")
        return None

    def served_version(request: Request) -> tuple[ServedModel | None, JSONResponse | None]:
        """The version a (possibly versioned) path names, or the refusal to send."""
        refused = unknown(request.path_params["name"])
        if refused is not None:
            return None, refused
        primary = runtime.primary.current
        if primary is None:
            return None, error_response(503, "no model version is loaded yet")
        wanted = request.path_params.get("version")
        if wanted is None:
            return primary, None
        for served in _served(runtime):
            if str(served.info.version) == wanted:
                return served, None
        return None, error_response(404, f"version {wanted} of {name!r} is not served here")

    async def server_metadata(_request: Request) -> Response:
        return JSONResponse({"name": "registry-serve", "version": __version__, "extensions": []})

    async def live(_request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(_request: Request) -> Response:
        status, _body = runtime.health()
        return JSONResponse({"ready": status == 200}, status_code=200 if status == 200 else 503)

    async def model_ready(request: Request) -> Response:
        served, refused = served_version(request)
        if refused is not None and refused.status_code != 503:
            return refused
        return JSONResponse({"name": name, "ready": served is not None}, status_code=200 if served else 503)

    async def model_metadata(request: Request) -> Response:
        served, refused = served_version(request)
        if served is None:
            assert refused is not None
            return refused
        return JSONResponse(_metadata(served, [str(s.info.version) for s in _served(runtime)]))

    async def infer(request: Request) -> Response:
        refused = unknown(request.path_params["name"])
        if refused is not None:
            return refused
        wanted = request.path_params.get("version")
        if wanted is not None and not (wanted.isascii() and wanted.isdigit()):
            return error_response(404, f"version {wanted!r} of {name!r} is not served here")
        if "inference-header-content-length" in request.headers:
            return error_response(400, "the binary tensor data extension is not supported: send tensors as JSON data")
        if request.headers.get("content-encoding", "identity").lower() != "identity":
            return error_response(415, "compressed request bodies are not supported: send the JSON uncompressed")
        try:
            body = await read_body(request, options.max_body_bytes, options.body_timeout)
            parsed, request_id, wanted_outputs = parse_infer_request(body, max_records=options.max_records)
        except PayloadError as exc:
            return refusal(_as_protocol_error(exc))
        scored = await route_and_score(runtime, parsed, limiter(), version=int(wanted) if wanted else None)
        if not isinstance(scored, Scored):
            if scored.status_code == 422:  # the protocol answers every refused input with a 400
                return error_response(400, json.loads(bytes(scored.body))["error"])
            return scored
        answer: dict[str, Any] = {
            "model_name": name,
            "model_version": str(scored.served.info.version),
            "outputs": _outputs(scored.answer, wanted_outputs, len(parsed.records)),
            "parameters": {"slot": scored.slot},
        }
        if request_id is not None:
            answer["id"] = request_id
        return JSONResponse(answer)

    routes = [
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
    ]
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        routes += [
            Route(prefix, model_metadata, methods=["GET"]),
            Route(prefix + "/ready", model_ready, methods=["GET"]),
            Route(prefix + "/infer", infer, methods=["POST"]),
        ]
    return routes


def endpoint_label(path: str) -> str:
    """The metrics label of a request path: one per kind of protocol endpoint, ``other`` for unknown paths."""
    if path != "/v2" and not path.startswith("/v2/"):
        return "other"
    if path.startswith("/v2/health/"):
        return "/v2/health"
    if path.endswith("/infer"):
        return "/v2/infer"
    if path.endswith("/ready"):
        return "/v2/ready"
    return "/v2/metadata"


def parse_infer_request(body: bytes, *, max_records: int) -> tuple[PredictRequest, str | None, list[str] | None]:
    """An ``infer`` body as records, its ``id`` and the outputs it asks for (None: all), or :class:`PayloadError` 400."""
    if not body.strip():
        raise PayloadError(400, 'empty request body: send {"inputs": [{"name", "shape", "datatype", "data"}]}')
    document = parse_json_body(body, what="request body")
    if not isinstance(document, dict):
        raise PayloadError(400, 'expected a JSON object like {"inputs": [...]}')
    unknown = sorted(set(document) - _REQUEST_FIELDS)
    if unknown:
        raise PayloadError(400, f"unknown field(s) {', '.join(map(repr, unknown))}: expected id, parameters, inputs, outputs")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise PayloadError(400, "'id' must be a string")
    if "parameters" in document and not isinstance(document["parameters"], dict):
        raise PayloadError(400, "'parameters' must be an object")
    outputs = _requested_outputs(document.get("outputs"))
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise PayloadError(400, "'inputs' must be a non-empty list of tensors")
    tensors = [_tensor(item, index) for index, item in enumerate(inputs)]
    names = [tensor[0] for tensor in tensors]
    if len(set(names)) != len(names):
        raise PayloadError(400, "input names must be unique")
    if len(tensors) == 1 and len(tensors[0][1]) == 2 and tensors[0][1][1] != 1:
        _name, shape, data = tensors[0]
        rows, width = shape
        records: list[Any] = [data[row * width:(row + 1) * width] for row in range(rows)]
    else:
        for tensor_name, shape, _data in tensors:
            if len(shape) != 1 and shape[1:] != [1]:
                raise PayloadError(400, f"input {tensor_name!r} has shape {shape}: send one 2-D input "
                                        "[records, features], or one input of shape [records] per feature")
        counts = {shape[0] for _name, shape, _data in tensors}
        if len(counts) != 1:
            raise PayloadError(400, f"inputs hold different numbers of records: {sorted(counts)}")
        rows = counts.pop()
        records = [{tensor_name: data[row] for tensor_name, _shape, data in tensors} for row in range(rows)]
    if not records:
        raise PayloadError(400, "the inputs hold no records: send at least one")
    if len(records) > max_records:
        raise PayloadError(413, f"{len(records)} records in one request; the limit is {max_records}")
    probabilities = outputs is None or "predict_proba" in outputs
    request = PredictRequest(records=records, return_probabilities=probabilities, probabilities_optional=outputs is None)
    return request, request_id, outputs


def _requested_outputs(outputs: Any) -> list[str] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(isinstance(item, dict) for item in outputs):
        raise PayloadError(400, "'outputs' must be a list of objects like {\"name\": \"predict\"}")
    names = [item.get("name") for item in outputs]
    for output in names:
        if output not in OUTPUT_NAMES:
            raise PayloadError(400, f"unknown output {output!r}: this model gives {', '.join(OUTPUT_NAMES)}")
    return [str(output) for output in names]


def _tensor(item: Any, index: int) -> tuple[str, list[int], list[Any]]:
    """One input tensor as (name, shape, values), each value checked against the declared datatype."""
    if not isinstance(item, dict):
        raise PayloadError(400, f"input {index} must be an object with name, shape, datatype and data")
    unknown = sorted(set(item) - _INPUT_FIELDS)
    missing = [field for field in ("name", "shape", "datatype", "data") if field not in item]
    if unknown or missing:
        raise PayloadError(400, f"input {index} " + "; ".join(
            ([f"lacks {', '.join(missing)}"] if missing else []) + ([f"has unknown field(s) {', '.join(unknown)}"] if unknown else [])))
    name, shape, datatype, data = item["name"], item["shape"], item["datatype"], item["data"]
    if not isinstance(name, str) or not name:
        raise PayloadError(400, f"input {index}'s name must be a non-empty string")
    if not isinstance(shape, list) or not shape or not all(
        isinstance(size, int) and not isinstance(size, bool) and size >= 0 for size in shape
    ):
        raise PayloadError(400, f"input {name!r}'s shape must be a list of non-negative whole numbers")
    if datatype not in _DATATYPES:
        raise PayloadError(400, f"input {name!r} has datatype {datatype!r}: expected one of {', '.join(sorted(_DATATYPES))}")
    if not isinstance(data, list) or any(isinstance(value, list) for value in data):
        raise PayloadError(400, f"input {name!r}'s data must be a flat, row-major list of values")
    if len(data) != math.prod(shape):
        raise PayloadError(400, f"input {name!r} has shape {shape} ({math.prod(shape)} values) but {len(data)} values")
    for value in data:
        if not _fits(value, datatype):
            raise PayloadError(400, f"input {name!r} is {datatype} but holds {json.dumps(value)[:40]}")
    if datatype == "BOOL":
        data = [int(value) for value in data]
    return name, shape, data


def _fits(value: Any, datatype: str) -> bool:
    if datatype == "BYTES":
        return isinstance(value, str)
    if datatype == "BOOL":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if datatype in _INTEGERS:
        return isinstance(value, int) and (not datatype.startswith("U") or value >= 0)
    return isinstance(value, (int, float))


def _outputs(answer: dict[str, Any], wanted: list[str] | None, rows: int) -> list[dict[str, Any]]:
    outputs = []
    if wanted is None or "predict" in wanted:
        predictions = answer["predictions"]
        outputs.append({"name": "predict", "shape": [rows], "datatype": _datatype_of(predictions), "data": predictions})
    probabilities = answer.get("probabilities")
    if probabilities is not None:
        width = len(probabilities[0]) if probabilities else 0
        flat = [value for row in probabilities for value in row]
        outputs.append({"name": "predict_proba", "shape": [rows, width], "datatype": "FP64", "data": flat})
    return outputs


def _datatype_of(values: list[Any]) -> str:
    present = [value for value in values if value is not None]
    if present and all(isinstance(value, bool) for value in present):
        return "BOOL"
    if all(isinstance(value, int) and not isinstance(value, bool) for value in present):
        return "INT64"
    if all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in present):
        return "FP64"
    return "BYTES"


def _metadata(served: ServedModel, versions: list[str]) -> dict[str, Any]:
    """The protocol's model metadata: inputs from the served version's input schema, the outputs it gives."""
    schema, model = served.schema, served.model
    if schema.names is not None:
        types = _signature_types(served.info.signature)
        inputs = [{"name": column, "datatype": types.get(column, "FP64"), "shape": [-1]} for column in schema.names]
    else:
        inputs = [{"name": "input", "datatype": "FP64", "shape": [-1, schema.width if schema.width is not None else -1]}]
    classes = getattr(model, "classes_", None)
    predict_type = _datatype_of(classes.tolist()) if classes is not None else "FP64"
    outputs = [{"name": "predict", "datatype": predict_type, "shape": [-1]}]
    if hasattr(model, "predict_proba") and classes is not None:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(classes)]})
    return {
        "name": served.info.model,
        "versions": versions,
        # What answers: the version's own artifact kind, or "onnx_rendition" (see serving/answering_artifact.py).
        "platform": served.answered_by.get("artifact", served.info.artifact_kind),
        "inputs": inputs,
        "outputs": outputs,
    }


def _signature_types(signature: dict[str, Any] | None) -> dict[str, str]:
    inputs = signature.get("inputs") if isinstance(signature, dict) else None
    types: dict[str, str] = {}
    for item in inputs if isinstance(inputs, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("type"), str):
            types[item["name"]] = _SIGNATURE_TYPES.get(item["type"].lower(), "FP64")
    return types


def _served(runtime: ServingRuntime) -> list[ServedModel]:
    """The versions this server answers for: the primary, and the canary if one is loaded."""
    slots = [runtime.primary.current, runtime.canary.current if runtime.canary is not None else None]
    return [served for served in slots if served is not None]


def _as_protocol_error(exc: PayloadError) -> PayloadError:
    if exc.status == 422:
        return PayloadError(400, exc.message, close=exc.close)
    return exc

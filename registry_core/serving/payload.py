"""What ``POST /predict`` accepts, and how records become a model's input.

A request is ``{"records": [...]}``: each record is an object of feature name
to value, or an array of values in the model's feature order. Anything else is
refused with a status and a message that says what was expected; nothing a
client sends reaches the model unchecked.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..validation import MAX_JSON_DEPTH, nesting_depth

__all__ = ["InputSchema", "PayloadError", "PredictRequest", "json_safe", "parse_json_body", "parse_predict_request", "to_model_input"]

_SCALARS = (str, int, float, type(None))
#: The exact types json.loads gives for scalars other than booleans: checked by a set lookup, the common case.
_SCALAR_TYPES = frozenset(_SCALARS)
_FIELDS = {"records", "return_probabilities"}


class PayloadError(Exception):
    """A request the server refuses, with the HTTP status to answer."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        #: Whether the connection must close after the answer (its body was not read to the end).
        self.close = close


@dataclass(frozen=True)
class InputSchema:
    """The features a model takes: their names (when known) and how many."""

    names: tuple[str, ...] | None
    width: int | None
    #: The model was fitted on a DataFrame and wants one back (named columns).
    as_frame: bool

    @classmethod
    def of(cls, model: Any, signature: dict[str, Any] | None = None) -> InputSchema:
        """Read the schema from a fitted scikit-learn model, else from the version's signature ``inputs``."""
        fitted = getattr(model, "feature_names_in_", None)
        if fitted is not None:
            names = tuple(str(name) for name in fitted)
            return cls(names=names, width=len(names), as_frame=True)
        width = getattr(model, "n_features_in_", None)
        declared = _signature_names(signature)
        if declared is not None and (width is None or len(declared) == width):
            return cls(names=declared, width=len(declared), as_frame=False)
        return cls(names=None, width=int(width) if width is not None else None, as_frame=False)

    def describe(self) -> str:
        if self.names:
            return "objects with the fields " + ", ".join(self.names)
        if self.width is not None:
            return f"arrays of {self.width} values"
        return "arrays of values"


@dataclass(frozen=True)
class PredictRequest:
    records: list[Any]
    return_probabilities: bool
    #: Give probabilities only if the model has them, instead of refusing the request when it has not.
    probabilities_optional: bool = False


def parse_predict_request(body: bytes, *, max_records: int) -> PredictRequest:
    """Parse and check the envelope of a /predict body (the records' shape is checked against the model later)."""
    if not body.strip():
        raise PayloadError(400, 'empty request body: send JSON like {"records": [{"feature": 1.0, ...}]}')
    try:
        _refuse_deep(body, what="request body")
        document = json.loads(body, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise PayloadError(400, "request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(400, f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise PayloadError(400, f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise PayloadError(400, "request body is nested too deeply") from None
    if _may_hold_surrogates(body):
        refuse_lone_surrogates(document, what="request body")
    if not isinstance(document, dict):
        raise PayloadError(422, f'expected a JSON object like {{"records": [...]}}, got {_kind(document)}')
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise PayloadError(422, f"unknown field(s) {', '.join(map(repr, unknown))}: expected 'records' and optionally 'return_probabilities'")
    if "records" not in document:
        raise PayloadError(422, "missing 'records': a list of records to score")
    records = document["records"]
    if not isinstance(records, list):
        raise PayloadError(422, f"'records' must be a list, got {_kind(records)}")
    if not records:
        raise PayloadError(422, "'records' is empty: send at least one record")
    if len(records) > max_records:
        raise PayloadError(413, f"{len(records)} records in one request; the limit is {max_records}")
    probabilities = document.get("return_probabilities", False)
    if not isinstance(probabilities, bool):
        raise PayloadError(422, f"'return_probabilities' must be true or false, got {_kind(probabilities)}")
    return PredictRequest(records=records, return_probabilities=probabilities)


def parse_json_body(body: bytes, *, what: str) -> Any:
    """JSON ``body`` as a value, or :class:`PayloadError` 400: not UTF-8, not JSON, nested too deeply, lone surrogates."""
    try:
        _refuse_deep(body, what=what)
        document = json.loads(body)
    except UnicodeDecodeError:
        raise PayloadError(400, f"{what} is not UTF-8 text") from None
    except (ValueError, RecursionError):
        raise PayloadError(400, f"{what} is not valid JSON") from None
    if _may_hold_surrogates(body):
        refuse_lone_surrogates(document, what=what)
    return document


def _refuse_deep(body: bytes, *, what: str) -> None:
    """Refuse nesting beyond :data:`MAX_JSON_DEPTH` before the parser recurses into it (one pass, no recursion)."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return  # nesting cannot be deeper than the brackets opened, so no scan is needed
    depth = nesting_depth(body.decode("utf-8", errors="replace"))
    if depth > MAX_JSON_DEPTH:
        raise PayloadError(400, f"{what} is nested too deeply (more than {MAX_JSON_DEPTH} levels)")


def _may_hold_surrogates(body: bytes) -> bool:
    # A lone surrogate reaches a parsed document only through a \u escape or as non-ASCII bytes (which
    # json.loads decodes with "surrogatepass"): a body with neither cannot hold one, so it is not walked.
    return not body.isascii() or b"\\u" in body


def refuse_lone_surrogates(document: Any, *, what: str) -> None:
    """Refuse text that JSON escapes can hold but UTF-8 cannot (``"\\ud800"``): no model or log could use it."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            texts: list[str] = [item]
        elif isinstance(item, dict):
            texts = [key for key in item if isinstance(key, str)]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
            continue
        else:
            continue
        for text in texts:
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise PayloadError(400, f"{what} holds a lone surrogate escape such as \\ud800; send valid Unicode text") from None


def to_model_input(records: list[Any], schema: InputSchema) -> Any:
    """The records as the model's input (a DataFrame or a 2-D array), or :class:`PayloadError` 422 saying why not."""
    first = records[0]
    if isinstance(first, dict):
        rows = _rows_from_objects(records, schema)
    elif isinstance(first, list):
        rows = _rows_from_arrays(records, schema)
    else:
        raise PayloadError(422, f"record 0 is {_kind(first)}: expected {schema.describe()}")
    try:
        matrix: Any = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        matrix = None
    if schema.as_frame:
        import pandas as pd

        assert schema.names is not None
        return pd.DataFrame(matrix if matrix is not None else rows, columns=list(schema.names))
    if matrix is None:
        raise PayloadError(422, "record values must be numbers (or null) for this model")
    return matrix


def _rows_from_objects(records: list[Any], schema: InputSchema) -> list[list[Any]]:
    names = schema.names
    if names is None:
        raise PayloadError(
            422, f"this model does not name its features: send each record as {schema.describe()}"
        )
    wanted = set(names)
    rows = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise PayloadError(422, f"record {index} is {_kind(record)}: all records must be objects like record 0")
        if record.keys() != wanted:
            missing = [name for name in names if name not in record]
            extra = sorted(set(record) - wanted)
            parts = []
            if missing:
                parts.append("lacks " + ", ".join(map(repr, missing)))
            if extra:
                parts.append("has unknown field(s) " + ", ".join(map(repr, extra)))
            raise PayloadError(422, f"record {index} {' and '.join(parts)}; expected {schema.describe()}")
        row = [record[name] for name in names]
        _check_values(row, index)
        rows.append(row)
    return rows


def _rows_from_arrays(records: list[Any], schema: InputSchema) -> list[list[Any]]:
    width = schema.width
    for index, record in enumerate(records):
        if not isinstance(record, list):
            raise PayloadError(422, f"record {index} is {_kind(record)}: all records must be arrays like record 0")
        if width is not None and len(record) != width:
            raise PayloadError(422, f"record {index} has {len(record)} values; this model takes {width}")
        if width is None and len(record) != len(records[0]):
            raise PayloadError(422, f"record {index} has {len(record)} values; record 0 has {len(records[0])}")
        _check_values(record, index)
    return records


def _check_values(values: list[Any], index: int) -> None:
    for value in values:
        if type(value) not in _SCALAR_TYPES and (isinstance(value, bool) or not isinstance(value, _SCALARS)):
            raise PayloadError(
                422, f"record {index} holds {_kind(value)}: values must be numbers, strings or null"
            )


def _signature_names(signature: dict[str, Any] | None) -> tuple[str, ...] | None:
    inputs = signature.get("inputs") if isinstance(signature, dict) else None
    if not isinstance(inputs, list) or not inputs:
        return None
    names = []
    for item in inputs:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str):
            return None
        names.append(name)
    return tuple(names) if len(set(names)) == len(names) else None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def json_safe(values: Any) -> Any:
    """Predictions as JSON: non-finite floats become null."""
    if isinstance(values, float):
        return values if math.isfinite(values) else None
    if isinstance(values, list):
        return [json_safe(v) for v in values]
    return values

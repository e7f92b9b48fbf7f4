"""Rendering a loaded scikit-learn estimator as ONNX with skl2onnx, and measuring its parity on validation data.

The rendition takes float32 records (skl2onnx's ``FloatTensorType``, what
ONNX Runtime's tree and linear operators compute in), and classifiers give
their probabilities as a plain tensor (no ``ZipMap``). Its **parity** is the
largest absolute difference, over every validation record, between the
estimator's own ``predict_proba`` (``predict`` for a regressor) and the
rendition's. The bytes skl2onnx writes pass the same checks as any ONNX
version (:mod:`registry_core.formats.onnx_format`) before they are measured.

A model skl2onnx cannot convert (no converter for one of its steps, an option
it does not support) is refused with one line naming the estimator and
skl2onnx's reason; nothing is stored or recorded.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInput
from .extras import requiring_extra
from .formats.onnx_format import check_onnx, load_onnx

__all__ = ["CONVERTER", "MAX_VALIDATION_VALUES", "RenderedOnnx", "render_estimator", "validation_matrix"]

CONVERTER = "skl2onnx"
#: The most values (records times features) validation data may hold: 80 MB of float64.
MAX_VALIDATION_VALUES = 10_000_000


@dataclass(frozen=True)
class RenderedOnnx:
    """An estimator's ONNX rendition, checked, and what it was measured on."""

    data: bytes
    #: The typed ONNX format, with the estimator's feature names when it was fitted on named columns.
    format: dict[str, Any]
    converter_version: str
    parity: float
    parity_output: str
    validation_rows: int
    validation_sha256: str


def validation_matrix(data: Any, *, width: int, names: list[str] | None) -> Any:
    """Validation records as a finite float64 matrix of ``width`` columns, or :class:`InvalidInput` saying why.

    A data frame's columns are picked by the estimator's feature ``names`` when it has them, in their order.
    """
    import numpy as np

    columns = getattr(data, "columns", None)
    if columns is not None and names is not None:
        missing = [name for name in names if name not in set(map(str, columns))]
        if missing:
            raise InvalidInput(f"the validation data lacks the feature(s) {', '.join(missing[:10])}")
        data = data[names]
    try:
        matrix = np.asarray(getattr(data, "values", data), dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput("the validation data must be numbers only, one record per row") from None
    if matrix.ndim != 2:
        raise InvalidInput(f"the validation data must be a table of records, not an array of {matrix.ndim} dimension(s)")
    rows, given = matrix.shape
    if rows == 0:
        raise InvalidInput("the validation data holds no records")
    if given != width:
        raise InvalidInput(f"the validation records have {given} values each; the estimator takes {width}")
    if matrix.size > MAX_VALIDATION_VALUES:
        raise InvalidInput(f"the validation data holds more than {MAX_VALIDATION_VALUES} values; give a sample")
    if not np.isfinite(matrix).all():
        raise InvalidInput("the validation data holds missing (NaN) or infinite values")
    return np.ascontiguousarray(matrix)


def render_estimator(estimator: Any, data: Any, *, label: str, max_bytes: int) -> RenderedOnnx:
    """Convert ``estimator`` (already loaded under its model's policy) and measure the result on ``data``."""
    import numpy as np

    with requiring_extra("onnx", "rendering a scikit-learn version as ONNX"):
        import skl2onnx
        from skl2onnx.common.data_types import FloatTensorType
        from sklearn.base import is_classifier

    width = getattr(estimator, "n_features_in_", None)
    if not isinstance(width, (int, np.integer)) or width < 1:
        raise InvalidInput(f"{label} does not say how many features it takes; it cannot be rendered as ONNX")
    fitted_names = getattr(estimator, "feature_names_in_", None)
    names = [str(name) for name in fitted_names] if fitted_names is not None else None
    matrix = validation_matrix(data, width=int(width), names=names)
    classifier = is_classifier(estimator)
    if classifier and not hasattr(estimator, "predict_proba"):
        raise InvalidInput(f"{label} is a classifier without predict_proba: there is no parity figure to measure")
    try:
        converted = skl2onnx.convert_sklearn(
            estimator, initial_types=[("X", FloatTensorType([None, int(width)]))],
            options={"zipmap": False} if classifier else None,
        )
    except Exception as exc:  # skl2onnx raises many untyped errors (no converter, no shape calculator, options)
        raise InvalidInput(
            f"skl2onnx {skl2onnx.__version__} cannot convert {label} ({type(estimator).__name__}): {_first_line(exc)}"
        ) from None
    onnx_bytes = converted.SerializeToString()
    if len(onnx_bytes) > max_bytes:
        raise InvalidInput(f"the ONNX rendition of {label} is {len(onnx_bytes)} bytes, over the load limit of {max_bytes}")
    described = check_onnx(onnx_bytes, label=f"the ONNX rendition of {label}", max_bytes=max_bytes)
    rendition = load_onnx(onnx_bytes, label=f"the ONNX rendition of {label}", max_bytes=max_bytes)
    frame = _named(matrix, names)
    if classifier:
        theirs_classes = getattr(rendition, "classes_", None)
        if theirs_classes is None or theirs_classes.tolist() != np.asarray(estimator.classes_).tolist():
            raise InvalidInput(f"the ONNX rendition of {label} does not give the estimator's classes")
        own, theirs, output = estimator.predict_proba(frame), rendition.predict_proba(matrix), "predict_proba"
    else:
        own, theirs, output = estimator.predict(frame), rendition.predict(matrix), "predict"
    own, theirs = np.asarray(own, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if own.shape != theirs.shape:
        raise InvalidInput(f"the ONNX rendition of {label} answers in shape {theirs.shape}, the estimator in {own.shape}")
    parity = float(np.max(np.abs(own - theirs)))
    if not math.isfinite(parity):
        raise InvalidInput(f"the ONNX rendition of {label} or the estimator gives non-finite values on the validation data")
    fingerprint = hashlib.sha256(f"{matrix.shape[0]}x{matrix.shape[1]}:".encode() + matrix.tobytes()).hexdigest()
    return RenderedOnnx(
        data=onnx_bytes, format={**described, **({"feature_names": names} if names is not None else {})},
        converter_version=str(skl2onnx.__version__), parity=parity, parity_output=output,
        validation_rows=int(matrix.shape[0]), validation_sha256=fingerprint,
    )


def _named(matrix: Any, names: list[str] | None) -> Any:
    """The records as the estimator was fitted on them: a frame with its column names, else the matrix."""
    if names is None:
        return matrix
    import pandas as pd

    return pd.DataFrame(matrix, columns=names)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__

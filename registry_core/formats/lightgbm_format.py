"""LightGBM boosters: stored as LightGBM's own text model, parsed by LightGBM, never unpickled.

A live ``lightgbm.Booster`` (or a fitted ``LGBMModel``'s ``booster_``) is
stored as ``Booster.model_to_string()``; a file registered with
``--format lightgbm`` must be such a text model. Loading hands the text to
``lightgbm.Booster(model_str=...)``: LightGBM's parser builds trees from
numbers, and no registrant code runs.
"""

from __future__ import annotations

import sys
from typing import Any

from ..errors import InvalidInput
from ..extras import requiring_extra

__all__ = ["LightGBMModel", "check_lightgbm", "lightgbm_text_of", "load_lightgbm"]

MAX_LIGHTGBM_BYTES = 1024 * 1024 * 1024
#: Predictions for at most this many rows run on one thread (serving's requests); larger batches use them all.
_ONE_THREAD_ROWS = 64


def lightgbm_text_of(model: Any) -> bytes | None:
    """The text model of a live LightGBM booster or fitted scikit-learn wrapper, else None (never imports it)."""
    lightgbm = sys.modules.get("lightgbm")
    if lightgbm is None:
        return None
    if isinstance(model, lightgbm.LGBMModel):
        if not model.__sklearn_is_fitted__():
            raise InvalidInput(f"cannot register an unfitted {type(model).__name__}: fit it first")
        model = model.booster_
    if not isinstance(model, lightgbm.Booster):
        return None
    return model.model_to_string().encode()


def check_lightgbm(data: bytes, *, label: str) -> dict[str, Any]:
    """Check that ``data`` is a LightGBM text model that LightGBM parses; return its typed ``artifact_format``."""
    booster = _parse(data, label)
    return {
        "model_format": "lightgbm",
        "objective": _header(data).get("objective", "").split(" ")[0],
        "num_features": int(booster.num_feature()),
        "num_trees": int(booster.num_trees()),
    }


def load_lightgbm(data: bytes, *, label: str) -> LightGBMModel:
    """A checked text model as a booster with scikit-learn's ``predict`` (and ``predict_proba`` for classifiers)."""
    header = _header(data)
    return LightGBMModel(_parse(data, label), header.get("objective", ""), int(header.get("num_class", "1") or 1))


class LightGBMModel:
    """A LightGBM booster answering ``predict`` with labels for a classifier and values for a regressor."""

    def __init__(self, booster: Any, objective: str, num_class: int = 1) -> None:
        import numpy as np

        self.booster = booster
        self.objective = objective.split(" ")[0]
        self.n_features_in_ = int(booster.num_feature())
        classes = num_class if self.objective.startswith("multiclass") else 2
        if self._classifier:
            #: Class indices, in the order of the probability columns.
            self.classes_ = np.arange(classes)

    @property
    def _classifier(self) -> bool:
        return self.objective in ("binary", "multiclass", "multiclassova", "cross_entropy")

    def _raw(self, X: Any) -> Any:
        import numpy as np

        values = np.asarray(getattr(X, "values", X), dtype=np.float64)
        if values.ndim == 1:
            values = values.reshape(1, -1)
        # A few rows on one thread: waking OpenMP's threads costs milliseconds, their trees microseconds.
        threads = 1 if len(values) <= _ONE_THREAD_ROWS else 0
        return self.booster.predict(values, num_threads=threads)

    def predict(self, X: Any) -> Any:
        """Class labels for a classifier, predicted values otherwise."""
        if not self._classifier:
            return self._raw(X)
        return self.predict_proba(X).argmax(axis=1)

    @property
    def predict_proba(self) -> Any:
        """Class probabilities, one column per class (absent for a regressor)."""
        if not self._classifier:
            raise AttributeError("a LightGBM regressor gives no probabilities")
        return self._probabilities

    def _probabilities(self, X: Any) -> Any:
        import numpy as np

        scores = self._raw(X)
        return np.column_stack([1.0 - scores, scores]) if scores.ndim == 1 else scores


def _header(data: bytes) -> dict[str, str]:
    header: dict[str, str] = {}
    for line in data[:65536].decode("utf-8", "replace").splitlines():
        if line.startswith("Tree="):
            break
        key, sep, value = line.partition("=")
        if sep:
            header[key.strip()] = value.strip()
    return header


def _parse(data: bytes, label: str) -> Any:
    if len(data) > MAX_LIGHTGBM_BYTES:
        raise InvalidInput(f"{label}: a LightGBM text model is at most {MAX_LIGHTGBM_BYTES} bytes")
    if not data.startswith(b"tree\n") or b"\0" in data:
        raise InvalidInput(f"{label} is not a LightGBM text model")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{label} is not a LightGBM text model (not UTF-8 text)") from None
    with requiring_extra("lightgbm", "registering or loading a LightGBM model"):
        import lightgbm

    try:
        return lightgbm.Booster(model_str=text)
    except Exception as exc:  # lightgbm.basic.LightGBMError and parser failures
        lines = str(exc).strip().splitlines()
        raise InvalidInput(f"{label}: LightGBM cannot read this model: {lines[0][:300] if lines else exc}") from None

"""XGBoost boosters: stored in XGBoost's own UBJSON model format, loaded by ``Booster.load_model``, never unpickled.

A live ``xgboost.Booster`` (or a fitted ``XGBModel``'s booster) is stored as
``save_raw("ubj")``; a file registered with ``--format xgboost`` must be an
XGBoost JSON or UBJSON model. Both hold numbers and names only: loading them
runs no registrant code.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ..errors import InvalidInput
from ..extras import requiring_extra

__all__ = ["XGBoostModel", "check_xgboost", "load_xgboost", "xgboost_bytes_of"]

MAX_XGBOOST_BYTES = 1024 * 1024 * 1024
_CLASSIFIERS = ("binary:logistic", "binary:logitraw", "binary:hinge", "multi:softprob", "multi:softmax")


def xgboost_bytes_of(model: Any) -> bytes | None:
    """The UBJSON model of a live XGBoost booster or fitted scikit-learn wrapper, else None (never imports it)."""
    xgboost = sys.modules.get("xgboost")
    if xgboost is None:
        return None
    if isinstance(model, xgboost.XGBModel):
        if not model.__sklearn_is_fitted__():
            raise InvalidInput(f"cannot register an unfitted {type(model).__name__}: fit it first")
        model = model.get_booster()
    if not isinstance(model, xgboost.Booster):
        return None
    return bytes(model.save_raw(raw_format="ubj"))


def check_xgboost(data: bytes, *, label: str) -> dict[str, Any]:
    """Check that XGBoost loads ``data`` as a model; return its typed ``artifact_format``."""
    booster = _parse(data, label)
    learner = _learner(booster)
    return {
        "model_format": "xgboost",
        "objective": learner["objective"]["name"],
        "num_features": int(booster.num_features()),
        "num_class": int(learner["learner_model_param"].get("num_class", "0") or 0),
    }


def load_xgboost(data: bytes, *, label: str) -> XGBoostModel:
    """A checked model as a booster with scikit-learn's ``predict`` (and ``predict_proba`` for a classifier)."""
    booster = _parse(data, label)
    learner = _learner(booster)
    return XGBoostModel(booster, learner["objective"]["name"], int(learner["learner_model_param"].get("num_class", "0") or 0))


class XGBoostModel:
    """An XGBoost booster answering ``predict`` with labels for a classifier and values for a regressor."""

    def __init__(self, booster: Any, objective: str, num_class: int) -> None:
        import numpy as np

        self.booster = booster
        self.objective = objective
        self.n_features_in_ = int(booster.num_features())
        if objective in ("binary:logistic", "multi:softprob"):
            #: Class indices, in the order of the probability columns.
            self.classes_ = np.arange(max(num_class, 2))

    def _raw(self, X: Any) -> Any:
        import numpy as np

        values = np.asarray(getattr(X, "values", X), dtype=np.float32)
        return self.booster.inplace_predict(values.reshape(1, -1) if values.ndim == 1 else values)

    def predict(self, X: Any) -> Any:
        """Class labels for a classifier, predicted values otherwise."""
        raw = self._raw(X)
        if self.objective == "binary:logistic":
            return (raw > 0.5).astype(int)
        if self.objective == "binary:logitraw":
            return (raw > 0.0).astype(int)
        if self.objective == "multi:softprob":
            return raw.argmax(axis=1)
        return raw.astype(int) if self.objective in _CLASSIFIERS else raw

    @property
    def predict_proba(self) -> Any:
        """Class probabilities, one column per class (absent unless the objective gives probabilities)."""
        if not hasattr(self, "classes_"):
            raise AttributeError(f"an XGBoost model with objective {self.objective} gives no probabilities")
        return self._probabilities

    def _probabilities(self, X: Any) -> Any:
        import numpy as np

        raw = self._raw(X)
        return np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw


def _learner(booster: Any) -> dict[str, Any]:
    return json.loads(booster.save_config())["learner"]


def _parse(data: bytes, label: str) -> Any:
    if len(data) > MAX_XGBOOST_BYTES:
        raise InvalidInput(f"{label}: an XGBoost model is at most {MAX_XGBOOST_BYTES} bytes")
    if not data.startswith(b"{"):
        raise InvalidInput(f"{label} is not an XGBoost JSON or UBJSON model")
    with requiring_extra("xgboost", "registering or loading an XGBoost model"):
        import xgboost

    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(data))
        if booster.num_features() < 1:
            raise ValueError("it has no features")
        _learner(booster)["objective"]["name"]
    except Exception as exc:  # xgboost.core.XGBoostError and malformed configurations
        lines = str(exc).strip().splitlines()
        raise InvalidInput(f"{label}: XGBoost cannot read this model: {lines[0][:300] if lines else exc}") from None
    return booster

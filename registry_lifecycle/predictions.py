"""One way to ask any registered model for predictions, whatever its format.

A version loaded by ``Registry.load_model`` is a scikit-learn estimator (skops),
an ONNX Runtime session or a LightGBM/XGBoost booster. Each answers ``predict``
(and ``predict_proba`` when it gives probabilities), but they differ in what
they expect and return: a booster or an ONNX graph takes a bare array, so the
columns must come in the order it was trained on, and a booster's classifier
answers class indices rather than the labels it was trained on.
:class:`Predictor` hides those differences, so metric gates, shadow evaluation
and a team's own ``evaluate`` function see one interface.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["INDEX_LABELLED_FORMATS", "CannotScore", "Predictor", "signature_columns"]

#: Model formats whose classifiers answer class indices (0..n-1), not the labels they were trained on.
INDEX_LABELLED_FORMATS = frozenset({"lightgbm", "xgboost"})


class CannotScore(ValueError):
    """The model cannot be scored on this data as its version describes it (columns missing, classes or widths that disagree)."""


class Predictor:
    """A model's ``predict``/``predict_proba`` on data frames, with its columns in order and its labels as trained.

    ``columns`` are the feature columns in the model's order (a version's
    signature ``inputs``); ``classes`` the labels its class indices stand for,
    used only when ``indices_are_labels`` is false (a booster's classifier).
    """

    def __init__(
        self, model: Any, *, columns: Sequence[str] | None = None, classes: Sequence[Any] | None = None,
        indices_are_labels: bool = True,
    ) -> None:
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"a {type(model).__name__} has no predict(): it cannot be scored")
        #: The model as its format loaded it (an estimator, an ONNX session, a booster).
        self.model = model
        self.columns = tuple(columns) if columns else None
        self._labels = None if indices_are_labels or not classes else list(classes)
        own = getattr(model, "classes_", None)
        if self._labels is not None and own is not None and len(own) != len(self._labels):
            raise CannotScore(
                f"the model has {len(own)} classes but its signature names {len(self._labels)}: {self._labels}"
            )

    @classmethod
    def of_version(cls, model: Any, *, artifact_format: Mapping[str, Any] | None, signature: Mapping[str, Any] | None) -> Predictor:
        """The predictor of a registered version's loaded ``model``, read from its format and signature."""
        model_format = (artifact_format or {}).get("model_format")
        fitted = getattr(model, "feature_names_in_", None)  # a scikit-learn estimator checks its own columns' names
        columns = [str(name) for name in fitted] if fitted is not None else signature_columns(signature)
        width = getattr(model, "n_features_in_", None)
        if columns is not None and isinstance(width, int) and len(columns) != width:
            raise CannotScore(f"the signature names {len(columns)} input columns but the model takes {width}")
        output = (signature or {}).get("output")
        classes = output.get("classes") if isinstance(output, Mapping) else None
        return cls(
            model, columns=columns, classes=classes if isinstance(classes, list) else None,
            indices_are_labels=model_format not in INDEX_LABELLED_FORMATS,
        )

    @property
    def classes_(self) -> Any:
        """The labels, in the order of ``predict_proba``'s columns (absent when the model has no classes)."""
        import numpy as np

        if self._labels is not None:
            return np.asarray(self._labels)
        own = getattr(self.model, "classes_", None)
        if own is None:
            raise AttributeError(f"a {type(self.model).__name__} has no classes")
        return own

    def predict(self, features: pd.DataFrame) -> Any:
        """Predicted labels (values, for a regressor), one per row."""
        predicted = self.model.predict(self._ordered(features))
        if self._labels is None:
            return predicted
        import numpy as np

        return np.asarray(self._labels)[np.asarray(predicted, dtype=np.int64)]

    @property
    def predict_proba(self) -> Any:
        """Class probabilities, one column per class in ``classes_`` order (absent when the model gives none)."""
        proba = getattr(self.model, "predict_proba", None)  # a format's property raises AttributeError when it has none
        if proba is None:
            raise AttributeError(f"a {type(self.model).__name__} gives no probabilities")
        return lambda features: proba(self._ordered(features))

    @property
    def decision_function(self) -> Any:
        """The model's decision scores (absent when it has none)."""
        decide = getattr(self.model, "decision_function", None)
        if decide is None:
            raise AttributeError(f"a {type(self.model).__name__} has no decision function")
        return lambda features: decide(self._ordered(features))

    def _ordered(self, features: Any) -> Any:
        """The feature columns in the model's order; an array passes unchanged."""
        if self.columns is None or not hasattr(features, "columns"):
            return features
        missing = [column for column in self.columns if column not in features.columns]
        if missing:
            raise CannotScore(
                f"the data lacks the model's input column(s) {', '.join(missing)} (it was trained on {', '.join(self.columns)})"
            )
        if list(features.columns) == list(self.columns):
            return features
        return features[list(self.columns)]


def signature_columns(signature: Mapping[str, Any] | None) -> list[str] | None:
    """The input column names a signature declares, in order, as serving reads them; None unless each is a distinct name."""
    inputs = signature.get("inputs") if isinstance(signature, Mapping) else None
    if not isinstance(inputs, list) or not inputs:
        return None
    names = [item.get("name") if isinstance(item, Mapping) else item for item in inputs]
    if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
        return None
    return names

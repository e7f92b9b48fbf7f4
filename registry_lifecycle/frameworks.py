"""The frameworks a lifecycle may train with, and how each one's model is registered and scored.

A scikit-learn estimator is stored with skops; a LightGBM or XGBoost model
(the booster's scikit-learn wrapper, or the booster itself) in its library's
own format, and an ONNX model as its graph: never pickled, always loaded
without running registrant code (:mod:`registry_core.formats`). Each needs
its pip extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FRAMEWORKS", "Framework", "FrameworkMismatch", "TrainedModel", "framework_named", "trained_model"]


@dataclass(frozen=True)
class Framework:
    """A library a lifecycle trains with: its pip extra and the registry format its models are stored in."""

    name: str
    #: How people write it.
    title: str
    extra: str
    #: ``artifact_format["model_format"]`` of its versions; None: a scikit-learn estimator stored with skops.
    model_format: str | None
    #: Dagster's kind tag for its assets.
    kind: str

    def require(self) -> None:
        """Raise :class:`~registry_core.errors.MissingExtra` (one line naming the extra) unless it is installed."""
        from registry_core.extras import require_extra

        require_extra(self.extra, f"a lifecycle with framework {self.name}")


FRAMEWORKS: dict[str, Framework] = {
    "sklearn": Framework("sklearn", "scikit-learn", "sklearn", None, "scikitlearn"),
    "lightgbm": Framework("lightgbm", "LightGBM", "lightgbm", "lightgbm", "lightgbm"),
    "xgboost": Framework("xgboost", "XGBoost", "xgboost", "xgboost", "xgboost"),
    "onnx": Framework("onnx", "ONNX", "onnx", "onnx", "onnx"),
}


def framework_named(name: Any) -> Framework:
    """The framework called ``name``; ``ValueError`` naming the choices otherwise."""
    if not isinstance(name, str) or name not in FRAMEWORKS:
        raise ValueError(f"unknown framework {name!r}; choose one of: {', '.join(FRAMEWORKS)}")
    return FRAMEWORKS[name]


class FrameworkMismatch(ValueError):
    """The training function returned a model of another framework than the lifecycle declares."""


@dataclass(frozen=True)
class TrainedModel:
    """What a training function returned, as the registry will store it and as gates will score it."""

    #: Handed to ``Registry.register``.
    model: Any
    framework: Framework
    #: The model as its stored bytes load back (for a skops estimator: the estimator itself).
    stored: Any
    #: The labels of a classifier, in the order of its probability columns (None if it does not say).
    classes: Sequence[Any] | None


def trained_model(framework: Framework, model: Any) -> TrainedModel:
    """Check that ``model`` is of ``framework`` and load it back from the bytes the registry will store."""
    from registry_core.formats import live_model_file, load_model_file

    live = live_model_file(model)
    found = live[0] if live is not None else None
    if found != framework.model_format:
        what = FRAMEWORKS[found].title if found else "no LightGBM, XGBoost or ONNX model"
        raise FrameworkMismatch(
            f"the training function returned a {type(model).__name__} ({what}), "
            f"but the lifecycle's framework is {framework.name}: return a {framework.title} model or declare its framework"
        )
    if live is None:
        if not callable(getattr(model, "predict", None)):
            raise FrameworkMismatch(f"the training function returned a {type(model).__name__}, which has no predict()")
        stored = model
    else:
        stored = load_model_file(live[0], live[1], label=f"the trained {framework.title} model")
    classes = getattr(model, "classes_", None)
    return TrainedModel(model, framework, stored, None if classes is None else list(classes))

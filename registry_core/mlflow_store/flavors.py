"""Which MLflow models become typed versions: those whose loading, by MLflow as by the registry, reads one model file.

An MLflow model is a folder whose ``MLmodel`` file names its flavors. The
plugin registers it as a typed folder version (see
:mod:`registry_core.model_files`) when ``MLmodel`` has exactly one of the
flavors below besides ``python_function``, that flavor keeps its model in the
format's safe serialization, and nothing in ``MLmodel`` would make
``mlflow.pyfunc.load_model`` run anything but MLflow's own loader on that
file:

========== ============================================ ========================
flavor     typed when                                   model format
========== ============================================ ========================
xgboost    ``model_format`` json or ubj, an XGBoost     ``xgboost``
           Booster or scikit-learn wrapper class
lightgbm   ``model_class`` ``lightgbm.basic.Booster``   ``lightgbm``
           (its text model)
onnx       providers named plainly, no session config   ``onnx``
           entries
sklearn    ``serialization_format`` skops               ``sklearn`` (skops)
========== ============================================ ========================

and ``python_function`` (if present) loads with that flavor's own module
(``mlflow.xgboost`` …) from the same file, and no flavor ships code
(``code_paths``). Anything else stays an opaque folder, as every MLflow model
was before, with the reason in the version's ``registry.mlflow.opaque`` tag:
a pickled or cloudpickled scikit-learn model (its loading runs whatever code
it holds), LightGBM's scikit-learn wrappers (``mlflow.lightgbm`` stores them
as scikit-learn models; log ``model.booster_`` instead), a model with code
paths. A model file that is not what its flavor says (a pickle named
``model.ubj``) is refused: the registration fails with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..relative_paths import check_relative_path

__all__ = ["OPAQUE_TAG", "FlavorTyping", "typed_flavor"]

#: Why an MLflow model was registered as an opaque folder, when it has a flavor the registry knows.
OPAQUE_TAG = "registry.mlflow.opaque"

_MAX_MLMODEL_BYTES = 1024 * 1024
#: A reason quotes names from MLmodel: at most this many characters of it are kept in the tag.
_MAX_REASON = 500
_XGBOOST_CLASSES = frozenset({
    "xgboost.core.Booster", "xgboost.sklearn.XGBClassifier", "xgboost.sklearn.XGBRegressor",
    "xgboost.sklearn.XGBRanker", "xgboost.sklearn.XGBRFClassifier", "xgboost.sklearn.XGBRFRegressor",
})
_PYFUNC_KEYS = frozenset({"loader_module", "data", "model_path", "env", "python_version", "predict_fn", "code"})
_PREDICT_FUNCTIONS = frozenset({"predict", "predict_proba", "predict_log_proba", "decision_function"})
_ONNX_SESSION_OPTIONS = frozenset({"inter_op_num_threads", "intra_op_num_threads", "execution_mode",
                                   "graph_optimization_level"})


@dataclass(frozen=True)
class FlavorTyping:
    """How an MLflow model folder is registered: typed by ``model_format`` and ``model_file``, or opaque and why."""

    model_format: str | None = None
    model_file: str | None = None
    opaque_reason: str | None = None


def typed_flavor(folder: Path) -> FlavorTyping:
    """The typing of the MLflow model in ``folder``: opaque with no reason when it has none of the flavors above."""
    mlmodel = folder / "MLmodel"
    if not folder.is_dir() or not mlmodel.is_file() or mlmodel.is_symlink():
        return FlavorTyping()
    try:
        with mlmodel.open("rb") as reader:
            text = reader.read(_MAX_MLMODEL_BYTES + 1)
        document = yaml.safe_load(text) if len(text) <= _MAX_MLMODEL_BYTES else None
    except (OSError, yaml.YAMLError):
        document = None
    flavors = document.get("flavors") if isinstance(document, dict) else None
    if not isinstance(flavors, dict) or not all(isinstance(conf, dict) for conf in flavors.values()):
        return FlavorTyping()  # not an MLflow model the registry knows a flavor of (MLflow cannot load it either)
    typed = sorted(name for name in flavors if name in _CHECKS)
    others = sorted(name for name in flavors if name not in _CHECKS and name != "python_function")
    if not typed:
        return FlavorTyping()
    if len(typed) != 1 or others:
        named = ", ".join(map(str, sorted(flavors, key=str)))
        return FlavorTyping(opaque_reason=f"its flavors ({named}) are not exactly one of {', '.join(sorted(_CHECKS))}"[
            :_MAX_REASON])
    (flavor,) = typed
    conf = flavors[flavor]
    model_format, model_file, reason = _CHECKS[flavor](conf)
    reason = reason or _pyfunc_reason(flavors.get("python_function"), flavor, model_file)
    if conf.get("code"):
        reason = "it ships code (code_paths), which MLflow runs when it loads the model"
    if reason is None:
        check_relative_path(model_file, what=f"the {flavor} flavor of its MLmodel file")
        return FlavorTyping(model_format=model_format, model_file=model_file)
    return FlavorTyping(opaque_reason=f"{flavor} flavor: {reason}"[:_MAX_REASON])


def _pyfunc_reason(pyfunc: Any, flavor: str, model_file: str | None) -> str | None:
    """Why ``mlflow.pyfunc.load_model`` might load something other than the flavor's model file, if it might."""
    if pyfunc is None:
        return None
    if set(pyfunc) - _PYFUNC_KEYS:
        return f"its python_function entry sets {', '.join(sorted(map(str, set(pyfunc) - _PYFUNC_KEYS)))}"
    if pyfunc.get("code"):
        return "it ships code (code_paths), which MLflow runs when it loads the model"
    if pyfunc.get("loader_module") != f"mlflow.{flavor}":
        return f"python_function loads it with {pyfunc.get('loader_module')!r}, not mlflow.{flavor}"
    if (pyfunc.get("data") or pyfunc.get("model_path")) != model_file:
        return "python_function loads another file than the flavor's"
    if pyfunc.get("predict_fn", "predict") not in _PREDICT_FUNCTIONS:
        return f"python_function predicts with {pyfunc.get('predict_fn')!r}"
    return None


Check = tuple[str | None, str | None, str | None]


def _xgboost(conf: dict[str, Any]) -> Check:
    data, saved_as = conf.get("data"), conf.get("model_format", "xgb")
    if saved_as not in ("json", "ubj") or not isinstance(data, str) or not data.endswith(f".{saved_as}"):
        return None, None, f"saved as {saved_as!r}, not XGBoost's JSON or UBJSON model format"
    if conf.get("model_class", "xgboost.core.Booster") not in _XGBOOST_CLASSES:
        return None, None, f"its model class {conf.get('model_class')!r} is not an XGBoost booster or estimator"
    return "xgboost", data, None


def _lightgbm(conf: dict[str, Any]) -> Check:
    model_class = conf.get("model_class", "lightgbm.basic.Booster")
    if model_class != "lightgbm.basic.Booster":
        return None, None, (f"the scikit-learn wrapper {model_class} is stored as a scikit-learn model "
                            f"({conf.get('serialization_format', 'cloudpickle')}); log its booster_ for a typed version")
    data = conf.get("data")
    return ("lightgbm", data, None) if isinstance(data, str) else (None, None, "it names no model file")


def _onnx(conf: dict[str, Any]) -> Check:
    providers = conf.get("providers") or []
    if not isinstance(providers, list) or not all(isinstance(p, str) for p in providers):
        return None, None, "its execution providers carry options (which may name files or libraries to load)"
    options = conf.get("onnx_session_options") or {}
    if not isinstance(options, dict) or set(options) - _ONNX_SESSION_OPTIONS:
        return None, None, "its session options go beyond threads, execution mode and optimization level"
    data = conf.get("data")
    return ("onnx", data, None) if isinstance(data, str) else (None, None, "it names no model file")


def _sklearn(conf: dict[str, Any]) -> Check:
    serialization = conf.get("serialization_format", "pickle")
    if serialization != "skops":
        return None, None, f"serialized with {serialization}, whose loading runs whatever code the file holds"
    data = conf.get("pickled_model")
    return ("sklearn", data, None) if isinstance(data, str) else (None, None, "it names no model file")


_CHECKS = {"xgboost": _xgboost, "lightgbm": _lightgbm, "onnx": _onnx, "sklearn": _sklearn}

"""Model formats other than scikit-learn that the registry checks at registration and loads without registrant code.

Each format is a module with a ``check_*`` (bytes to a typed
``artifact_format``, or :class:`~registry_core.errors.InvalidInput`), a
``load_*`` (checked bytes to an object with ``predict``) and a function
turning a live model of its library into bytes. A version of such a format is
a ``file`` artifact whose ``artifact_format["model_format"]`` names it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .lightgbm_format import check_lightgbm, lightgbm_text_of, load_lightgbm
from .onnx_format import SiblingFiles, check_onnx, load_onnx, onnx_bytes_of
from .xgboost_format import check_xgboost, load_xgboost, xgboost_bytes_of

__all__ = ["MODEL_FORMATS", "SiblingFiles", "check_model_file", "live_model_file", "load_model_file"]

_FORMATS: dict[str, tuple[Callable[..., dict[str, Any]], Callable[..., Any], Callable[[Any], bytes | None], str]] = {
    "lightgbm": (check_lightgbm, load_lightgbm, lightgbm_text_of, "model.txt"),
    "onnx": (check_onnx, load_onnx, onnx_bytes_of, "model.onnx"),
    "xgboost": (check_xgboost, load_xgboost, xgboost_bytes_of, "model.ubj"),
}

#: The ``--format`` values a file may be registered as (its ``artifact_format["model_format"]``).
MODEL_FORMATS: tuple[str, ...] = tuple(sorted(_FORMATS))


def check_model_file(model_format: str, data: bytes, *, label: str, siblings: SiblingFiles | None = None,
                     max_bytes: int | None = None) -> dict[str, Any]:
    """Check ``data`` as ``model_format``; its typed ``artifact_format`` (without the filename).

    ``siblings``: the other files of the folder the model file is one of (only ONNX external data reads them),
    ``max_bytes`` the most the model and that external data may hold together.
    """
    return _FORMATS[model_format][0](data, label=label, **_with_siblings(model_format, siblings, max_bytes))


def load_model_file(model_format: str, data: bytes, *, label: str, siblings: SiblingFiles | None = None) -> Any:
    """Load verified bytes of ``model_format`` (checked again first) as an object with ``predict``."""
    return _FORMATS[model_format][1](data, label=label, **_with_siblings(model_format, siblings, None))


def _with_siblings(model_format: str, siblings: SiblingFiles | None, max_bytes: int | None) -> dict[str, Any]:
    if model_format != "onnx" or siblings is None:
        return {}
    return {"siblings": siblings} if max_bytes is None else {"siblings": siblings, "max_bytes": max_bytes}


def live_model_file(model: Any) -> tuple[str, bytes, str] | None:
    """(format, bytes, filename) for a live model of a supported library, else None; no library is imported."""
    for model_format, (_check, _load, to_bytes, filename) in _FORMATS.items():
        data = to_bytes(model)
        if data is not None:
            return model_format, data, filename
    return None

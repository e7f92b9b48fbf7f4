"""The package's optional parts: which pip extra provides which modules, checked before a feature needs them.

The base install (``pip install dagster-model-registry``) holds the catalog,
the artifact stores and the ``registry`` command line. Serving, loading live
scikit-learn models, S3 artifact stores, the MLflow registry store and the
Dagster pipelines each need an extra; using one without it raises :class:`~registry_core.errors.MissingExtra`,
whose message is the command that installs it.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator

from .errors import MissingExtra

__all__ = ["EXTRA_MODULES", "require_extra", "requiring_extra"]

#: The top-level modules each extra installs that the registry's code imports.
EXTRA_MODULES: dict[str, frozenset[str]] = {
    "airflow": frozenset({"airflow", "great_expectations", "numpy", "pandas", "skops", "sklearn"}),
    "dagster": frozenset(
        {"dagster", "dagster_postgres", "dagster_webserver", "great_expectations", "lightgbm", "numpy", "pandas", "skops",
         "sklearn"}
    ),
    "lightgbm": frozenset({"lightgbm", "numpy"}),
    "mlflow": frozenset({"mlflow"}),
    "onnx": frozenset({"numpy", "onnx", "onnxruntime", "skl2onnx"}),
    "proofs": frozenset({"cryptography", "pyotp", "qrcode", "sshsig"}),
    "s3": frozenset({"s3fs"}),
    "serve": frozenset({"numpy", "pandas", "prometheus_client", "skops", "sklearn", "starlette", "uvicorn"}),
    "sklearn": frozenset({"numpy", "skops", "sklearn"}),
    "xgboost": frozenset({"numpy", "xgboost"}),
}


def require_extra(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtra` naming ``extra`` unless every module it installs is importable.

    Only looks the modules up; nothing is imported.
    """
    if any(importlib.util.find_spec(module) is None for module in sorted(EXTRA_MODULES[extra])):
        raise MissingExtra(feature, extra)


@contextlib.contextmanager
def requiring_extra(extra: str, feature: str) -> Iterator[None]:
    """Imports in this block need ``extra``: check it first, and name it if one of its modules still fails to import."""
    require_extra(extra, feature)
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] in EXTRA_MODULES[extra]:
            raise MissingExtra(feature, extra) from exc
        raise

"""Serving that follows the catalog: a scoring server that hot-swaps the version a model URI points at.

``registry serve MODEL_URI`` runs it. Importing this package needs the [serve]
extra (Starlette, uvicorn, prometheus-client, scikit-learn, pandas); without it
the import raises :class:`~registry_core.errors.MissingExtra` saying how to
install it. ``import registry_core`` alone does not load any of them.
"""

from __future__ import annotations

from ..extras import requiring_extra

with requiring_extra("serve", "registry serve"):
    from .app import create_app
    from .model_holder import CatalogModelLoader, LoadFailure, ModelHolder, ModelLoader, ServedModel
    from .options import ServingOptions
    from .prediction_log import PredictionLog, read_recent_traffic
    from .runtime import ServingRuntime
    from .server import BackgroundServer, serve

__all__ = [
    "BackgroundServer",
    "CatalogModelLoader",
    "LoadFailure",
    "ModelHolder",
    "ModelLoader",
    "PredictionLog",
    "ServedModel",
    "ServingOptions",
    "ServingRuntime",
    "create_app",
    "read_recent_traffic",
    "serve",
]

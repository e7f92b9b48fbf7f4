"""Serving that follows the catalog: a scoring server that hot-swaps the version a model URI points at.

``registry serve MODEL_URI`` runs it. Importing this package needs the serving
dependencies (Starlette, uvicorn, prometheus-client); ``import registry_core``
alone does not load them.
"""

from __future__ import annotations

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

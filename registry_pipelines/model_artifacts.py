"""How the pipelines hand trained models to the registry and get them back.

The only two places that know how a model is stored: a lifecycle's framework
picks the format (skops for scikit-learn, LightGBM's text model, XGBoost's
UBJSON, an ONNX graph), and every version comes back as the same
:class:`~registry_lifecycle.predictions.Predictor`, whatever its format.
"""

from __future__ import annotations

from typing import Any

from registry_core import Registry, VersionInfo
from registry_lifecycle.frameworks import TrainedModel
from registry_lifecycle.predictions import Predictor

__all__ = ["load_predictor", "register_trained"]


def register_trained(registry: Registry, name: str, trained: TrainedModel, **lineage: Any) -> VersionInfo:
    """Register a trained model as the model's next version, stored in its framework's own format (never pickled)."""
    return registry.register(name, trained.model, model_format=trained.framework.model_format, **lineage)


def load_predictor(registry: Registry, version: VersionInfo) -> Predictor:
    """A version's model, loaded by ``Registry.load_model`` only after its bytes verify and within what its policy trusts."""
    model = registry.load_model(version.uri)
    return Predictor.of_version(model, artifact_format=version.artifact_format, signature=version.signature)

"""How the pipelines hand trained models to the registry and get them back.

The only two places that know how a model is stored: swapping the storage
format is a change here and nowhere else.
"""

from __future__ import annotations

from typing import Any

from registry_core import Registry, VersionInfo

__all__ = ["load_estimator", "register_estimator"]


def register_estimator(registry: Registry, name: str, estimator: Any, **lineage: Any) -> VersionInfo:
    """Register a fitted scikit-learn estimator as the model's next version (the registry stores it with skops)."""
    return registry.register(name, estimator, **lineage)


def load_estimator(registry: Registry, version: VersionInfo) -> Any:
    """A version's estimator, loaded only after its bytes verify and within what the model's policy trusts."""
    return registry.load_model(version.uri)

"""Model formats other than scikit-learn that the registry checks at registration and loads without registrant code."""

from __future__ import annotations

__all__ = ["MODEL_FORMATS"]

#: The ``--format`` values a file may be registered as (its ``artifact_format["model_format"]``).
MODEL_FORMATS: tuple[str, ...] = ("onnx",)

"""The code location that ``workspace.yaml`` loads: the shared governance jobs and the fraud detector's lifecycle."""

from __future__ import annotations

from .factory import build_registry_definitions
from .fraud import fraud_detector_pipeline

defs = build_registry_definitions(fraud_detector_pipeline())

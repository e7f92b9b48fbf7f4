"""The code location that ``workspace.yaml`` loads: the fraud detector's lifecycle."""

from __future__ import annotations

import warnings

from .factory import build_registry_definitions
from .fraud import fraud_detector_pipeline

# Dagster 1.13's @sensor passes `owners=None` to a beta parameter and warns for every sensor it builds, also
# when the code server resolves the definitions later: nothing anyone running `dagster dev` could act on.
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer `SensorDefinition.__init__`")

defs = build_registry_definitions(fraud_detector_pipeline())

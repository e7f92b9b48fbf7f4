"""The code location ``workspace.yaml`` (``dagster dev``) and the ``dg`` project config (``dg dev``) load.

Its models are declared in YAML, one ``ModelLifecycle`` per folder under
``registry_pipelines/defs/``: the shipped fraud detector is
``defs/fraud_detector/defs.yaml``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from dagster import load_from_defs_folder

# Dagster 1.13's @sensor passes `owners=None` to a beta parameter and warns for every sensor it builds, also
# when the code server resolves the definitions later: nothing anyone running `dagster dev` could act on.
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer `SensorDefinition.__init__`")
# Loading a defs folder, Dagster 1.13 rebuilds the asset checks a component made (to attach its code references)
# and warns that its own rebuild passes a beta parameter, `execution_type`: again nothing a user could act on.
warnings.filterwarnings("ignore", message="Parameter `execution_type` of function `AssetsDefinition.__init__`")

defs = load_from_defs_folder(path_within_project=Path(__file__).parent)

"""The code location ``workspace.yaml`` (``dagster dev``) and the ``dg`` project config (``dg dev``) load.

Its models are declared in YAML, one ``ModelLifecycle`` per folder under
``registry_pipelines/defs/``: the shipped fraud detector is
``defs/fraud_detector/defs.yaml``, its LightGBM counterpart ``defs/fraud_detector_lightgbm/defs.yaml``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from dagster import Definitions, load_from_defs_folder

from .factory import build_registry_definitions, with_review
from .fraud import fraud_booster_pipeline, fraud_detector_pipeline

# Dagster 1.13's @sensor passes `owners=None` to a beta parameter and warns for every sensor it builds, also
# when the code server resolves the definitions later: nothing anyone running `dagster dev` could act on.
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer `SensorDefinition.__init__`")
# Loading a defs folder, Dagster 1.13 rebuilds the asset checks a component made (to attach its code references)
# and warns that its own rebuild passes a beta parameter, `execution_type`: again nothing a user could act on.
warnings.filterwarnings("ignore", message="Parameter `execution_type` of function `AssetsDefinition.__init__`")



def location_definitions(project_root: Path) -> Definitions:
    """The models declared under ``defs/``; from an install without the project (a wheel), the same model in Python.

    Dagster finds a defs folder through the project's ``pyproject.toml``, which
    only a source checkout (or an editable install) has. Installed from a
    wheel, the shipped examples are built from :func:`fraud_detector_pipeline` and
    :func:`fraud_booster_pipeline`, which a test keeps equal to their YAML declarations.
    """
    if (project_root / "pyproject.toml").is_file():
        return with_review(load_from_defs_folder(path_within_project=Path(__file__).parent))
    return build_registry_definitions(fraud_detector_pipeline(), fraud_booster_pipeline())


defs = location_definitions(Path(__file__).resolve().parents[1])

"""The code location ``workspace.yaml`` (``dagster dev``) and the ``dg`` project config (``dg dev``) load.

Its models are declared in YAML, one ``ModelLifecycle`` per folder under
``registry_pipelines/defs/``: the shipped fraud detector is
``defs/fraud_detector/defs.yaml``, its LightGBM counterpart ``defs/fraud_detector_lightgbm/defs.yaml``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from dagster import ComponentTree, Definitions, load_from_defs_folder
from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext, DefinitionsLoadType

from .factory import build_registry_definitions, with_review
from .fraud import fraud_booster_pipeline, fraud_detector_pipeline

# Dagster 1.13's @sensor passes `owners=None` to a beta parameter and warns for every sensor it builds, also
# when the code server resolves the definitions later: nothing anyone running `dagster dev` could act on.
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer `SensorDefinition.__init__`")
# Loading a defs folder, Dagster 1.13 rebuilds the asset checks a component made (to attach its code references)
# and warns that its own rebuild passes a beta parameter, `execution_type`: again nothing a user could act on.
warnings.filterwarnings("ignore", message="Parameter `execution_type` of function `AssetsDefinition.__init__`")

DEFS_FOLDER = Path(__file__).parent / "defs"


def location_definitions(project_root: Path) -> Definitions:
    """The models declared under ``defs/``; from an install without the project (a wheel), the same model in Python.

    Dagster finds a defs folder through the project's ``dg.toml``, which only a
    source checkout has. Installed from a wheel, the shipped examples are built
    from :func:`fraud_detector_pipeline` and :func:`fraud_booster_pipeline`,
    which a test keeps equal to their YAML declarations.

    In a run's own process (Dagster reconstructing the definitions to execute
    one job) only the ``defs/`` folder is built: not the catalog of component
    types Dagster attaches for its UI, which every run would otherwise rebuild
    from every installed component's schema before it starts.
    """
    if not (project_root / "dg.toml").is_file():
        return build_registry_definitions(fraud_detector_pipeline(), fraud_booster_pipeline())
    if _reconstructing():
        return with_review(ComponentTree.for_project(path_within_project=DEFS_FOLDER.parent).build_defs(DEFS_FOLDER))
    return with_review(load_from_defs_folder(path_within_project=DEFS_FOLDER.parent))


def _reconstructing() -> bool:
    """Whether Dagster is loading these definitions to execute a run (rather than to serve the code location)."""
    return DefinitionsLoadContext.is_set() and DefinitionsLoadContext.get().load_type is DefinitionsLoadType.RECONSTRUCTION


defs = location_definitions(Path(__file__).resolve().parents[1])

"""registry_pipelines: the model lifecycle as Dagster definitions, built on registry_core.

Declare a :class:`ModelPipeline`, pass it to :func:`build_registry_definitions`,
and ``dagster dev`` shows its assets, checks, jobs, sensors and schedule.
Needs the [dagster] extra.
"""

from registry_core.extras import requiring_extra

with requiring_extra("dagster", "registry_pipelines"):
    from .deploy import CommandDeployTarget, DeployTarget, HttpDeployTarget, ProductionChange
    from .factory import build_model_definitions, build_registry_definitions
    from .model_pipeline import MetricGate, ModelPipeline
    from .resources import RegistryResource

__all__ = [
    "CommandDeployTarget",
    "DeployTarget",
    "HttpDeployTarget",
    "MetricGate",
    "ModelPipeline",
    "ProductionChange",
    "RegistryResource",
    "build_model_definitions",
    "build_registry_definitions",
]

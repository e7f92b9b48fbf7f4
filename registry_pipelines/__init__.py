"""registry_pipelines: the model lifecycle as Dagster definitions, built on registry_core."""

from .resources import RegistryResource

__all__ = ["RegistryResource"]

"""The code location that ``workspace.yaml`` loads."""

from __future__ import annotations

from dagster import Definitions

from .resources import RegistryResource

defs = Definitions(resources={"registry": RegistryResource.from_env()})

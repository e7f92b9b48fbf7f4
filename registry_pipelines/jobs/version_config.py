"""The config of the lifecycle steps that work on one version."""

from dagster import Config
from pydantic import Field

__all__ = ["VersionConfig"]


class VersionConfig(Config):
    """Which version of the pipeline's model a run works on."""

    version: int = Field(description="The version number in the registry.")

"""The registry as a typed Dagster resource."""

from __future__ import annotations

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from registry_core import Registry
from registry_core.config import (
    ARTIFACT_ROOT_ENV,
    DATABASE_URL_ENV,
    DEFAULT_ARTIFACT_ROOT,
    DEFAULT_DATABASE_URL,
)


class RegistryResource(ConfigurableResource):
    """Opens the model registry; the same defaults and environment variables as the ``registry`` CLI."""

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description=f"Catalog database URL; the CLI reads it from ${DATABASE_URL_ENV}.",
    )
    artifact_root: str = Field(
        default=DEFAULT_ARTIFACT_ROOT,
        description=f"Artifact store root; the CLI reads it from ${ARTIFACT_ROOT_ENV}.",
    )

    @classmethod
    def from_env(cls) -> RegistryResource:
        """A resource configured from ``$REGISTRY_DATABASE_URL`` and ``$REGISTRY_ARTIFACT_ROOT`` when set."""
        import os

        return cls(
            database_url=EnvVar(DATABASE_URL_ENV) if os.environ.get(DATABASE_URL_ENV) else DEFAULT_DATABASE_URL,
            artifact_root=EnvVar(ARTIFACT_ROOT_ENV) if os.environ.get(ARTIFACT_ROOT_ENV) else DEFAULT_ARTIFACT_ROOT,
        )

    def open(self, actor: str) -> Registry:
        """A registry acting as ``actor``; close it (or use it in a ``with``) when done."""
        return Registry(self.database_url, self.artifact_root, actor=actor)

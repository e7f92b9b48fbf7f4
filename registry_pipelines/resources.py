"""The registry as a typed Dagster resource."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from registry_core import Registry
from registry_core.config import (
    ARTIFACT_ROOT_ENV,
    DATABASE_URL_ENV,
    DEFAULT_ARTIFACT_ROOT,
    DEFAULT_DATABASE_URL,
)

__all__ = ["PIPELINE_ACTOR_ENV", "RegistryResource"]

PIPELINE_ACTOR_ENV = "REGISTRY_PIPELINE_ACTOR"
DEFAULT_PIPELINE_ACTOR = "dagster"
#: Catalogs kept open per process; the least recently used beyond this is closed.
MAX_OPEN_CATALOGS = 8

# One opened catalog (engine, connection pool, schema check) per process and
# catalog, shared by every sensor tick and op: opening one costs far more than
# a tick. Keyed by process id too, so that a forked child never reuses its
# parent's connections.
_open_catalogs: OrderedDict[tuple[int, str, str], Registry] = OrderedDict()
_open_lock = threading.Lock()


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
    actor: str = Field(
        default=DEFAULT_PIPELINE_ACTOR,
        description=(
            "Who the pipelines act as in the catalog (registrant of trained versions, recorder of checks, "
            f"promoter); set with ${PIPELINE_ACTOR_ENV}. Approvals are recorded as the approver named in the run."
        ),
    )

    @classmethod
    def from_env(cls) -> RegistryResource:
        """A resource configured from ``$REGISTRY_DATABASE_URL``, ``$REGISTRY_ARTIFACT_ROOT`` and ``$REGISTRY_PIPELINE_ACTOR`` when set."""
        return cls(
            database_url=EnvVar(DATABASE_URL_ENV) if os.environ.get(DATABASE_URL_ENV) else DEFAULT_DATABASE_URL,
            artifact_root=EnvVar(ARTIFACT_ROOT_ENV) if os.environ.get(ARTIFACT_ROOT_ENV) else DEFAULT_ARTIFACT_ROOT,
            actor=EnvVar(PIPELINE_ACTOR_ENV) if os.environ.get(PIPELINE_ACTOR_ENV) else DEFAULT_PIPELINE_ACTOR,
        )

    def open(self, actor: str | None = None) -> Registry:
        """The process's registry on this catalog, acting as ``actor`` (default: the pipeline's actor).

        The catalog is opened once per process and shared; closing what this
        returns (or leaving its ``with`` block) leaves the shared connections open.
        """
        key = (os.getpid(), self.database_url, self.artifact_root)
        with _open_lock:
            shared = _open_catalogs.get(key)
            if shared is None:
                shared = Registry(self.database_url, self.artifact_root, actor=self.actor)
                _open_catalogs[key] = shared
                while len(_open_catalogs) > MAX_OPEN_CATALOGS:
                    _open_catalogs.popitem(last=False)[1].close()
            else:
                _open_catalogs.move_to_end(key)
        return shared.as_actor(actor or self.actor)

"""The catalog behind MLflow's clients, server and UI: a model registry store and an artifact repository plugin.

Teams keep their MLflow code and change one URI::

    mlflow.set_registry_uri("registry+sqlite:///path/registry.db")
    # or: mlflow server --registry-store-uri registry+postgresql://user@host/db

MLflow finds :func:`registry_store` through the entry-point group
``mlflow.model_registry_store`` (one entry per URI scheme) and
:class:`RegistryArtifactRepository` through ``mlflow.artifact_repository``
(``registry-artifacts:``). Importing this package needs the [mlflow] extra;
without it the import raises :class:`~registry_core.errors.MissingExtra`.
"""

from __future__ import annotations

from ..extras import require_extra
from ..lazy_exports import lazy_getattr

require_extra("mlflow", "the MLflow registry store")

__all__ = [
    "SCHEME",
    "URI_PREFIX",
    "RegistryArtifactRepository",
    "RegistryStore",
    "catalog_url",
    "download_uri",
    "registry_store",
]

# Names resolve on first use: MLflow loads the artifact repository while its own
# artifact registry is still importing, so this package must not import the store then.
_EXPORTS = {
    "SCHEME": "artifacts",
    "RegistryArtifactRepository": "artifacts",
    "download_uri": "artifacts",
    "URI_PREFIX": "store",
    "RegistryStore": "store",
    "catalog_url": "store",
    "registry_store": "store",
}


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())

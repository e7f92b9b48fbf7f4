"""Where the registry keeps things when nobody says otherwise, and who is acting."""

from __future__ import annotations

import getpass
import os

__all__ = [
    "ACTOR_ENV",
    "ARTIFACT_ROOT_ENV",
    "DATABASE_URL_ENV",
    "DEFAULT_ARTIFACT_ROOT",
    "DEFAULT_DATABASE_URL",
    "default_actor",
    "default_artifact_root",
    "default_database_url",
]

DATABASE_URL_ENV = "REGISTRY_DATABASE_URL"
ARTIFACT_ROOT_ENV = "REGISTRY_ARTIFACT_ROOT"
ACTOR_ENV = "REGISTRY_ACTOR"
DEFAULT_DATABASE_URL = "sqlite:///.registry/registry.db"
DEFAULT_ARTIFACT_ROOT = ".registry/artifacts"


def default_database_url() -> str:
    """``$REGISTRY_DATABASE_URL``, else a SQLite file under ``./.registry/``."""
    return os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def default_artifact_root() -> str:
    """``$REGISTRY_ARTIFACT_ROOT``, else ``./.registry/artifacts``."""
    return os.environ.get(ARTIFACT_ROOT_ENV) or DEFAULT_ARTIFACT_ROOT


def default_actor() -> str:
    """``$REGISTRY_ACTOR``, else the operating-system user."""
    actor = os.environ.get(ACTOR_ENV)
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"

"""The catalog as an Airflow connection: credentials live in Airflow's connections, never in DAG code."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from airflow.sdk import BaseHook

from registry_core import InvalidInput, Registry

from .provider import CONNECTION_TYPE

__all__ = ["DEFAULT_ACTOR", "RegistryHook"]

#: Who the registry records as acting when the connection names nobody (its Login field).
DEFAULT_ACTOR = "airflow"


class RegistryHook(BaseHook):
    """Opens the registry a ``model_registry`` connection describes.

    The connection's extra holds ``database_url`` and ``artifact_root``; its
    Password, if set, is the database's (kept out of the URL, so Airflow masks
    it); its Login is the actor the registry records for pipeline steps.
    """

    conn_name_attr = "registry_conn_id"
    default_conn_name = "model_registry_default"
    conn_type = CONNECTION_TYPE
    hook_name = "Model registry"

    def __init__(self, registry_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.registry_conn_id = registry_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["host", "schema", "port", "extra"],
            "relabeling": {"login": "Registry actor"},
            "placeholders": {"login": DEFAULT_ACTOR},
        }

    def settings(self) -> tuple[str, str, str]:
        """(database URL with its password, artifact root, actor) from the connection."""
        connection = self.get_connection(self.registry_conn_id)
        extra = connection.extra_dejson
        database_url, artifact_root = extra.get("database_url"), extra.get("artifact_root")
        for field, value in (("database_url", database_url), ("artifact_root", artifact_root)):
            if not isinstance(value, str) or not value.strip():
                raise InvalidInput(f"connection {self.registry_conn_id!r} has no {field} in its extra")
        if connection.password:
            from sqlalchemy.engine import make_url

            database_url = make_url(database_url).set(password=connection.password).render_as_string(hide_password=False)
        return database_url, artifact_root, connection.login or DEFAULT_ACTOR

    def open_registry(self, *, actor: str | None = None) -> Registry:
        """The registry, acting as ``actor`` (else the connection's Login); the caller closes it."""
        database_url, artifact_root, default_actor = self.settings()
        return Registry(database_url, artifact_root, actor=actor or default_actor, create=False)

    @contextlib.contextmanager
    def registry(self, *, actor: str | None = None) -> Iterator[Registry]:
        """The registry, acting as ``actor`` (else the connection's Login), closed on exit."""
        with self.open_registry(actor=actor) as registry:
            yield registry

"""Deferrable sensors on the catalog's audit log: a decision on a version, a change of Production.

The sensor looks once; if nothing has happened it defers to
:class:`~registry_airflow.triggers.CatalogEventTrigger`, which polls in the
triggerer, so no worker slot is held while a reviewer takes their time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator

from registry_core import AuditAction

from .catalog_events import first_event_after, newest_seq
from .hook import RegistryHook
from .refusals import registry_refusals
from .triggers import CatalogEventTrigger

__all__ = ["CatalogEventSensor", "DecisionSensor", "ProductionChangeSensor"]


class CatalogEventSensor(BaseOperator):
    """Wait for the first audit event of ``actions`` on a model (and version) after ``after_seq``; returns it.

    Without ``after_seq`` the sensor waits for an event newer than the log's newest when it starts.
    """

    template_fields: Sequence[str] = ("version", "after_seq")

    def __init__(
        self, *, model_name: str, actions: Sequence[str | AuditAction], version: int | str | None = None,
        after_seq: int | str | None = None, registry_conn_id: str = RegistryHook.default_conn_name,
        poll_interval: float = 5.0, timeout: timedelta = timedelta(days=7), **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_name = model_name
        self.actions = [str(AuditAction(action)) for action in actions]
        self.version = version
        self.after_seq = after_seq
        self.registry_conn_id = registry_conn_id
        self.poll_interval = poll_interval
        self.timeout = timeout

    def execute(self, context: Any) -> dict[str, Any]:
        from registry_core.validation import validate_version_number

        with registry_refusals(), RegistryHook(self.registry_conn_id).registry() as registry:
            version = None if self.version in (None, "", "None") else validate_version_number(self.version)
            after_seq = newest_seq(registry) if self.after_seq in (None, "", "None") else int(self.after_seq)
            found = first_event_after(registry, self.model_name, actions=self.actions, after_seq=after_seq,
                                      version=version)
        if found is not None:
            return found
        self.log.info("Waiting for %s on %s after audit event %s", ", ".join(self.actions), self.model_name, after_seq)
        self.defer(
            trigger=CatalogEventTrigger(registry_conn_id=self.registry_conn_id, model_name=self.model_name,
                                        actions=self.actions, after_seq=after_seq, version=version,
                                        poll_interval=self.poll_interval),
            method_name="execute_complete",
            timeout=self.timeout,
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        self.log.info("Audit event %s: %s by %s", event["seq"], event["action"], event["actor"])
        return event


class DecisionSensor(CatalogEventSensor):
    """Wait for someone's approval or rejection of one version (from the CLI, Dagster, MLflow or Airflow)."""

    def __init__(self, *, version: int | str, after_seq: int | str | None = 0, **kwargs: Any) -> None:
        super().__init__(actions=[AuditAction.APPROVAL_RECORD], version=version, after_seq=after_seq, **kwargs)


class ProductionChangeSensor(CatalogEventSensor):
    """Wait for the model's Production version to change: a promotion or a rollback."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(actions=[AuditAction.VERSION_PROMOTE, AuditAction.VERSION_ROLLBACK], **kwargs)

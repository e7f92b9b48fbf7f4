"""A trigger that waits on the catalog's audit log in Airflow's triggerer, holding no worker slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

__all__ = ["CatalogEventTrigger"]


class CatalogEventTrigger(BaseTrigger):
    """Fires with the first audit event after ``after_seq`` of one of ``actions`` on ``model`` (and ``version``)."""

    def __init__(
        self, *, registry_conn_id: str, model_name: str, actions: Sequence[str], after_seq: int,
        version: int | None = None, poll_interval: float = 5.0,
    ) -> None:
        super().__init__()
        self.registry_conn_id = registry_conn_id
        self.model_name = model_name
        self.actions = list(actions)
        self.after_seq = after_seq
        self.version = version
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"registry_conn_id": self.registry_conn_id, "model_name": self.model_name, "actions": self.actions,
             "after_seq": self.after_seq, "version": self.version, "poll_interval": self.poll_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from .catalog_events import first_event_after
        from .hook import RegistryHook

        # The catalog's driver is synchronous: a thread keeps the triggerer's event loop free. One registry
        # (one engine, its pooled connection) serves every poll: a wait of days must not open a connection a poll.
        registry = await asyncio.to_thread(RegistryHook(self.registry_conn_id).open_registry)
        try:
            while True:
                found = await asyncio.to_thread(
                    first_event_after, registry, self.model_name, actions=self.actions, after_seq=self.after_seq,
                    version=self.version,
                )
                if found is not None:
                    yield TriggerEvent(found)
                    return
                await asyncio.sleep(self.poll_interval)
        finally:
            registry.close()

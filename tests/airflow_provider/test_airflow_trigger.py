"""The deferrable sensors' trigger, run on its own event loop as the triggerer runs it, on real catalogs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from registry_core import AuditAction, Registry, Stage

from .conftest import airflow_or_skip

airflow_or_skip()

MODEL = "fraud-detector"
#: Polls the trigger makes before the decision it waits for is recorded.
POLLS_BEFORE_THE_DECISION = 5


@pytest.fixture
def catalog(database_url: str, artifact_root: Path, registry_connection: str):
    with Registry(database_url, artifact_root, actor="alice") as registry:
        yield registry


def test_the_trigger_polls_on_one_engine_however_long_it_waits(
    airflow_home: Path, catalog: Registry, model_file: Path, registry_connection: str,
):
    """Many polls before bob decides, one engine (one pool, one first connection) for all of them."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    from registry_airflow import CatalogEventTrigger

    catalog.register(MODEL, model_file)
    catalog.transition(MODEL, 1, Stage.STAGING)
    trigger = CatalogEventTrigger(registry_conn_id=registry_connection, model_name=MODEL,
                                  actions=[str(AuditAction.APPROVAL_RECORD)], after_seq=0, version=1, poll_interval=0.01)
    engines_opened: list[object] = []
    checkouts: list[object] = []

    def on_first_connect(dbapi_connection: object, record: object) -> None:
        engines_opened.append(record)

    def on_checkout(dbapi_connection: object, record: object, proxy: object) -> None:
        checkouts.append(record)

    async def wait_for_bob() -> dict:
        events = trigger.run()
        waiting = asyncio.ensure_future(anext(events))
        while len(checkouts) < POLLS_BEFORE_THE_DECISION and not waiting.done():
            await asyncio.sleep(0.01)
        assert not waiting.done(), "the trigger fired before anyone decided"
        await asyncio.to_thread(catalog.as_actor("bob").approve, MODEL, 1, comment="fine")
        fired = await waiting
        await events.aclose()
        return fired.payload

    event.listen(Pool, "first_connect", on_first_connect)
    event.listen(Pool, "checkout", on_checkout)
    try:
        payload = asyncio.run(asyncio.wait_for(wait_for_bob(), timeout=120))
    finally:
        event.remove(Pool, "first_connect", on_first_connect)
        event.remove(Pool, "checkout", on_checkout)
    assert (payload["action"], payload["actor"], payload["version"]) == ("approval.record", "bob", 1)
    assert len(checkouts) > POLLS_BEFORE_THE_DECISION
    assert len(engines_opened) == 1

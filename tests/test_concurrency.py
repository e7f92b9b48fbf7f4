"""Several OS processes writing one catalog at once: numbers stay unique and gap-free, Production stays single."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from registry_core import Registry, Stage

PROCESSES = 4
REGISTRATIONS = 15
#: How far ahead the shared start time is set, so that every worker is waiting before the first one writes.
START_DELAY = 0.3


def register_many(database_url: str, artifact_root: str, folder: str, actor: str, count: int, start_at: float):
    """Worker: register ``count`` versions of 'fraud' as ``actor``, all starting at ``start_at``."""
    with Registry(database_url, artifact_root, actor=actor) as registry:
        files = []
        for i in range(count):
            path = Path(folder) / f"{actor}-{i}.bin"
            path.write_bytes(f"{actor} weights {i}".encode())
            files.append(path)
        time.sleep(max(0.0, start_at - time.time()))
        numbers = [registry.register("fraud", path, tags={"worker": actor}).version for path in files]
    return os.getpid(), numbers


def promote_one(database_url: str, artifact_root: str, actor: str, version: int, start_at: float):
    """Worker: promote one version of 'fraud' as ``actor`` at ``start_at``."""
    with Registry(database_url, artifact_root, actor=actor) as registry:
        registry.get_model("fraud")  # connect before the start, like a running service would
        time.sleep(max(0.0, start_at - time.time()))
        change = registry.promote("fraud", version, reason=f"{actor} ships {version}")
    return os.getpid(), change.audit_seq


def warm_up(seconds: float) -> int:
    """Worker: importing this module (and with it registry_core) happens here, not in the timed tests."""
    time.sleep(seconds)
    return os.getpid()


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    """Worker processes started with 'spawn' (a clean interpreter each), warmed up once for the module."""
    with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as executor:
        assert len(set(executor.map(warm_up, [0.5] * PROCESSES))) == PROCESSES
        yield executor


def test_concurrent_registrations_get_unique_gap_free_numbers(registry: Registry, database_url, artifact_root, tmp_path, pool):
    start_at = time.time() + START_DELAY
    actors = [f"worker-{i}" for i in range(PROCESSES)]
    futures = [
        pool.submit(register_many, database_url, str(artifact_root), str(tmp_path), actor, REGISTRATIONS, start_at)
        for actor in actors
    ]
    results = [future.result(timeout=120) for future in futures]

    assert len({pid for pid, _ in results}) == PROCESSES, "each worker ran in a process of its own"
    numbers = [n for _, worker_numbers in results for n in worker_numbers]
    total = PROCESSES * REGISTRATIONS
    assert sorted(numbers) == list(range(1, total + 1))
    assert all(ns == sorted(ns) for _, ns in results), "each worker saw its own numbers increase"

    versions = registry.list_versions("fraud", limit=total + 10)
    assert sorted(v.version for v in versions) == list(range(1, total + 1))
    assert {actor: [v.version for v in versions if v.registered_by == actor][::-1] for actor in actors} == {
        actor: ns for actor, (_, ns) in zip(actors, results, strict=True)
    }
    assert registry.get_model("fraud").latest_version == total

    report = registry.verify_audit()
    assert report.intact, report.problem
    actions = [e.action for e in registry.audit_events(limit=1000)]
    assert actions.count("model.create") == 1
    assert actions.count("version.register") == total


def test_concurrent_promotions_leave_exactly_one_production_version(
    registry: Registry, database_url, artifact_root, model_file, pool
):
    candidates = list(range(1, PROCESSES + 1))
    for number in candidates:
        registry.register("fraud", model_file)
        registry.as_actor("bob").approve("fraud", number)
        registry.transition("fraud", number, "Staging")

    start_at = time.time() + START_DELAY
    futures = [
        pool.submit(promote_one, database_url, str(artifact_root), f"releaser-{n}", n, start_at) for n in candidates
    ]
    results = [future.result(timeout=120) for future in futures]
    assert len({pid for pid, _ in results}) == PROCESSES

    stages = {v.version: v.stage for v in registry.list_versions("fraud")}
    promotions = [e for e in registry.audit_events(limit=1000) if e.action == "version.promote"]
    order = [e.version for e in promotions]
    assert sorted(order) == candidates, "every promotion went through"
    assert stages == {n: Stage.PRODUCTION if n == order[-1] else Stage.ARCHIVED for n in candidates}
    # Each promotion saw the one before it finished: it archived exactly that version.
    assert [e.before["production"] for e in promotions] == [None, *order[:-1]]
    assert all(registry.get_version("fraud", n).was_production for n in candidates)
    report = registry.verify_audit()
    assert report.intact, report.problem

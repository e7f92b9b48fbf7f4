"""A candidate served as shadow or canary is loaded in a separate process first: its crash never takes Production down."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from hostile_estimators import CrashOnPredict, CrashOnRestore, GreedyOnRestore
from test_serving import client_for, predict, register_ready, serve_command, trained, training_frame, trust, wait_until

from registry_core import Registry
from registry_core.contained_load import LoadCrashed

TESTS = Path(__file__).parent


def production_and_candidate(registry: Registry, hostile: type) -> Registry:
    """Version 1 (plain) in Production; version 2, an instance of ``hostile``, approved in Staging."""
    trust(registry, hostile)
    register_ready(registry, trained(1))
    registry.promote("fraud", 1)
    register_ready(registry, hostile().fit(*training_frame()))
    return registry


@pytest.fixture
def crashing_candidate(registry: Registry) -> Registry:
    """Version 2's restoring kills its process."""
    return production_and_candidate(registry, CrashOnRestore)


@pytest.fixture
def crashing_at_warm_up(registry: Registry) -> Registry:
    """Version 2 loads cleanly and kills its process when it predicts."""
    return production_and_candidate(registry, CrashOnPredict)


def test_a_contained_load_reports_a_crash_and_this_process_goes_on(crashing_candidate: Registry):
    with pytest.raises(LoadCrashed, match=r"^models:/fraud/2 crashed the separate process that tried it first "
                                          r"\(signal SIGSEGV\); not loaded$"):
        crashing_candidate.load_model("models:/fraud/2", contained=True)
    assert crashing_candidate.load_model("models:/fraud/1", contained=True).predict(training_frame()[0]) is not None


def test_a_contained_load_may_take_only_the_memory_its_policy_allows(registry: Registry):
    """The child's address space is the interpreter's plus four times the inflated limit: 3 GiB more is refused."""
    trust(registry, GreedyOnRestore)
    registry.set_policy("fraud", max_load_bytes=1 << 20)
    version = registry.register("fraud", GreedyOnRestore().fit(*training_frame())).version
    with pytest.raises(LoadCrashed, match=f"did not load in the separate process that tried it first: models:/fraud/"
                                          f"{version} needs more memory to load than this process may use"):
        registry.load_model(f"models:/fraud/{version}", contained=True)


@pytest.mark.parametrize("candidate", ["crashing_candidate", "crashing_at_warm_up"])
@pytest.mark.parametrize("slot", ["shadow", "canary"])
def test_a_candidate_that_crashes_its_loader_leaves_production_serving(
    request: pytest.FixtureRequest, candidate: str, database_url: str, artifact_root: Path, tmp_path: Path, slot: str
):
    """registry serve on loopback: the candidate's slot reports the crash (loading or warming up), Production answers."""
    request.getfixturevalue(candidate)
    options = (["--shadow", "models:/fraud/Staging", "--prediction-log", str(tmp_path / "traffic.jsonl")]
               if slot == "shadow" else ["--canary", "models:/fraud/Staging", "--canary-percent", "50"])
    # The hostile classes are this folder's: the server and the process it tries a version in import them from it.
    path = {"PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    with serve_command(database_url, artifact_root, *options, env=path) as (process, port):
        with client_for(f"http://127.0.0.1:{port}") as client:
            def health() -> dict | None:
                if process.poll() is not None:
                    raise AssertionError(f"registry serve exited with {process.returncode}")
                try:
                    return client.get("/health").json()
                except httpx.TransportError:
                    return None

            body = wait_until(health, timeout=60.0, what="the server answering")
            assert body["status"] == "degraded"
            [problem] = body["problems"]
            assert problem.startswith(f"{slot}: version 2 failed to load and is not served: models:/fraud/2 ")
            assert "crashed the separate process that tried it first (signal SIGSEGV)" in problem
            answers = [predict(client).json() for _ in range(20)]
            assert {answer["version"] for answer in answers} == {1}
            assert process.poll() is None

"""Serving a protected alias: followed only while its version meets the gates; a free alias only when asked to."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_serving import notify, predict, register_ready, serving, trained, wait_until

from registry_core import NotPermitted, Registry
from registry_core.serving import ServingOptions, ServingRuntime
from registry_core.serving.model_holder import CatalogModelLoader


@pytest.fixture
def champion(registry: Registry) -> Registry:
    """Version 1 in Production and version 2 in Staging, both approved by bob; @champion (protected) on version 1."""
    register_ready(registry, trained(1))
    register_ready(registry, trained(2))
    registry.promote("fraud", 1)
    registry.set_policy("fraud", protect_aliases=["champion"])
    registry.set_alias("fraud", "champion", 1)
    return registry


def problems(client) -> list[str]:
    health = client.get("/health").json()
    return health["problems"] if health["status"] == "degraded" else []


def test_a_served_protected_alias_whose_version_fails_a_check_keeps_answering_and_reports_it(champion: Registry):
    """The alias is no longer followed: nothing new loads behind it, the server says why, and moving it recovers."""
    with serving(champion, model_uri="models:/fraud@champion") as (_server, client):
        champion.record_check("fraud", 1, "drift", passed=False)
        notify(client)
        [problem] = wait_until(lambda: problems(client), what="degraded health")
        assert problem.startswith("models:/fraud@champion is not followed: ")
        assert "version 1, which no longer meets the gates: check 'drift' failed" in problem
        assert predict(client).json()["version"] == 1
        champion.set_alias("fraud", "champion", 2)
        notify(client)
        wait_until(lambda: predict(client).json()["version"] == 2, what="version 2 served")
        assert wait_until(lambda: client.get("/health").json()["status"] == "ok", what="healthy again")


def test_unprotecting_a_served_alias_stops_following_it_without_the_flag(champion: Registry):
    """Unprotecting makes the alias free to move anywhere: the server stops following it (and says so) at once."""
    with serving(champion, model_uri="models:/fraud@champion") as (_server, client):
        champion.set_policy("fraud", unprotect_aliases=["champion"])
        notify(client)
        [problem] = wait_until(lambda: problems(client), what="degraded health")
        assert "is not followed" in problem and "unprotected alias @champion" in problem
        champion.set_alias("fraud", "champion", 2)
        notify(client)
        assert predict(client).json()["version"] == 1


def test_a_canary_on_an_unprotected_alias_is_refused_at_start(champion: Registry):
    """A canary answers real requests: it may follow only what the primary may."""
    champion.set_alias("fraud", "challenger", 2)
    options = ServingOptions(model_uri="models:/fraud/Production", canary_uri="models:/fraud@challenger",
                             canary_percent=50.0)
    runtime = ServingRuntime(champion, options)
    with pytest.raises(NotPermitted, match="unprotected alias @challenger"):
        runtime.start()


def test_registry_serve_refuses_an_unprotected_canary_with_one_line(champion: Registry, database_url, artifact_root):
    champion.set_alias("fraud", "challenger", 2)
    env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "registry_core.cli", "serve", "models:/fraud/Production", "--port", "0",
               "--canary", "models:/fraud@challenger", "--canary-percent", "10"]
    try:
        refused = subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("registry serve started with a canary on an unprotected alias")
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "unprotected alias @challenger" in refused.stderr and "--follow-unprotected-alias" in refused.stderr


# --- stages anyone can fill are as ungated as an unprotected alias ------------------------------


@pytest.fixture
def anyone_can_fill(champion: Registry) -> Registry:
    """Besides @champion: version 3 freshly registered (None) and version 4 registered then archived, no gate passed."""
    for seed in (3, 4):
        champion.as_actor("mallory").register("fraud", trained(seed))
    champion.as_actor("mallory").transition("fraud", 4, "Archived")
    return champion


UNGATED_STAGES = {"None": 3, "Candidate": 3, "archived": 4}


@pytest.mark.parametrize("stage", UNGATED_STAGES)
def test_a_stage_anyone_can_fill_is_not_followed_without_the_flag(anyone_can_fill: Registry, stage):
    """Registering (None) or archiving a fresh version (Archived) passes no gate, so following it is opted into."""
    loader = CatalogModelLoader(anyone_can_fill)
    with pytest.raises(NotPermitted, match=f"models:/fraud/{stage} follows .*which no gate guards.*--follow-unprotected"):
        loader.resolve(f"models:/fraud/{stage}")
    assert loader.resolve("models:/fraud/Staging").version == 2
    opted_in = CatalogModelLoader(anyone_can_fill, follow_unprotected_alias=True)
    assert opted_in.resolve(f"models:/fraud/{stage}").version == UNGATED_STAGES[stage]


def test_registry_serve_refuses_a_stage_anyone_can_fill_at_start_up(anyone_can_fill: Registry, database_url,
                                                                     artifact_root):
    """One line, exit 1, before anything listens (the old code started serving whatever was last registered)."""
    env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "registry_core.cli", "serve", "models:/fraud/None", "--port", "0"]
    try:
        refused = subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("registry serve started serving models:/fraud/None (version 3, which passed no gate)")
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "models:/fraud/None follows" in refused.stderr and "--follow-unprotected-alias" in refused.stderr


class WrittenBetweenReads(Registry):
    """The real registry, with another writer's changes landing just before its next ``show`` (a race, made certain)."""

    writes: list = []

    def show(self, uri: str):
        while self.writes:
            self.writes.pop(0)()
        return super().show(uri)


def test_an_alias_unprotected_and_moved_while_it_is_resolved_is_not_followed(champion: Registry):
    """Whether the alias is protected is read with the version it points at, not a moment before."""
    mallory = champion.as_actor("mallory")
    unreviewed = mallory.register("fraud", trained(3)).version
    raced = object.__new__(WrittenBetweenReads)
    raced.__dict__.update(champion.__dict__)
    raced.writes = [lambda: mallory.set_policy("fraud", unprotect_aliases=["champion"]),
                    lambda: mallory.set_alias("fraud", "champion", unreviewed)]
    with pytest.raises(NotPermitted, match="unprotected alias @champion"):
        CatalogModelLoader(raced).resolve("models:/fraud@champion")
    assert champion.resolve("models:/fraud@champion").version == unreviewed

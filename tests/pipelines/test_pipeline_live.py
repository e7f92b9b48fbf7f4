"""`dagster dev` for real: approve through its GraphQL API, then watch promotion and redeploy happen by themselves.

Starts `dagster dev` (webserver, daemon, code server) from the repository's
workspace.yaml on 127.0.0.1, with a temporary DAGSTER_HOME holding the
repository's dagster.yaml, a SQLite catalog, and the test's own HTTP endpoint
on 127.0.0.1 as the deploy target. The version to approve is prepared in
process first (the whole flow under `dagster dev`, from retraining on, is
timed by benchmarks/pipeline_benchmark.py --live). Every wait is bounded; the
server is stopped with SIGTERM to its own process group.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_core import Decision, Registry
from registry_pipelines import RegistryResource, build_registry_definitions
from registry_pipelines.dev_server import FINISHED, DagsterDevServer, dev_environment
from registry_pipelines.fraud import fraud_detector_pipeline
from registry_pipelines.jobs import decision_launch
from registry_pipelines.testing import InProcessLifecycle

from .steps import MODEL, REVIEWER, to_staging

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def live(tmp_path: Path, deploy_endpoint, instance) -> Iterator[tuple[DagsterDevServer, Registry]]:
    """`dagster dev` on a catalog where version 1 already awaits approval (trained, validated, shadow-evaluated in process)."""
    database_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    artifact_root = str(tmp_path / "artifacts")
    pipeline = fraud_detector_pipeline(deploy_targets=())
    resource = RegistryResource(database_url=database_url, artifact_root=artifact_root)
    defs = build_registry_definitions(pipeline, registry=resource)
    to_staging(InProcessLifecycle(defs, instance, log_level="CRITICAL"), pipeline)

    env = dev_environment(tmp_path, workspace_dir=ROOT, database_url=database_url, artifact_root=artifact_root,
                          deploy_url=deploy_endpoint.url, sensor_interval=2)
    with (
        DagsterDevServer(workspace_dir=ROOT, env=env, log=tmp_path / "dagster-dev.log") as server,
        Registry(database_url, artifact_root, actor="test") as catalog,
    ):
        server.wait_until_loaded(timeout=120)
        yield server, catalog


def test_approval_through_graphql_promotes_and_redeploys_in_its_run(live, deploy_endpoint):
    """Approve over GraphQL, picking version 1 from the versions awaiting a decision; the run promotes and redeploys."""
    server, catalog = live
    assert [g.message for g in catalog.show(f"models:/{MODEL}/1").unmet_gates] == ["1 approval(s) required, 0 eligible recorded"]
    server.wait_for(
        "the catalog sensor to list version 1 as awaiting a decision",
        lambda: server.partition_keys("fraud_detector_awaiting_decision") == ["1"], timeout=60,
    )

    approved_at = time.monotonic()
    pipeline = fraud_detector_pipeline(deploy_targets=())
    approval_run = server.launch_spec(decision_launch(pipeline, 1, REVIEWER, Decision.APPROVE, "reviewed live"))
    server.wait_for("the redeploy to reach the serving endpoint", lambda: deploy_endpoint.received, timeout=150)
    to_redeploy = time.monotonic() - approved_at

    assert catalog.resolve(f"models:/{MODEL}/Production").version == 1
    assert [(c["version"], c["change"]) for c in deploy_endpoint.received] == [(1, "promotion")]
    [decision] = catalog.show(f"models:/{MODEL}/1").decisions
    assert (decision.approver, decision.decision) == (REVIEWER, "approve")
    assert approval_run in decision.comment

    def all_finished() -> list | None:
        runs = server.runs()
        return runs if all(run["status"] in FINISHED for run in runs) else None

    runs = server.wait_for("every run to finish", all_finished, timeout=60)
    # The sensors replayed the catalog's history on their first tick: version 1 was already
    # validated and shadow-evaluated, and the approval run promoted and redeployed it, so it is the only run.
    assert sorted((run["jobName"], run["status"]) for run in runs) == [("fraud_detector_approve", "SUCCESS")]
    print(f"\nlive: approval->redeploy {to_redeploy:.1f}s")

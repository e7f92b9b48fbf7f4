"""The model lifecycle through the real Dagster definitions, in one process, printing every step.

    python -m registry_pipelines.demo            # what `make demo` runs

On the embedded default: a fresh SQLite catalog and artifact folder under
``./.registry-demo/`` and a temporary Dagster instance (``DAGSTER_HOME``).
Jobs are executed and the catalog sensors ticked for real, in the order the
Dagster daemon would: train v1 → validate → shadow-evaluate → approve (as a
second person) → promote → redeploy; train v2 → … → promote (v1 archived);
roll back. The deploy target is a small HTTP endpoint on 127.0.0.1 standing
in for a serving system. Exits 1 if any step does not turn out as shown.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from registry_core import AuditAction

MODEL = "fraud-detector"
ENGINEER = "ml-engineer"
REVIEWER = "risk-reviewer"


class DemoFailed(Exception):
    """A step did not turn out as the demo shows it."""


def step(title: str) -> None:
    bold, plain = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")
    print(f"\n{bold}== {title}{plain}", flush=True)


def say(text: str) -> None:
    print(f"   {text}", flush=True)


def expect(condition: object, what: str) -> None:
    if not condition:
        raise DemoFailed(what)


@contextmanager
def serving_endpoint() -> Iterator[str]:
    """A stand-in serving system on 127.0.0.1 that prints each production change it is told about."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            change = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            say(
                f"[serving endpoint] now serving {change['model']} v{change['version']} "
                f"({change['change']}, sha256 {change['artifact_sha256'][:12]}…)"
            )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/deploy"
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path(".registry-demo"), help="catalog folder, reset on each run")
    args = parser.parse_args(argv)
    # Dagster 1.13's @sensor warns about its own beta `owners` parameter for every sensor it builds.
    warnings.filterwarnings("ignore", message="Parameter `owners` of initializer")
    shutil.rmtree(args.home, ignore_errors=True)
    args.home.mkdir(parents=True)
    previous_home = os.environ.get("DAGSTER_HOME")
    with tempfile.TemporaryDirectory(prefix="dagster-home-") as dagster_home, serving_endpoint() as url:
        os.environ["DAGSTER_HOME"] = dagster_home
        try:
            run_demo(args.home, Path(dagster_home), url)
        except DemoFailed as failed:
            print(f"\ndemo: unexpected outcome: {failed}", file=sys.stderr)
            return 1
        finally:
            if previous_home is None:
                os.environ.pop("DAGSTER_HOME", None)
            else:
                os.environ["DAGSTER_HOME"] = previous_home
    return 0


def run_demo(home: Path, dagster_home: Path, deploy_url: str) -> None:
    from dagster import DagsterInstance

    from registry_core import Registry
    from registry_pipelines import HttpDeployTarget, RegistryResource, build_registry_definitions
    from registry_pipelines.fraud import fraud_detector_pipeline
    from registry_pipelines.testing import InProcessLifecycle

    database_url = f"sqlite:///{home / 'registry.db'}"
    resource = RegistryResource(database_url=database_url, artifact_root=str(home / "artifacts"), actor="dagster")
    pipeline = fraud_detector_pipeline(deploy_targets=(HttpDeployTarget(deploy_url),))
    defs = build_registry_definitions(pipeline, registry=resource)
    jobs = sorted(job.name for job in defs.get_repository_def().get_all_jobs() if not job.name.startswith("__"))
    print(f"catalog {database_url}, artifacts {home / 'artifacts'}, Dagster instance {dagster_home}")
    print(f"jobs: {', '.join(jobs)}")
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with (
        DagsterInstance.from_config(str(dagster_home)) as instance,
        Registry(database_url, home / "artifacts", actor="admin") as catalog,
    ):
        Walkthrough(pipeline, InProcessLifecycle(defs, instance, log_level="CRITICAL"), catalog).run()
    print(f"\nInspect it: REGISTRY_DATABASE_URL={database_url} registry audit {MODEL}")


class Walkthrough:
    """The lifecycle step by step; ``catalog`` is how the people around the pipeline see the registry."""

    def __init__(self, pipeline: Any, lifecycle: Any, catalog: Any) -> None:
        self.pipeline = pipeline
        self.lifecycle = lifecycle
        self.catalog = catalog

    def run(self) -> None:
        from registry_core import Decision
        from registry_pipelines.jobs import decision_launch, promotion_run_config, rollback_launch
        from registry_pipelines.testing import failure_message

        step(f"Governance policy for {MODEL} (set by an admin): only {REVIEWER} may approve")
        self.catalog.create_model(MODEL, description=self.pipeline.description)
        policy = self.catalog.set_policy(MODEL, approvers=[REVIEWER])
        say(f"approvals required {policy.approvals_required}, approvers {list(policy.approvers)}, "
            f"self-approval {'allowed' if policy.allow_self_approval else 'not allowed'}")

        self.train(1)
        self.validate_and_shadow(1)

        step("Promote v1 without an approval: job fraud_detector_promote is refused")
        result = self.lifecycle.run(self.pipeline.job_name("promote"), promotion_run_config(self.pipeline, 1))
        expect(not result.success, "an unapproved promotion was accepted")
        say(f"run failed: {failure_message(result)}")
        say(f"catalog unchanged: {self.version_line(1)}")

        step(f"Approve v1 as {ENGINEER} (not on the approvers list): refused")
        result = self.lifecycle.launch(decision_launch(self.pipeline, 1, ENGINEER, Decision.APPROVE))
        expect(not result.success, "an approval by someone off the approvers list was accepted")
        say(f"run failed: {failure_message(result)}")

        self.approve_promote_redeploy(1)

        self.train(2, n_estimators=120, max_depth=8)
        self.validate_and_shadow(2)
        self.approve_promote_redeploy(2)

        self.sync()
        targets = self.lifecycle.partition_keys(f"{self.pipeline.prefix}_rollback_targets")
        step(f"Roll back: job {self.pipeline.job_name('rollback')}, version picked from {targets}, who asks and why")
        reason = "false-positive rate doubled after v2"
        result = self.lifecycle.launch(rollback_launch(self.pipeline, 1, "oncall", reason))
        expect(result.success, f"rollback failed: {failure_message(result)}")
        say(self.version_line(1))
        say(self.version_line(2))
        say("the rollback run redeployed v1 itself; the Production-change sensor has nothing to do:")
        self.tick("on_production_change")

        self.summary()

    def sync(self) -> None:
        """What the catalog sensor does every tick: versions as partitions, their checks and decisions as asset events."""
        self.lifecycle.tick(self.pipeline.job_name("versions_to_dagster"))

    def tick(self, sensor: str) -> bool:
        """Tick one sensor and run what it asks for; True when it launched runs and all succeeded."""
        from registry_pipelines.testing import failure_message

        name = self.pipeline.job_name(sensor)
        outcome = self.lifecycle.tick(name)
        if not outcome.run_requests:
            say(f"sensor {name}: no run ({outcome.skip_reason})")
        for request, run in zip(outcome.run_requests, outcome.runs, strict=False):
            verdict = "succeeded" if run.success else f"FAILED: {failure_message(run)}"
            say(f"sensor {name} -> run {request.run_key} of {request.job_name}: {verdict}")
        return bool(outcome.runs) and outcome.succeeded

    def version_line(self, number: int) -> str:
        details = self.catalog.show(f"models:/{MODEL}/{number}")
        checks = ", ".join(f"{c.name} {'passed' if c.passed else 'FAILED'}" for c in details.checks) or "no checks"
        return f"{details.version.uri}: stage {details.version.stage}; {checks}"

    def train(self, number: int, **params: Any) -> None:
        from registry_pipelines.jobs import retrain_run_config
        from registry_pipelines.testing import failure_message

        job = self.pipeline.job_name("retrain")
        step(f"Train v{number}: job {job} (expectation suite on the data, train, register)")
        result = self.lifecycle.run(job, retrain_run_config(self.pipeline, params))
        expect(result.success, f"retraining failed: {failure_message(result)}")
        version = self.catalog.get_version(MODEL, number)
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in sorted(version.metrics.items()))
        say(f"registered {version.uri} in stage {version.stage} by {version.registered_by}")
        say(f"holdout metrics: {metrics}")
        say(f"lineage: Dagster run {version.run_id[:8]}, {version.tags['dagster/asset_key']} "
            f"@ code version {version.tags['dagster/code_version']}, data {version.dataset_digest[:19]}…")

    def validate_and_shadow(self, number: int) -> None:
        step(f"Validate and shadow-evaluate v{number}: the new-candidate sensor launches the validation job")
        expect(self.tick("on_new_candidate"), "validation did not run or failed")
        say(self.version_line(number))
        say("the validation run shadow-evaluated it too; the Staging sensor has nothing to do:")
        self.tick("on_staging")
        shadow = {c.name: c for c in self.catalog.show(f"models:/{MODEL}/{number}").checks}["shadow_evaluation"]
        say(shadow.details["summary"])
        say(f"awaiting: {'; '.join(g.message for g in self.catalog.unmet_gates(MODEL, number, 'Production')) or 'nothing'}")
        self.sync()
        awaiting = self.lifecycle.partition_keys(f"{self.pipeline.prefix}_awaiting_decision")
        say(f"versions awaiting a decision (the approve job's partitions): {awaiting}")

    def approve_promote_redeploy(self, number: int) -> None:
        from registry_core import Decision
        from registry_pipelines.jobs import decision_launch
        from registry_pipelines.testing import failure_message

        job = self.pipeline.job_name("approve")
        step(f"Approve v{number} as {REVIEWER}: job {job}, v{number} picked from the versions awaiting a decision")
        result = self.lifecycle.launch(decision_launch(self.pipeline, number, REVIEWER, Decision.APPROVE, "reviewed"))
        expect(result.success, f"approval failed: {failure_message(result)}")
        say(f"{REVIEWER} approved {MODEL} v{number}; every gate held, so the same run promoted and redeployed it")
        for shown in range(1, number + 1):
            say(self.version_line(shown))
        step("The promotion and Production-change sensors see it was done in the run and launch nothing")
        self.tick("on_approval")
        self.tick("on_production_change")

    def summary(self) -> None:
        from dagster import AssetKey

        from .assets.production_model import APPROVED_BY, APPROVED_BY_ORIGINALLY

        step("What Dagster and the catalog now say")
        key = AssetKey([self.pipeline.prefix, "production_model"])
        for record in reversed(self.lifecycle.instance.fetch_materializations(key, limit=10).records):
            meta = record.asset_materialization.metadata
            label = APPROVED_BY if APPROVED_BY in meta else APPROVED_BY_ORIGINALLY
            approval = f"{label} {meta[label].value}"
            say(f"asset {key.to_user_string()}: v{meta['version'].value} ({meta['change'].value}), "
                f"{approval}, sha256 {meta['artifact sha256'].value[:12]}…")
        production = self.catalog.resolve(f"models:/{MODEL}/Production")
        expect(production.version == 1, "v1 is not back in Production")
        deployments = [e for e in self.catalog.audit_events(MODEL, limit=500) if e.action is AuditAction.DEPLOYMENT_RECORD]
        say(f"Production: {production.uri}; {len(deployments)} deployments recorded in the audit log")
        report = self.catalog.verify_audit()
        expect(report.intact, "the audit chain is broken")
        say(f"audit log intact: {report.events} events")


if __name__ == "__main__":
    sys.exit(main())

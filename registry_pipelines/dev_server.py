"""`dagster dev` as a subprocess on loopback, driven through its GraphQL API (for the live test and the benchmark).

Two things this handles that bite otherwise: a process started in the
background of a non-interactive shell inherits SIGINT and SIGTERM as ignored,
so `dagster dev` would never stop (the child gets default signal handling
back); and `dagster dev` starts a webserver, a daemon and a code server, so it
runs in a process group of its own that :meth:`DagsterDevServer.stop` ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["DagsterDevServer", "dev_environment", "free_port"]

T = TypeVar("T")

_LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
_REPOSITORIES = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
_LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
_RUN_STATUS = "query Run($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"
_RUNS = "{ runsOrError(limit: 100) { ... on Runs { results { runId jobName status } } } }"
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dev_environment(
    folder: Path, *, workspace_dir: Path, database_url: str, artifact_root: str, deploy_url: str, sensor_interval: int
) -> dict[str, str]:
    """This process's environment for `dagster dev` on a catalog: a fresh ``DAGSTER_HOME`` in ``folder`` holding
    the project's ``dagster.yaml`` (as docs/explanation/dagster-lifecycle.md sets one up), the catalog, the deploy URL and the sensor interval."""
    home = folder / "dagster_home"
    home.mkdir()
    shutil.copy(workspace_dir / "dagster.yaml", home / "dagster.yaml")
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "REGISTRY_DATABASE_URL": database_url,
        "REGISTRY_ARTIFACT_ROOT": artifact_root,
        "FRAUD_DETECTOR_DEPLOY_URL": deploy_url,
        "REGISTRY_SENSOR_INTERVAL_SECONDS": str(sensor_interval),
        "PYTHONUNBUFFERED": "1",
    }


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class DagsterDevServer:
    """``dagster dev -w workspace.yaml`` (or, with ``dg=True``, ``dg dev``) on 127.0.0.1, its output in ``log``."""

    def __init__(
        self, *, workspace_dir: Path, env: Mapping[str, str], log: Path, port: int | None = None, dg: bool = False
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.home = env.get("DAGSTER_HOME")
        bin_dir = Path(sys.executable).parent
        if dg:
            self.command = [str(bin_dir / "dg"), "dev", "--host", "127.0.0.1", "--port", str(self.port)]
        else:
            self.command = [str(bin_dir / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(self.port)]
        with log.open("wb") as output:
            self._process = subprocess.Popen(  # noqa: S603 - our own dagster executable
                self.command,
                cwd=workspace_dir, env=dict(env), stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_default_signals,
            )

    def __enter__(self) -> DagsterDevServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to the process group; SIGKILL only for what is still there after ``timeout``."""
        process = self._process
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        # The webserver and daemon may outlive dagster dev's own exit for a moment.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_for(self, what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.25) -> T:
        """Poll ``probe`` until it returns something truthy; a TimeoutError carries the log's tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dagster dev exited ({self._process.returncode}) while waiting for {what}\n{self.log_tail()}")
            value = probe()
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}\n--- dagster dev log ---\n{self.log_tail()}")

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise RuntimeError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    def wait_until_loaded(self, timeout: float = 120) -> None:
        def loaded() -> bool:
            try:
                entries = self.graphql(_LOCATIONS)["workspaceOrError"]["locationEntries"]
            except (OSError, urllib.error.URLError, RuntimeError):
                return False
            return bool(entries) and all(entry["loadStatus"] == "LOADED" for entry in entries)

        self.wait_for("dagster dev to load the code location", loaded, timeout)

    def launch(
        self, job: str, run_config: Mapping[str, Any] | None = None, *, tags: Mapping[str, str] | None = None,
        partition_key: str | None = None,
    ) -> str:
        """Launch ``job`` (from the only code location) as the Launchpad would, of one partition if given; returns the run id."""
        [repository] = self.graphql(_REPOSITORIES)["repositoriesOrError"]["nodes"]
        params = {
            "selector": {
                "repositoryLocationName": repository["location"]["name"],
                "repositoryName": repository["name"],
                "jobName": job,
            },
            "runConfigData": dict(run_config or {}),
        }
        all_tags = dict(tags or {})
        if partition_key is not None:
            all_tags["dagster/partition"] = partition_key
        if all_tags:
            params["executionMetadata"] = {"tags": [{"key": k, "value": v} for k, v in all_tags.items()]}
        result = self.graphql(_LAUNCH, {"params": params})["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise RuntimeError(f"launching {job} failed: {result}")
        return result["run"]["runId"]

    def launch_spec(self, launch: Any) -> str:
        """Launch a :class:`~registry_pipelines.jobs.Launch` (job, partition, config, tags)."""
        return self.launch(launch.job_name, launch.run_config, tags=launch.tags, partition_key=launch.partition_key)

    def partition_keys(self, partitions_def_name: str) -> list[str]:
        """The keys of a dynamic partitions definition, read from the instance this server uses."""
        from dagster import DagsterInstance

        if not self.home:
            raise RuntimeError("partition_keys needs the server's DAGSTER_HOME in its environment")
        with DagsterInstance.from_config(self.home) as instance:
            return list(instance.get_dynamic_partitions(partitions_def_name))

    @property
    def pid(self) -> int:
        """The process id of ``dagster dev``, also the id of its process group."""
        return self._process.pid

    def run_milestones(self, run_id: str) -> dict[str, float]:
        """When (Unix seconds) a run was created, launched, got its process and started, from the instance's records.

        ``launched``: the run left the queue and its launcher was called; ``process``: the run's process reported
        it was up; ``started``: the process had loaded the code location and began executing the job. A run
        never queued (Dagster's default run coordinator) has no ``queued`` milestone.
        """
        from dagster import DagsterEventType, DagsterInstance

        if not self.home:
            raise RuntimeError("run_milestones needs the server's DAGSTER_HOME in its environment")
        kinds = {DagsterEventType.RUN_ENQUEUED.value: "queued", DagsterEventType.RUN_STARTING.value: "launched",
                 DagsterEventType.RUN_START.value: "started", DagsterEventType.RUN_SUCCESS.value: "finished",
                 DagsterEventType.RUN_FAILURE.value: "finished"}
        with DagsterInstance.from_config(self.home) as instance:
            record = instance.get_run_record_by_id(run_id)
            if record is None:
                raise RuntimeError(f"no run {run_id} in {self.home}")
            milestones = {"created": record.create_timestamp.timestamp()}
            for entry in instance.all_logs(run_id):
                event = entry.dagster_event
                if event is None:
                    continue
                if event.event_type_value in kinds:
                    milestones.setdefault(kinds[event.event_type_value], entry.timestamp)
                elif event.event_type_value == DagsterEventType.ENGINE_EVENT.value and (
                        entry.message or "").startswith("Started process for run"):
                    milestones.setdefault("process", entry.timestamp)
        return milestones

    def status(self, run_id: str) -> str:
        return self.graphql(_RUN_STATUS, {"runId": run_id})["runOrError"]["status"]

    def runs(self) -> list[dict[str, Any]]:
        return self.graphql(_RUNS)["runsOrError"]["results"]

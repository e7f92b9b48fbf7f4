"""Approval to redeployed and rollback to redeployed under `dg dev`, and what `dg dev` costs at idle.

`dg dev` is started as the tutorial starts it (a fresh ``DAGSTER_HOME``
holding the project's ``dagster.yaml``, from the project folder), on
loopback, with an HTTP endpoint of this process as the deploy target. One
session: measure the idle CPU of the whole process group (webserver, daemon,
code server) with nothing to do; then ``approvals`` times retrain a version,
wait until it awaits a decision and approve it as the Launchpad does; then
``rollbacks`` times roll back to the previous Production version. Every
latency is read from the catalog's audit timestamps (the approval or rollback
recorded, the deployment recorded) and, for what a reviewer waits, from the
moment the run was launched; Dagster's own records of each run split the
latter into the queue, the run's process starting, the code location loading
in it, and the run itself.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from registry_core import AuditAction, AuditEntry, Decision, Registry
from registry_pipelines.dev_server import FINISHED, DagsterDevServer, dev_environment
from registry_pipelines.fraud import fraud_detector_pipeline
from registry_pipelines.jobs import decision_launch, rollback_launch

__all__ = ["LatencySession", "latency_session", "process_group_cpu_seconds"]

_TICKS = os.sysconf("SC_CLK_TCK")


def process_group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system, with reaped children) of every live process in ``pgid``, from /proc."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
        if int(fields[2]) == pgid:  # field 5 of stat: the process group
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / _TICKS


def _code_servers(pgid: int) -> list[Path]:
    """The /proc entries of the code servers (``dagster api grpc``) in ``pgid``: the parents of the runs' processes."""
    servers = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat, command = (entry / "stat").read_text(), (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[2]) == pgid and b"api\0grpc" in command:
            servers.append(entry)
    return servers


def code_server_children_cpu_seconds(pgid: int) -> float:
    """CPU seconds of the finished, reaped children of the code server in ``pgid`` (the processes that ran runs)."""
    total = 0
    for server in _code_servers(pgid):
        fields = (server / "stat").read_text()
        fields = fields[fields.rindex(")") + 2:].split()
        total += int(fields[13]) + int(fields[14])  # cutime cstime
    return total / _TICKS


def runs_in_flight(pgid: int) -> int:
    """Children of the code server other than multiprocessing's resource tracker: runs' processes, live or unreaped."""
    count = 0
    for server in _code_servers(pgid):
        for task in (server / "task").iterdir():
            for child in (task / "children").read_text().split():
                try:
                    command = Path(f"/proc/{child}/cmdline").read_bytes()
                except OSError:
                    continue
                count += b"resource_tracker" not in command
    return count


@dataclass
class LatencySession:
    """What one `dg dev` session measured, in seconds (idle CPU in percent of one core)."""

    idle_cpu_percent: float
    loaded_seconds: float
    approval_recorded_to_deployed: list[float] = field(default_factory=list)
    approval_launched_to_deployed: list[float] = field(default_factory=list)
    rollback_recorded_to_deployed: list[float] = field(default_factory=list)
    rollback_launched_to_deployed: list[float] = field(default_factory=list)
    queued_to_started: list[float] = field(default_factory=list)
    created_to_launched: list[float] = field(default_factory=list)
    launched_to_process: list[float] = field(default_factory=list)
    process_to_started: list[float] = field(default_factory=list)
    started_to_finished: list[float] = field(default_factory=list)
    run_cpu: list[float] = field(default_factory=list)
    registration_to_awaiting: list[float] = field(default_factory=list)


def _at(event: AuditEntry) -> datetime:
    return datetime.fromisoformat(event.recorded_at.replace("Z", "+00:00"))


def _deployed_after(events: Sequence[AuditEntry], change: AuditEntry) -> datetime:
    """When the first successful deployment of the change's version after the change was recorded."""
    return next(_at(e) for e in events if e.seq > change.seq and e.action == AuditAction.DEPLOYMENT_RECORD
                and e.version == change.version and (e.after or {}).get("succeeded"))


def latency_session(
    folder: Path, *, root: Path, deploy_url: str, deployed: Callable[[], int], approvals: int, rollbacks: int,
    sensor_interval: int, idle_seconds: float, progress: Callable[[str], None],
) -> LatencySession:
    """One `dg dev` session: idle CPU, then ``approvals`` approvals and ``rollbacks`` rollbacks, each to redeployed."""
    if rollbacks >= approvals:
        raise ValueError("each rollback goes back one formerly-Production version: rollbacks must be < approvals")
    database_url = f"sqlite:///{folder / 'live.db'}"
    pipeline = fraud_detector_pipeline()
    env = dev_environment(folder, workspace_dir=root, database_url=database_url, artifact_root=str(folder / "live-artifacts"),
                          deploy_url=deploy_url, sensor_interval=sensor_interval)
    progress(f"live: starting dg dev (sensors every {sensor_interval}s)")
    started = time.monotonic()
    launches: dict[tuple[str, int], datetime] = {}
    run_ids: list[str] = []
    run_cpu: list[float] = []
    with DagsterDevServer(workspace_dir=root, env=env, log=folder / "dg-dev.log", dg=True) as server:
        server.wait_until_loaded()
        loaded = time.monotonic() - started
        time.sleep(10)  # the daemon's first sensor ticks and the code server's warm-up are not idle
        progress(f"live: idle CPU of dg dev over {idle_seconds:g}s")
        before = process_group_cpu_seconds(server.pid)
        time.sleep(idle_seconds)
        idle = (process_group_cpu_seconds(server.pid) - before) / idle_seconds * 100
        with Registry(database_url, folder / "live-artifacts", actor="bench") as catalog:
            for version in range(1, approvals + 1):
                progress(f"live: retrain and approve version {version}")
                server.launch(pipeline.job_name("retrain"), {"ops": {pipeline.op_name("candidate_model"): {
                    "config": {"params": {"n_estimators": 40 + 10 * version}}}}})
                server.wait_for(f"v{version} awaiting a decision", lambda v=version: str(v) in server.partition_keys(
                    f"{pipeline.prefix}_awaiting_decision"), timeout=300)
                cpu_before = _settled(server)
                launches[("approve", version)] = datetime.now(UTC)
                run_ids.append(server.launch_spec(decision_launch(pipeline, version, "risk-reviewer", Decision.APPROVE)))
                server.wait_for(f"v{version} deployed", lambda: deployed() >= len(launches), timeout=300)
                run_cpu.append(_run_cpu(server, run_ids[-1], cpu_before))
            for target in range(approvals - 1, approvals - 1 - rollbacks, -1):
                progress(f"live: roll back to version {target}")
                server.wait_for(f"v{target} listed for rollback", lambda t=target: str(t) in server.partition_keys(
                    f"{pipeline.prefix}_rollback_targets"), timeout=120)
                cpu_before = _settled(server)
                launches[("rollback", target)] = datetime.now(UTC)
                run_ids.append(server.launch_spec(rollback_launch(pipeline, target, "oncall", "benchmark")))
                server.wait_for(f"rollback to v{target} deployed", lambda: deployed() >= len(launches), timeout=300)
                run_cpu.append(_run_cpu(server, run_ids[-1], cpu_before))
            server.wait_for("every deployment recorded", lambda: sum(
                e.action == AuditAction.DEPLOYMENT_RECORD for e in catalog.audit_events(pipeline.name, limit=1000)) >= len(launches),
                timeout=60)
            events = catalog.audit_events(pipeline.name, limit=1000)
        for run_id in run_ids:
            server.wait_for(f"run {run_id} to finish", lambda r=run_id: server.status(r) in FINISHED, timeout=60)
        milestones = [server.run_milestones(run_id) for run_id in run_ids]
    session = LatencySession(idle_cpu_percent=idle, loaded_seconds=loaded, run_cpu=run_cpu)
    for run in milestones:
        session.queued_to_started.append(run["started"] - run["created"])
        session.created_to_launched.append(run["launched"] - run["created"])
        session.launched_to_process.append(run["process"] - run["launched"])
        session.process_to_started.append(run["started"] - run["process"])
        session.started_to_finished.append(run["finished"] - run["started"])
    for event in events:
        if event.action == AuditAction.APPROVAL_RECORD and (event.after or {}).get("decision") == Decision.APPROVE:
            deployed_at = _deployed_after(events, event)
            session.approval_recorded_to_deployed.append((deployed_at - _at(event)).total_seconds())
            session.approval_launched_to_deployed.append((deployed_at - launches[("approve", event.version)]).total_seconds())
        elif event.action == AuditAction.VERSION_ROLLBACK:
            deployed_at = _deployed_after(events, event)
            session.rollback_recorded_to_deployed.append((deployed_at - _at(event)).total_seconds())
            session.rollback_launched_to_deployed.append((deployed_at - launches[("rollback", event.version)]).total_seconds())
    registered = {e.version: _at(e) for e in events if e.action == AuditAction.VERSION_REGISTER}
    shadowed = {}
    for event in events:
        if event.action == AuditAction.CHECK_RECORD and (event.after or {}).get("check") == "shadow_evaluation":
            shadowed.setdefault(event.version, _at(event))
    session.registration_to_awaiting = [(shadowed[v] - registered[v]).total_seconds() for v in sorted(shadowed)]
    return session


def _settled(server: DagsterDevServer) -> float:
    """Once no run is in progress and the code server reaped every run's process: its children's CPU seconds.

    A reviewer decides seconds after a version awaits a decision, not while the
    shadow evaluation's process is still exiting: waiting for that keeps its CPU
    out of the decision run's.
    """
    server.wait_for("every run to finish", lambda: all(run["status"] in FINISHED for run in server.runs()), timeout=300)

    server.wait_for("the code server to reap every run's process", lambda: runs_in_flight(server.pid) == 0, timeout=120)
    return code_server_children_cpu_seconds(server.pid)


def _run_cpu(server: DagsterDevServer, run_id: str, before: float) -> float:
    """CPU seconds of the process that ran ``run_id``: what its parent, the code server, gained once it reaped it."""
    server.wait_for(f"run {run_id} to finish", lambda: server.status(run_id) in FINISHED, timeout=60)
    server.wait_for(f"the process of run {run_id} to be reaped", lambda: runs_in_flight(server.pid) == 0, timeout=120)
    return code_server_children_cpu_seconds(server.pid) - before


def summary_rows(sessions: Sequence[LatencySession]) -> list[list[str]]:
    """One row per measure: median, max and every value, over all sessions."""
    measures = {
        "approval recorded to redeploy recorded": "approval_recorded_to_deployed",
        "rollback recorded to redeploy recorded": "rollback_recorded_to_deployed",
        "approval launched to redeploy recorded": "approval_launched_to_deployed",
        "rollback launched to redeploy recorded": "rollback_launched_to_deployed",
        "  of which: run created to run started (approval and rollback runs)": "queued_to_started",
        "    run created to launched (the run queue, if any)": "created_to_launched",
        "    launched to its process up (Python, Dagster, the instance)": "launched_to_process",
        "    process up to run started (the code location loaded)": "process_to_started",
        "  of which: run started to run finished": "started_to_finished",
        "CPU seconds of the run's process (approval and rollback runs)": "run_cpu",
        "registration to awaiting a decision": "registration_to_awaiting",
    }
    rows = []
    for label, attribute in measures.items():
        values = [value for session in sessions for value in getattr(session, attribute)]
        rows.append([label, f"{statistics.median(values):.1f}", f"{max(values):.1f}", str(len(values)),
                     " ".join(f"{v:.1f}" for v in values)])
    loaded = [s.loaded_seconds for s in sessions]
    rows.append(["dg dev start to code location loaded", f"{statistics.median(loaded):.1f}", f"{max(loaded):.1f}",
                 str(len(loaded)), " ".join(f"{v:.1f}" for v in loaded)])
    return rows

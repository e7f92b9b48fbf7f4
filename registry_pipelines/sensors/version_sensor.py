"""The catalog as Dagster sees it: each version a partition, each recorded fact an asset event.

Unlike the lifecycle sensors this one launches nothing. Per tick it reads the
model's new audit events and one ``show_versions`` snapshot of the versions
they name, and returns the partitions to add (or to move in and out of the
"awaiting a decision" and "may return to Production" lists), a materialization
of each changed version's partition, and an asset check evaluation for every
check result recorded, from a Dagster run or the CLI alike. Started on an
existing catalog it works through the history 500 events per tick, so every
version gets its partition.
"""

from __future__ import annotations

from dagster import (
    DefaultSensorStatus,
    JobDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from registry_core import AuditAction, AuditEntry

from ..assets.model_version import recorded_outside_dagster, version_materialization
from ..model_pipeline import ModelPipeline
from ..partitions import VersionPartitions, partition_requests
from ..resources import RegistryResource
from .catalog_sensor import BATCH_SIZE, read_cursor

__all__ = ["build_version_sensor"]



_WHAT = {
    AuditAction.VERSION_REGISTER: lambda e: f"registered by {e.actor}",
    AuditAction.VERSION_TRANSITION: lambda e: f"moved to {(e.after or {}).get('stage')} by {e.actor}",
    AuditAction.VERSION_PROMOTE: lambda e: f"promoted to Production by {e.actor}",
    AuditAction.VERSION_ROLLBACK: lambda e: f"rolled back into Production by {e.actor}: {(e.after or {}).get('reason')}",
    AuditAction.APPROVAL_RECORD: lambda e: f"{(e.after or {}).get('decision')} by {e.actor}",
    AuditAction.CHECK_RECORD: lambda e: f"check {(e.after or {}).get('check')} recorded",
    AuditAction.VERSION_TAGS: lambda e: f"tags changed by {e.actor}",
}


def build_version_sensor(pipeline: ModelPipeline, partitions: VersionPartitions, checks_job: JobDefinition) -> SensorDefinition:
    """Keeps the model's version partitions, their materializations and their checks in step with the catalog."""

    @sensor(
        name=pipeline.job_name("versions_to_dagster"),
        job=checks_job,
        minimum_interval_seconds=pipeline.sensor_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            f"Every {pipeline.name} version as a partition of {pipeline.prefix}/model_version, its checks and "
            "decisions as they are recorded (also from the CLI); keeps the lists of versions awaiting a decision "
            "and of versions that may return to Production."
        ),
    )
    def _versions(context: SensorEvaluationContext, registry: RegistryResource) -> SensorResult:
        after = read_cursor(context.cursor)
        with registry.open() as catalog:
            events = catalog.audit_events(pipeline.name, after_seq=after, limit=BATCH_SIZE)
            relevant = [e for e in events if e.version is not None and e.action in _WHAT]
            numbers = {e.version for e in relevant}
            # A promotion or rollback archives the previous Production version: it changed too.
            numbers |= {_previous(e) for e in relevant if _previous(e) is not None}
            snapshot = catalog.show_versions(pipeline.name, numbers) if numbers else {}
        if not events:
            return SensorResult(skip_reason=f"no new {pipeline.name} events after #{after}")
        what: dict[int, list[str]] = {}
        # Results recorded outside Dagster: one run per version re-reads them into its checks. (Reporting them
        # without a run is not an option: Dagster keeps one run-less evaluation per check and partition.)
        elsewhere: dict[int, dict[str, int]] = {}
        for event in relevant:
            what.setdefault(event.version, []).append(_WHAT[event.action](event))
            if event.action is AuditAction.CHECK_RECORD and (name := recorded_outside_dagster(pipeline, event)):
                elsewhere.setdefault(event.version, {})[name] = event.seq
            if (previous := _previous(event)) is not None:
                what.setdefault(previous, []).append(f"archived when version {event.version} entered Production")
        materializations = [
            version_materialization(pipeline, snapshot[number], "; ".join(what[number]))
            for number in sorted(what)
            if number in snapshot
        ]
        runs = [
            RunRequest(
                run_key=f"{pipeline.prefix}-version-checks-{max(names.values())}",
                partition_key=str(number),
                tags={"registry/model": pipeline.name, "registry/version": str(number)},
            )
            for number, names in sorted(elsewhere.items())
        ]
        return SensorResult(
            cursor=str(events[-1].seq),
            dynamic_partitions_requests=partition_requests(partitions, snapshot),
            asset_events=materializations,
            run_requests=runs,
        )

    return _versions


def _previous(event: AuditEntry) -> int | None:
    if event.action not in (AuditAction.VERSION_PROMOTE, AuditAction.VERSION_ROLLBACK):
        return None
    previous = (event.before or {}).get("production")
    return int(previous) if previous is not None else None

"""The catalog as Dagster sees it: each version a partition, kept in step whoever changed it.

Per tick this sensor reads the model's new audit events and one
``show_versions`` snapshot of the versions they name, and returns the
partitions to add and to move in and out of the two pick lists ("awaiting a
decision", "may return to Production"). The runs of this code location report
the versions they change themselves (materialization, then every check
result); for a version changed outside Dagster (the CLI, the API) the sensor
launches a small run that does the same. Started on an existing catalog it
works through the history 500 events per tick, so every version gets its
partition and a materialization as it is now, and launches nothing for history.
"""

from __future__ import annotations

import json
import re

from dagster import (
    DagsterInstance,
    DefaultSensorStatus,
    JobDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from registry_core import AuditAction, AuditEntry, NotFound

from ..assets.model_version import version_materialization
from ..model_pipeline import ModelPipeline
from ..partitions import VersionPartitions, partition_requests
from ..resources import RegistryResource
from .catalog_sensor import BATCH_SIZE, read_cursor

__all__ = ["build_version_sensor"]

#: What a version's partition shows (its protected aliases included); a deployment or a description does not change it.
SHOWN = frozenset({
    AuditAction.VERSION_REGISTER, AuditAction.VERSION_ATTACH, AuditAction.VERSION_TRANSITION, AuditAction.VERSION_PROMOTE,
    AuditAction.VERSION_ROLLBACK, AuditAction.APPROVAL_RECORD, AuditAction.CHECK_RECORD, AuditAction.VERSION_TAGS,
    AuditAction.ALIAS_SET, AuditAction.ALIAS_DELETE,
})
_RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def build_version_sensor(pipeline: ModelPipeline, partitions: VersionPartitions, sync_job: JobDefinition) -> SensorDefinition:
    """Keeps the model's version partitions and pick lists in step with the catalog."""

    @sensor(
        name=pipeline.job_name("versions_to_dagster"),
        job=sync_job,
        minimum_interval_seconds=pipeline.sensor_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            f"Every {pipeline.name} version as a partition of {pipeline.prefix}/model_version (also versions "
            "registered with the CLI); keeps the lists of versions awaiting a decision and of versions that may "
            "return to Production; reports versions changed outside Dagster."
        ),
    )
    def _versions(context: SensorEvaluationContext, registry: RegistryResource) -> SensorResult:
        after, history_until = _read(context.cursor)
        with registry.open() as catalog:
            if context.cursor is None:
                newest = catalog.audit_events(pipeline.name, limit=1) if _has_model(catalog, pipeline.name) else []
                history_until = newest[-1].seq if newest else 0
            events = catalog.audit_events(pipeline.name, after_seq=after, limit=BATCH_SIZE)
            relevant = [e for e in events if e.version is not None and e.action in SHOWN]
            numbers = {e.version for e in relevant}
            # A promotion or rollback archives the previous Production version: it changed too.
            numbers |= {p for e in relevant if (p := _previous(e)) is not None}
            snapshot = catalog.show_versions(pipeline.name, numbers) if numbers else {}
        if not events:
            return SensorResult(skip_reason=f"no new {pipeline.name} events after #{after}", cursor=_cursor(after, history_until))
        cursor = _cursor(events[-1].seq, history_until)
        if events[-1].seq <= history_until:
            # The catalog's history, on a sensor's first ticks: shown as it is now, without launching anything.
            return SensorResult(
                cursor=cursor,
                dynamic_partitions_requests=partition_requests(partitions, snapshot),
                asset_events=[
                    version_materialization(pipeline, details, "as found when the sensor started")
                    for details in snapshot.values()
                ],
            )
        elsewhere: dict[int, int] = {}
        for event in relevant:
            if event.seq > history_until and not _made_by_a_run(context.instance, event):
                for number in (event.version, _previous(event)):
                    if number is not None:
                        elsewhere[number] = event.seq
        runs = [
            RunRequest(
                run_key=f"{pipeline.prefix}-version-sync-{number}-{seq}",
                partition_key=str(number),
                tags={"registry/model": pipeline.name, "registry/version": str(number), "registry/audit_seq": str(seq)},
            )
            for number, seq in sorted(elsewhere.items())
            if number in snapshot
        ]
        return SensorResult(
            cursor=cursor, dynamic_partitions_requests=partition_requests(partitions, snapshot), run_requests=runs
        )

    return _versions


def _read(cursor: str | None) -> tuple[int, int]:
    """``SEQ`` or, while working through the history found at the first tick, ``SEQ/HISTORY_HEAD``."""
    seq, _, head = (cursor or "").partition("/")
    return read_cursor(seq), read_cursor(head)


def _cursor(seq: int, history_until: int) -> str:
    return f"{seq}/{history_until}" if seq < history_until else str(seq)


def _has_model(catalog, name: str) -> bool:
    try:
        catalog.get_model(name)
    except NotFound:
        return False
    return True


def _previous(event: AuditEntry) -> int | None:
    if event.action not in (AuditAction.VERSION_PROMOTE, AuditAction.VERSION_ROLLBACK):
        return None
    previous = (event.before or {}).get("production")
    return int(previous) if previous is not None else None


def _made_by_a_run(instance: DagsterInstance, event: AuditEntry) -> bool:
    """Whether a run of this Dagster instance made the change (it then reported the version itself)."""
    return any(instance.get_run_by_id(run_id) is not None for run_id in set(_RUN_ID.findall(json.dumps(event.after))))

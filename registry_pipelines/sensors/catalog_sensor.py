"""Sensors driven by the catalog's audit log: the cursor is the last audit sequence number seen.

A tick reads only the model's events after the cursor (one indexed query; an
idle tick costs the same with ten or ten thousand versions), asks a reaction
what each event calls for, and launches runs keyed by the event's sequence
number, so a tick evaluated twice launches nothing twice.
"""


from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

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

from registry_core import AuditAction, AuditEntry, VersionDetails

from ..model_pipeline import ModelPipeline
from ..resources import RegistryResource

if TYPE_CHECKING:
    # Dagster does not export the type define_asset_job returns.
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

__all__ = [
    "AUDIT_SEQ_TAG",
    "VERSION_TAG",
    "EventReaction",
    "Reaction",
    "Settled",
    "catalog_event_sensor",
    "lifecycle_run",
    "read_cursor",
]

MODEL_TAG = "registry/model"
VERSION_TAG = "registry/version"
AUDIT_SEQ_TAG = "registry/audit_seq"
TRIGGER_TAG = "registry/trigger"
#: Events read per tick at most; a longer backlog is worked off over the next ticks.
BATCH_SIZE = 500

class Settled(str):
    """A note that also withdraws the run this tick was about to request for the event's version (it was done)."""


#: A run to launch, a note on why not (shown as the tick's skip reason), or nothing to say.
Reaction = RunRequest | str | None
#: A reaction reads the versions its events name from a snapshot taken once per tick (never the catalog per event),
#: and may look at Dagster's own runs through the instance.
EventReaction = Callable[[Mapping[int, VersionDetails], AuditEntry, DagsterInstance], Reaction]


def read_cursor(cursor: str | None) -> int:
    """The last audit sequence number a sensor handled; 0 before its first event."""
    if cursor is None or cursor == "":
        return 0
    if not (cursor.isascii() and cursor.isdigit()):
        raise ValueError(f"sensor cursor {cursor!r} is not an audit sequence number; reset the sensor's cursor")
    return int(cursor)


def lifecycle_run(
    pipeline: ModelPipeline, step: str, job_name: str, op_name: str, event: AuditEntry, config: dict[str, Any]
) -> RunRequest:
    """A run of one lifecycle step for the event's version, keyed by the event so it is launched once."""
    return RunRequest(
        run_key=f"{pipeline.prefix}-{step}-{event.seq}",
        job_name=job_name,
        run_config={"ops": {op_name: {"config": config}}},
        tags={
            MODEL_TAG: pipeline.name,
            VERSION_TAG: str(event.version),
            AUDIT_SEQ_TAG: str(event.seq),
            TRIGGER_TAG: event.action.value,
        },
    )


def catalog_event_sensor(
    *,
    name: str,
    model: str,
    job: "JobDefinition | UnresolvedAssetJobDefinition",
    react: EventReaction,
    actions: frozenset[AuditAction],
    description: str,
    minimum_interval_seconds: int,
    batch_size: int = BATCH_SIZE,
) -> SensorDefinition:
    """A sensor that runs ``react`` on each new audit event of ``model`` whose action is in ``actions``; enabled by default.

    A tick reads the new events and, when any of them matter, the versions they
    name, in a bounded number of statements whatever the backlog.
    """

    @sensor(
        name=name,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description=description,
    )
    def _catalog_sensor(context: SensorEvaluationContext, registry: RegistryResource) -> SensorResult:
        after = read_cursor(context.cursor)
        # One run per version per tick: a later event about the same version replaces an earlier one's request.
        requests: dict[str, RunRequest] = {}
        notes: dict[str, None] = {}  # ordered, without repeats
        with registry.open() as catalog:
            events = catalog.audit_events(model, after_seq=after, limit=batch_size)
            relevant = [event for event in events if event.action in actions]
            numbers = {event.version for event in relevant if event.version is not None}
            snapshot = catalog.show_versions(model, numbers) if numbers else {}
            for event in relevant:
                if event.version is not None and event.version not in snapshot:
                    notes[f"version {event.version} was deleted since"] = None
                    continue
                reaction = react(snapshot, event, context.instance)
                if isinstance(reaction, RunRequest):
                    key = reaction.tags.get(VERSION_TAG, reaction.run_key or "")
                    requests.pop(key, None)
                    requests[key] = reaction
                elif reaction:
                    if isinstance(reaction, Settled):
                        requests.pop(str(event.version), None)
                    notes[reaction] = None
        if not events:
            return SensorResult(skip_reason=f"no new {model} events after #{after}")
        cursor = str(events[-1].seq)
        if requests:
            if notes:
                context.log.info(_listed(notes))
            return SensorResult(run_requests=list(requests.values()), cursor=cursor)
        summary = f"{len(events)} new {model} event(s) up to #{cursor}, none calls for a run"
        return SensorResult(skip_reason=f"{summary}; {_listed(notes)}" if notes else summary, cursor=cursor)

    return _catalog_sensor


def _listed(notes: dict[str, None], shown: int = 5) -> str:
    """The first few notes; a replayed history can produce hundreds."""
    more = f" (and {len(notes) - shown} more)" if len(notes) > shown else ""
    return "; ".join(list(notes)[:shown]) + more

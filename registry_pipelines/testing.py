"""The lifecycle in one process: jobs executed and sensors ticked for real, against a real Dagster instance.

What the Dagster daemon does between ticks and runs, done by hand and in
order, so tests, the demo and the benchmark drive the same definitions
``dagster dev`` loads, deterministically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AddDynamicPartitionsRequest,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    RunConfig,
    RunRequest,
    SensorResult,
    build_sensor_context,
)

__all__ = ["InProcessLifecycle", "TickOutcome", "failure_message"]


@dataclass
class TickOutcome:
    """One sensor tick: what it asked for, and the runs that followed."""

    sensor: str
    run_requests: list[RunRequest]
    skip_reason: str | None
    cursor: str | None
    runs: list[ExecuteInProcessResult] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return all(run.success for run in self.runs)


class InProcessLifecycle:
    """Execute jobs and tick sensors of ``defs`` against ``instance``; each sensor keeps its cursor between ticks."""

    def __init__(self, defs: Definitions, instance: DagsterInstance, *, log_level: str | None = None) -> None:
        self.defs = defs
        self.instance = instance
        self.log_level = log_level
        self.cursors: dict[str, str | None] = {}
        self._launched: set[str] = set()

    def run(
        self,
        job_name: str,
        run_config: RunConfig | Mapping[str, Any] | None = None,
        *,
        tags: Mapping[str, str] | None = None,
        partition_key: str | None = None,
    ) -> ExecuteInProcessResult:
        """Execute a job (of one partition, for a partitioned job); a failing run is returned, not raised."""
        config = run_config.to_config_dict() if isinstance(run_config, RunConfig) else dict(run_config or {})
        if self.log_level and not config.get("loggers"):
            config["loggers"] = {"console": {"config": {"log_level": self.log_level}}}
        return self.defs.resolve_job_def(job_name).execute_in_process(
            run_config=config, instance=self.instance, tags=dict(tags or {}), raise_on_error=False,
            partition_key=partition_key,
        )

    def launch(self, launch: Any) -> ExecuteInProcessResult:
        """Execute a :class:`~registry_pipelines.jobs.Launch` (job, partition, config, tags) as the UI would launch it."""
        return self.run(launch.job_name, launch.run_config, tags=launch.tags, partition_key=launch.partition_key)

    def partition_keys(self, partitions_def_name: str) -> list[str]:
        return list(self.instance.get_dynamic_partitions(partitions_def_name))

    def evaluate(self, sensor_name: str) -> SensorResult:
        """One tick of a sensor, without launching anything; advances its cursor."""
        sensor = self.defs.resolve_sensor_def(sensor_name)
        context = build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(sensor_name),
            resources=self.defs.resources,
            definitions=self.defs,
            sensor_name=sensor_name,
        )
        result = sensor(context)
        if not isinstance(result, SensorResult):
            raise TypeError(f"sensor {sensor_name} returned {type(result).__name__}, expected a SensorResult")
        if result.cursor is not None:
            self.cursors[sensor_name] = result.cursor
        # What the daemon does with a tick's asset events and partition requests, in the same order.
        for event in result.asset_events or []:
            self.instance.report_runless_asset_event(event)
        for request in result.dynamic_partitions_requests or []:
            existing = set(self.instance.get_dynamic_partitions(request.partitions_def_name))
            if isinstance(request, AddDynamicPartitionsRequest):
                new = [key for key in request.partition_keys if key not in existing]
                if new:
                    self.instance.add_dynamic_partitions(request.partitions_def_name, new)
            else:
                for key in request.partition_keys:
                    if key in existing:
                        self.instance.delete_dynamic_partition(request.partitions_def_name, key)
        return result

    def tick(self, sensor_name: str) -> TickOutcome:
        """One tick, then each requested run not launched before (by run key), in order, as the daemon would."""
        result = self.evaluate(sensor_name)
        sensor = self.defs.resolve_sensor_def(sensor_name)
        outcome = TickOutcome(
            sensor=sensor_name,
            run_requests=list(result.run_requests or []),
            skip_reason=result.skip_reason.skip_message if result.skip_reason else None,
            cursor=self.cursors.get(sensor_name),
        )
        for request in outcome.run_requests:
            if request.run_key is not None:
                if request.run_key in self._launched:
                    continue
                self._launched.add(request.run_key)
            tags = {**request.tags, "dagster/sensor_name": sensor_name}
            if request.run_key is not None:
                tags["dagster/run_key"] = request.run_key
            outcome.runs.append(
                self.run(request.job_name or sensor.job_name, request.run_config, tags=tags, partition_key=request.partition_key)
            )
        return outcome


def failure_message(result: ExecuteInProcessResult) -> str | None:
    """Why a run failed, as its page in the Dagster UI shows it (the failing step's description), or None."""
    for event in result.all_events:
        if event.event_type is DagsterEventType.STEP_FAILURE:
            data = event.step_failure_data
            if data.user_failure_data is not None and data.user_failure_data.description:
                return data.user_failure_data.description
            if data.error is not None:
                return data.error.message.strip()
    return None

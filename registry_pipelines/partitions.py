"""A model's versions as Dagster dynamic partitions, and the two lists of versions people pick from.

Every version number is a key of the model's ``versions`` partitions (the
version asset and its checks are partitioned by it). Two smaller lists are
kept beside it so that the Launchpad's partition picker offers only what makes
sense: versions **awaiting a decision** (the approve and reject jobs) and
versions that were in Production and may return there (the rollback job).
The catalog sensor keeps all three in step with the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagster import AddDynamicPartitionsRequest, DeleteDynamicPartitionsRequest, DynamicPartitionsDefinition

from registry_core import Decision, GateKind, Stage, VersionDetails

from .model_pipeline import SHADOW_CHECK, ModelPipeline

__all__ = ["VersionPartitions", "awaits_decision", "may_return_to_production", "partition_requests"]


@dataclass(frozen=True)
class VersionPartitions:
    """The three dynamic partitions definitions of one model."""

    versions: DynamicPartitionsDefinition
    awaiting_decision: DynamicPartitionsDefinition
    rollback_targets: DynamicPartitionsDefinition

    @classmethod
    def of(cls, pipeline: ModelPipeline) -> VersionPartitions:
        return cls(
            versions=DynamicPartitionsDefinition(name=f"{pipeline.prefix}_versions"),
            awaiting_decision=DynamicPartitionsDefinition(name=f"{pipeline.prefix}_awaiting_decision"),
            rollback_targets=DynamicPartitionsDefinition(name=f"{pipeline.prefix}_rollback_targets"),
        )


def held_with_warnings(passed: bool, details: dict[str, Any] | None) -> bool:
    """A check that met its gate with a regression beside it: shown as a warning (yellow), never as a pass."""
    return passed and bool((details or {}).get("warnings"))


def awaits_decision(details: VersionDetails) -> bool:
    """In Staging, shadow-evaluated, no rejection as the latest word, and nothing but approvals missing."""
    version = details.version
    if version.stage is not Stage.STAGING or not details.unmet_gates:
        return False
    if not any(check.name == SHADOW_CHECK for check in details.checks):
        return False
    if details.decisions and details.decisions[-1].decision is Decision.REJECT:
        return False
    return all(gate.kind is GateKind.APPROVAL for gate in details.unmet_gates)


def may_return_to_production(details: VersionDetails) -> bool:
    return details.version.stage is Stage.ARCHIVED and details.version.was_production


def partition_requests(
    partitions: VersionPartitions, snapshot: dict[int, VersionDetails]
) -> list[AddDynamicPartitionsRequest | DeleteDynamicPartitionsRequest]:
    """Add every version seen; put each in or take it out of the two pick lists as its state says."""
    if not snapshot:
        return []
    keys = [str(number) for number in sorted(snapshot)]
    requests: list[AddDynamicPartitionsRequest | DeleteDynamicPartitionsRequest] = [
        AddDynamicPartitionsRequest(partitions.versions.name, keys)
    ]
    for definition, belongs in (
        (partitions.awaiting_decision, awaits_decision),
        (partitions.rollback_targets, may_return_to_production),
    ):
        inside = [str(n) for n in sorted(snapshot) if belongs(snapshot[n])]
        outside = [str(n) for n in sorted(snapshot) if not belongs(snapshot[n])]
        if inside:
            requests.append(AddDynamicPartitionsRequest(definition.name, inside))
        if outside:
            requests.append(DeleteDynamicPartitionsRequest(definition.name, outside))
    return requests

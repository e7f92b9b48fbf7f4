"""Keeps the ``awaiting_decision`` asset equal to what the catalog says, across the code location's models.

A tick costs two indexed reads while nothing changes: the catalog's newest
audit sequence number and Dagster's latest materialization of the asset. Only
when the audit log has moved, or the latest materialization is not the one
this sensor wrote (reported by hand, say), does it read each model's Staging
versions and write the list again, and only if the list differs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from dagster import DefaultSensorStatus, SensorDefinition, SensorEvaluationContext, SensorResult, sensor

from ..assets.awaiting_decision import AWAITING_DECISION, LISTED, awaiting_decision_materialization, pending_versions
from ..resources import RegistryResource
from .catalog_sensor import read_cursor

__all__ = ["REVIEW_SENSOR", "build_review_sensor"]

REVIEW_SENSOR = "awaiting_decision_from_catalog"


def build_review_sensor(models: Sequence[str], minimum_interval_seconds: int) -> SensorDefinition:
    """The sensor that writes the ``awaiting_decision`` list whenever the catalog's answer changes."""

    @sensor(
        name=REVIEW_SENSOR,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            "Lists every version awaiting a decision (asset awaiting_decision, group reviews), recomputed from the "
            "catalog whenever its audit log moves; a list written by anything else is replaced at the next tick."
        ),
    )
    def _review(context: SensorEvaluationContext, registry: RegistryResource) -> SensorResult:
        seen_seq, seen_digest = _read(context.cursor)
        shown = _shown_digest(context)
        with registry.open() as catalog:
            newest = catalog.audit_events(limit=1)
            head = newest[-1].seq if newest else 0
            if head == seen_seq and shown == seen_digest and shown is not None:
                return SensorResult(skip_reason=f"the list is as of audit #{head}, the catalog's latest event")
            pending = pending_versions(catalog, models)
        origin = context.code_location_origin
        materialization = awaiting_decision_materialization(
            pending, location=origin.location_name if origin else None, audit_seq=head
        )
        digest = _digest(materialization.metadata[LISTED].value)
        if digest == shown:
            return SensorResult(skip_reason=f"no change to the list at audit #{head}", cursor=f"{head}:{digest}")
        return SensorResult(asset_events=[materialization], cursor=f"{head}:{digest}")

    return _review


def _read(cursor: str | None) -> tuple[int, str | None]:
    """``SEQ:DIGEST``: the audit event the list was computed at and the digest of the list written."""
    seq, _, digest = (cursor or "").partition(":")
    return read_cursor(seq), digest or None


def _shown_digest(context: SensorEvaluationContext) -> str | None:
    """The digest of the list Dagster shows now (its latest materialization), or None when it has none."""
    event = context.instance.get_latest_materialization_event(AWAITING_DECISION)
    materialization = event.asset_materialization if event is not None else None
    listed = materialization.metadata.get(LISTED) if materialization is not None else None
    return _digest(str(listed.value)) if listed is not None else None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]

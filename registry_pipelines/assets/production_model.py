"""The production model: one materialization per promotion or rollback, so Dagster's asset history is the serving history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetMaterialization, AssetSpec, MetadataValue

from registry_core import AuditEntry, VersionDetails
from registry_core.identities import distinct_people, shown_actor
from registry_lifecycle.evaluation import judge_gates

from ..deploy import ProductionChange
from ..metadata import decisions_markdown, metrics_table, run_link, version_metadata
from ..model_pipeline import ModelPipeline

__all__ = ["APPROVED_BY", "APPROVED_BY_ORIGINALLY", "build_production_model_spec", "production_change_materialization"]

#: The metadata key of the approval behind a promotion, and of the original approval behind a rollback.
APPROVED_BY = "approved by"
APPROVED_BY_ORIGINALLY = "originally approved by"


def build_production_model_spec(pipeline: ModelPipeline) -> AssetSpec:
    """Declared, not computed: only the registry changes Production, and the redeploy job reports each change."""
    return AssetSpec(
        key=pipeline.asset_key("production_model"),
        deps=[pipeline.asset_key("model_version")],
        group_name=pipeline.prefix,
        kinds={pipeline.trained_with.kind},
        description=(
            f"The {pipeline.name} version in Production. Materialized on every promotion and rollback (by the approval "
            "or rollback run itself, or by the redeploy job), with the version, who approved it, who changed it and "
            "why, links to roll back, its digests and model card."
        ),
    )


def production_change_materialization(
    pipeline: ModelPipeline,
    details: VersionDetails,
    change: ProductionChange,
    event: AuditEntry | None,
    *,
    change_run_id: str | None,
    links: Mapping[str, Any] | None = None,
) -> AssetMaterialization:
    version = details.version
    approved_by = list((event.after or {}).get("approved_by") or []) if event and change.change == "promotion" else []
    if not approved_by:
        # One entry per person, however many spellings they approved under (see registry_core.identities).
        approved_by = sorted(distinct_people(d.approver for d in details.decisions if d.decision == "approve"))
    # A rollback needs no new approval: who approved the restored version when it was first promoted is history,
    # and labelled so, never shown as this change's approval.
    approval_key = APPROVED_BY_ORIGINALLY if change.change == "rollback" else APPROVED_BY
    metadata = {
        "version": MetadataValue.text(str(version.version)),
        approval_key: MetadataValue.text(", ".join(map(shown_actor, approved_by)) or "–"),
        "change": MetadataValue.text(change.change),
        **(links or {}),
        "changed by": MetadataValue.text(shown_actor(change.changed_by) if change.changed_by else "–"),
        "reason": MetadataValue.text(change.reason or "–"),
        "previous production version": MetadataValue.text(
            str(change.previous_version) if change.previous_version is not None else "–"
        ),
        "audit seq": MetadataValue.text(str(change.audit_seq) if change.audit_seq is not None else "–"),
        **version_metadata(version),
        "metrics": metrics_table(version.metrics, judge_gates(pipeline.gates, version.metrics)),
        "decisions": MetadataValue.md(decisions_markdown(details)),
        "model card": MetadataValue.md(version.model_card or "_no model card_"),
    }
    link = run_link(change_run_id)
    if link is not None:
        metadata["change run"] = link
    return AssetMaterialization(
        asset_key=pipeline.asset_key("production_model"),
        description=_headline(version.uri, change, approved_by),
        metadata=metadata,
    )


def _headline(uri: str, change: ProductionChange, approved_by: list[str]) -> str:
    reason = (change.reason or "").split(" (Dagster run")[0]
    if change.change == "rollback":
        originally = f"; originally approved by {', '.join(approved_by)}" if approved_by else ""
        return f"{uri} back in Production: rollback by {shown_actor(change.changed_by or '')}, because {reason}{originally}"
    if approved_by:
        return f"{uri} in Production ({change.change}), approved by {', '.join(approved_by)}"
    return f"{uri} in Production ({change.change})"

"""Every version awaiting a decision, across the code location's models: the reviewer's list, first in the Catalog.

One unpartitioned asset, ``awaiting_decision`` (group ``reviews``), whose
latest materialization lists each version awaiting a decision: its model and
number, its checks in one line, a link to its card and links that open the
approve and reject Launchpads with it picked. It is computed from the catalog
(the Staging versions of each model, read through the ``(model, stage,
version)`` index, then judged like the approve job's partition list), never
from Dagster's own records, and the review sensor writes it again whenever the
catalog's audit log has moved or the latest materialization is not the one it
wrote, so a decision, a rollback or a hand-reported materialization is
corrected within one tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dagster import AssetKey, AssetMaterialization, AssetSpec, MetadataValue

from registry_core import NotFound, Registry, Stage, VersionDetails
from registry_core.queries import show_versions_of

from ..launch_links import decision_urls
from ..model_pipeline import dagster_prefix
from ..partitions import awaits_decision, held_with_warnings

__all__ = [
    "AWAITING_DECISION",
    "LISTED",
    "REVIEWS_GROUP",
    "PendingVersion",
    "awaiting_decision_materialization",
    "awaiting_decision_spec",
    "checks_line",
    "pending_markdown",
    "pending_versions",
]

AWAITING_DECISION = AssetKey(["awaiting_decision"])
REVIEWS_GROUP = "reviews"
#: The metadata entry holding the list; the review sensor compares it with what the catalog says now.
LISTED = "awaiting a decision"
#: Versions shown at most; a longer queue says how many more there are.
SHOWN = 50
#: Staging versions read per model at most.
_STAGING_READ = 1_000


@dataclass(frozen=True)
class PendingVersion:
    """A version awaiting a decision, with its model's name."""

    model: str
    details: VersionDetails

    @property
    def number(self) -> int:
        return self.details.version.version


def awaiting_decision_spec(models: Sequence[str]) -> AssetSpec:
    listed = ", ".join(models) or "none yet"
    return AssetSpec(
        key=AWAITING_DECISION,
        group_name=REVIEWS_GROUP,
        description=(
            f"Every version awaiting a decision, across this code location's models ({listed}): its checks in one "
            "line, a link to its card and links to approve or reject it. Kept in step with the catalog by the "
            "review sensor."
        ),
    )


def pending_versions(catalog: Registry, models: Sequence[str]) -> list[PendingVersion]:
    """The versions of ``models`` awaiting a decision, oldest first: each model's Staging versions by index, then judged."""
    staging: dict[str, list[int]] = {}
    for name in models:
        try:
            numbers = [v.version for v in catalog.list_versions(name, stage=Stage.STAGING, limit=_STAGING_READ)]
        except NotFound:
            continue  # declared in this code location, nothing registered yet
        if numbers:
            staging[name] = numbers
    shown = show_versions_of(catalog.catalog, staging) if staging else {}
    pending = [
        PendingVersion(name, details)
        for name in sorted(shown)
        for _, details in sorted(shown[name].items())
        if awaits_decision(details)
    ]
    return sorted(pending, key=lambda p: (p.details.version.stage_changed_at, p.model, p.number))


def pending_markdown(pending: Sequence[PendingVersion], location: str | None) -> str:
    """One short item per version (a list wraps in Dagster's metadata column, where long lines are cut off)."""
    if not pending:
        return "_nothing awaits a decision_"
    lines: list[str] = []
    for item in pending[:SHOWN]:
        number = item.number
        since = item.details.version.stage_changed_at.strftime("%Y-%m-%d %H:%M")
        card = f"/assets/{dagster_prefix(item.model)}/model_version?view=partitions&partition={number}"
        lines += [
            f"- **{item.model}** version {number}, in Staging since {since} UTC",
            f"  - checks: {checks_line(item.details)}",
            f"  - [Open version {number}]({card})",
        ]
        if location is not None:
            decide = [f"[{step.capitalize()} version {number}]({url})"
                      for step, url in decision_urls(location, item.model, number).items()]
            lines.append(f"  - {' · '.join(decide)}")
    if len(pending) > SHOWN:
        lines.append(f"- … and {len(pending) - SHOWN} more (the approve job's partition list has them all)")
    return "\n".join(lines)


def checks_line(details: VersionDetails) -> str:
    """``5 passed`` or ``4 passed, 1 warning (`shadow_evaluation`)``: what the reviewer must look at, named."""
    passed = [c for c in details.checks if c.passed and not held_with_warnings(c.passed, c.details)]
    warned = [c for c in details.checks if held_with_warnings(c.passed, c.details)]
    failed = [c for c in details.checks if not c.passed]
    parts = [f"{len(passed)} passed"]
    for label, found in (("warning", warned), ("failed", failed)):
        if found:
            names = ", ".join(f"`{c.name}`" for c in sorted(found, key=lambda c: c.name))
            plural = "s" if label == "warning" and len(found) > 1 else ""
            parts.append(f"**{len(found)} {label}{plural}** ({names})")
    return ", ".join(parts)


def awaiting_decision_materialization(pending: Sequence[PendingVersion], *, location: str | None, audit_seq: int) -> AssetMaterialization:
    """The list as the catalog has it at audit event ``audit_seq``."""
    count = len(pending)
    said = "nothing awaits a decision" if not count else f"{count} version{'s' if count > 1 else ''} awaiting a decision"
    return AssetMaterialization(
        asset_key=AWAITING_DECISION,
        description=f"{said} (catalog as of audit #{audit_seq})",
        metadata={
            LISTED: MetadataValue.md(pending_markdown(pending, location)),
            "versions": MetadataValue.int(count),
            "as of audit seq": MetadataValue.text(str(audit_seq)),
        },
    )

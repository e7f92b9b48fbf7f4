"""Dagster's rich metadata for what the lifecycle records: tables, markdown and links back to runs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from registry_core.estimators import describe_serialization
from registry_core.identities import shown_actor

if TYPE_CHECKING:
    from registry_core import VersionDetails, VersionInfo
    from registry_lifecycle.evaluation import GateResult, ShadowReport
    from registry_lifecycle.expectations import SuiteReport

    from .deploy import DeployOutcome
    from .model_pipeline import ModelPipeline

__all__ = [
    "deploy_outcomes_table",
    "expectations_table",
    "gates_table",
    "grouped",
    "markdown_name",
    "metrics_table",
    "model_card",
    "protected_aliases_markdown",
    "run_link",
    "shadow_table",
    "version_metadata",
]

_RUN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _table(columns: Sequence[tuple[str, str]], rows: Iterable[Mapping[str, Any]]) -> MetadataValue:
    schema = TableSchema(columns=[TableColumn(name, kind) for name, kind in columns])
    records = [TableRecord({name: _cell(row.get(name)) for name, _ in columns}) for row in rows]
    return MetadataValue.table(records=records, schema=schema)


def _cell(value: Any) -> str | int | float | bool:
    if value is None:
        return "–"
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def metrics_table(metrics: Mapping[str, float], gates: Sequence[GateResult] = ()) -> MetadataValue:
    by_metric = {result.gate.metric: result for result in gates}
    return _table(
        [("metric", "string"), ("value", "float"), ("gate", "string"), ("passed", "string")],
        (
            {
                "metric": name,
                "value": value,
                # The row names the metric already: the gate column says only what it must be, keeping the table
                # narrow enough for Dagster's metadata column at 1,440 px.
                "gate": _threshold(by_metric[name].gate) if name in by_metric else None,
                "passed": ("yes" if by_metric[name].passed else "NO") if name in by_metric else None,
            }
            for name, value in sorted(metrics.items())
        ),
    )


def _threshold(gate: Any) -> str:
    return f"{gate.operator} {gate.threshold:g}"


def gates_table(results: Sequence[GateResult]) -> MetadataValue:
    return _table(
        [("check", "string"), ("gate", "string"), ("value", "float"), ("passed", "bool")],
        ({"check": r.gate.check_name, "gate": str(r.gate), "value": r.value, "passed": r.passed} for r in results),
    )


def expectations_table(report: SuiteReport) -> MetadataValue:
    return _table(
        [("expectation", "string"), ("column", "string"), ("passed", "bool"), ("observed", "string")],
        (
            {
                "expectation": o.expectation,
                "column": o.column,
                "passed": o.success,
                "observed": o.error or ", ".join(f"{k}={v}" for k, v in o.observed.items() if v is not None),
            }
            for o in report.outcomes
        ),
    )


def shadow_table(report: ShadowReport) -> MetadataValue:
    names = sorted(set(report.candidate_metrics) | set(report.production_metrics))
    return _table(
        [("metric", "string"), ("candidate", "float"), ("production", "float"), ("delta", "float")],
        (
            {
                "metric": name,
                "candidate": report.candidate_metrics.get(name),
                "production": report.production_metrics.get(name),
                "delta": report.deltas.get(name),
            }
            for name in names
        ),
    )


def deploy_outcomes_table(outcomes: Sequence[DeployOutcome]) -> MetadataValue:
    return _table(
        [("target", "string"), ("deployed", "bool"), ("attempts", "int"), ("answer", "string")],
        ({"target": o.target, "deployed": o.succeeded, "attempts": o.attempts, "answer": o.detail} for o in outcomes),
    )


def run_link(run_id: str | None) -> MetadataValue | None:
    """A link to the Dagster run, when ``run_id`` is one (a version registered elsewhere may carry any run id)."""
    if run_id and _RUN_ID.match(run_id):
        return MetadataValue.dagster_run(run_id)
    return None


def grouped(digest: str) -> str:
    """A digest in groups of 16 characters: a 64-character token would widen the UI's metadata column past the page."""
    return " ".join(digest[i : i + 16] for i in range(0, len(digest), 16))


def version_metadata(version: VersionInfo) -> dict[str, Any]:
    """What identifies a version: number, URI, artifact and dataset digests, how it loads, the run that trained it."""
    metadata: dict[str, Any] = {
        # Text, not a number: Dagster would plot numbers, and there is no version 2.5 between 2 and 3.
        "version": MetadataValue.text(str(version.version)),
        "model uri": MetadataValue.text(version.uri),
        "stage": MetadataValue.text(str(version.stage)),
        "artifact sha256": MetadataValue.text(grouped(version.artifact_sha256)),
        "dataset digest": MetadataValue.text(grouped(version.dataset_digest) if version.dataset_digest else "–"),
        "registered by": MetadataValue.text(shown_actor(version.registered_by)),
    }
    serialization = describe_serialization(version.artifact_format) if version.artifact_kind == "sklearn" else None
    if serialization is not None:
        metadata["serialization"] = MetadataValue.text(serialization)
    link = run_link(version.run_id)
    if link is not None:
        metadata["training run"] = link
    elif version.run_id:
        metadata["training run"] = MetadataValue.text(version.run_id)
    return metadata


def markdown_name(name: str) -> str:
    """An actor's name as one Markdown code span: shown as written (never a link or emphasis), its bounds visible."""
    shown = shown_actor(name)
    fence = "`" * (max((len(run) for run in re.findall("`+", shown)), default=0) + 1)
    padded = f" {shown} " if shown[:1] in ("`", " ") or shown[-1:] in ("`", " ") else shown
    return f"{fence}{padded}{fence}"


def protected_aliases_markdown(details: VersionDetails) -> str:
    """Which protected aliases point at the version: who moved each here, the approvals that move counted, and
    the gates the version misses now, if any (serving does not follow such an alias)."""
    if not details.protected_aliases:
        return "_none_"
    lines = []
    for alias in details.protected_aliases:
        event = details.alias_events.get(alias)
        if event is None:
            lines.append(f"- **@{alias}**")
            continue
        approvers = ", ".join(map(markdown_name, event.after.get("approved_by") or ())) or "none required"
        gated = f", approvals counted: {approvers}" if event.after.get("protected") else ", set before it was protected"
        moment = event.recorded_at[:19].replace("T", " ")
        lines.append(f"- **@{alias}**: set by {markdown_name(event.actor)} at {moment} UTC{gated}")
    if details.alias_unmet_gates:
        unmet = "; ".join(gate.message for gate in details.alias_unmet_gates)
        lines.extend(
            f"- @{alias} no longer meets the gates (serving does not follow it): {unmet}"
            for alias in details.protected_aliases
        )
    return "\n".join(lines)


def decisions_markdown(details: VersionDetails) -> str:
    """One list item per decision: a list wraps in Dagster's metadata column, where a four-column table is cut off."""
    if not details.decisions:
        return "_no decisions recorded_"
    lines = []
    for d in details.decisions:
        comment = " ".join((d.comment or "").split())
        said = f": {_escaped(comment)}" if comment else ""
        lines.append(f"- {d.recorded_at:%Y-%m-%d %H:%M:%S} UTC, **{d.decision}** by {markdown_name(d.approver)}{said}")
    return "\n".join(lines)


def _escaped(text: str) -> str:
    """Text shown as written in Markdown: no link, emphasis or HTML made of it."""
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~])", r"\\\1", text)


def model_card(
    pipeline: ModelPipeline,
    *,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    dataset_digest: str,
    rows: int,
    holdout_rows: int,
    positive_rate: float | None,
    code_version: str,
) -> str:
    """The model card registered with each version (Markdown)."""
    lines = [
        f"# {pipeline.name}",
        "",
        pipeline.description or "_no description_",
        "",
        "## Training data",
        # In groups: one 71-character token would widen Dagster's metadata column past the page.
        f"- dataset digest: `{grouped(dataset_digest)}`",
        f"- rows: {rows} ({rows - holdout_rows} for training, {holdout_rows} held out)",
        f"- target: `{pipeline.target}`" + (f", positive rate {positive_rate:.2%}" if positive_rate is not None else ""),
        "",
        "## Parameters",
        *(f"- `{k}` = `{v}`" for k, v in sorted(params.items())),
        "",
        "## Holdout metrics",
        "| metric | value |",
        "|---|---|",
        *(f"| {k} | {v:.4f} |" for k, v in sorted(metrics.items())),
        "",
        "## Gates before Staging",
        *(f"- {gate}" for gate in pipeline.gates),
        f"- the `{pipeline.name}` expectation suite on the evaluation data",
        "",
        "## Before Production",
        f"- shadow evaluation against the Production version (tolerance {pipeline.shadow_tolerance:g})",
        "- the approvals the registry's policy requires",
        "",
        f"_training code version `{code_version}`_",
    ]
    return "\n".join(lines)

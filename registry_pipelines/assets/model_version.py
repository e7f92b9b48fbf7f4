"""The registered version, one Dagster partition per version number, with the registry's checks as asset checks.

Not computed by Dagster: the run that changes a version (registration,
validation, a decision, a promotion or rollback) logs a materialization of the
version's partition and then an asset check evaluation for every check result
recorded on it; for a change made outside Dagster (the CLI, the API) the
catalog sensor launches a version_sync run that does the same. So the
partition's page shows the model card, lineage, metrics, stage, approvals and
what is still needed, and its Checks tab the results the registry's gates read.
"""

import re
import warnings
from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetMaterialization,
    AssetSpec,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    asset_check,
    in_process_executor,
    job,
    op,
)

from registry_core import CheckRecord, NotFound, Registry, Stage, VersionDetails
from registry_lifecycle.evaluation import judge_gates

from ..duplicates import identical_from_tags
from ..launch_links import decision_links
from ..metadata import decisions_markdown, metrics_table, protected_aliases_markdown, version_metadata
from ..model_pipeline import DATA_QUALITY_CHECK, SHADOW_CHECK, ModelPipeline
from ..partitions import VersionPartitions, awaits_decision, held_with_warnings
from ..resources import RegistryResource

__all__ = [
    "DUPLICATE_CHECK",
    "build_model_version_checks",
    "build_model_version_spec",
    "build_version_sync_job",
    "check_evaluation",
    "dagster_check_name",
    "report_versions",
    "version_materialization",
    "version_checks",
]

#: The registry check recording that a version's bytes are identical to an earlier version's.
DUPLICATE_CHECK = "identical_artifact"
_NOT_IN_DAGSTER_NAME = re.compile(r"[^A-Za-z0-9_]")


def dagster_check_name(registry_check: str) -> str:
    """A registry check's name as a Dagster check name (``metric.roc_auc`` → ``metric_roc_auc``)."""
    return _NOT_IN_DAGSTER_NAME.sub("_", registry_check)


def version_checks(pipeline: ModelPipeline) -> dict[str, str]:
    """Registry check name → what it means, for every check shown on the version's partitions."""
    described = {DATA_QUALITY_CHECK: f"The {pipeline.name} expectation suite on the evaluation data (before Staging)."}
    described |= {gate.check_name: f"Metric gate {gate} on the evaluation data (before Staging)." for gate in pipeline.gates}
    described[SHADOW_CHECK] = (
        "Every metric scored beside the Production version on the same rows (before Production); a gated metric "
        f"worse by more than {pipeline.shadow_tolerance:g} fails, any other metric worse by that much is a warning."
    )
    described[DUPLICATE_CHECK] = (
        "Fails (without blocking) when the artifact is byte-identical to a version that was rolled back out of "
        "Production; otherwise names any identical earlier version."
    )
    return described


def build_model_version_spec(pipeline: ModelPipeline, partitions: VersionPartitions) -> AssetSpec:
    return AssetSpec(
        key=pipeline.asset_key("model_version"),
        deps=[pipeline.asset_key("candidate_model")],
        partitions_def=partitions.versions,
        group_name=pipeline.prefix,
        kinds={pipeline.trained_with.kind},
        description=(
            f"Each registered {pipeline.name} version, one partition per version number: model card, lineage, "
            "metrics, digests, stage, approvals and what it still needs. Reported by the runs that change the "
            "version (for changes made with the CLI, by a version_sync run); its checks are the registry's own results."
        ),
    )


def build_model_version_checks(pipeline: ModelPipeline, partitions: VersionPartitions) -> list[AssetChecksDefinition]:
    """One partitioned check per registry check; executing one re-reads the registry's latest result."""
    with warnings.catch_warnings():
        # Partitioned asset checks are "preview" in Dagster 1.13: a note for us, nothing a user of the UI can act on.
        warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")
        return [
            _recorded_check(pipeline, partitions, name, description) for name, description in version_checks(pipeline).items()
        ]


def _recorded_check(
    pipeline: ModelPipeline, partitions: VersionPartitions, registry_check: str, description: str
) -> AssetChecksDefinition:
    @asset_check(
        asset=pipeline.asset_key("model_version"), name=dagster_check_name(registry_check),
        partitions_def=partitions.versions, description=description,
        # The gates' checks block promotion in the registry; the duplicate check only informs.
        blocking=registry_check != DUPLICATE_CHECK,
    )
    def recorded(context: AssetCheckExecutionContext, registry: RegistryResource) -> AssetCheckResult:
        number = int(context.partition_key)
        with registry.open() as catalog:
            details = catalog.show_versions(pipeline.name, [number]).get(number)
        if details is None:
            raise NotFound(f"{pipeline.name} version {number} does not exist")
        latest = _latest(details, registry_check)
        if latest is None:
            return AssetCheckResult(
                passed=False, severity=AssetCheckSeverity.WARN,
                description=f"no {registry_check} result recorded for version {number} yet",
            )
        passed, severity = _outcome(registry_check, latest.passed, latest.details)
        return AssetCheckResult(
            passed=passed, severity=severity, description=_summary(latest.details, latest.passed),
            metadata=_check_metadata(latest.recorded_by, latest.details),
        )

    return recorded


def check_evaluation(
    pipeline: ModelPipeline, version: int, registry_check: str, *, passed: bool, details: dict[str, Any] | None,
    recorded_by: str,
) -> AssetCheckEvaluation:
    """A registry check result as the Dagster evaluation of the version partition's check (logged by the run that recorded it)."""
    shown, severity = _outcome(registry_check, passed, details)
    return AssetCheckEvaluation(
        asset_key=pipeline.asset_key("model_version"),
        check_name=dagster_check_name(registry_check),
        passed=shown,
        partition=str(version),
        severity=severity,
        description=_summary(details, passed),
        metadata=_check_metadata(recorded_by, details),
    )


def report_versions(
    context: OpExecutionContext, catalog: Registry, pipeline: ModelPipeline, what: Mapping[int, str]
) -> None:
    """Log each version's partition as the catalog has it now, then every check result recorded on it.

    In this order because Dagster judges a partition's checks against its latest materialization: a check
    logged before it would show as not evaluated.
    """
    partitions = VersionPartitions.of(pipeline).versions.name
    snapshot = catalog.show_versions(pipeline.name, what)
    missing = [str(n) for n in sorted(snapshot) if not context.instance.has_dynamic_partition(partitions, str(n))]
    if missing:
        context.instance.add_dynamic_partitions(partitions, missing)
    for number in sorted(snapshot):
        details = snapshot[number]
        links = decision_links(context, pipeline, number) if awaits_decision(details) else {}
        context.log_event(version_materialization(pipeline, details, what[number], links))
        for name in version_checks(pipeline):
            latest = _latest(details, name)
            if latest is not None:
                context.log_event(check_evaluation(
                    pipeline, number, name, passed=latest.passed, details=latest.details, recorded_by=latest.recorded_by,
                ))
        if (identical := identical_from_tags(details.version)) is not None:
            context.log_event(check_evaluation(
                pipeline, number, DUPLICATE_CHECK, passed=not identical.loud,
                details={"summary": identical.message(number), "identical_to": list(identical.versions)},
                recorded_by=details.version.registered_by,
            ))


def version_materialization(
    pipeline: ModelPipeline, details: VersionDetails, what: str, links: Mapping[str, Any] | None = None
) -> AssetMaterialization:
    """The version's partition as the catalog has it now; ``what`` says what changed."""
    version = details.version
    metadata: dict[str, Any] = {
        "awaiting": MetadataValue.text(_awaiting(details)),
        **(links or {}),
        "checks": MetadataValue.md(_checks_md(pipeline, details)),
        **version_metadata(version),
        "protected aliases": MetadataValue.md(protected_aliases_markdown(details)),
        "what changed": MetadataValue.text(what),
        "approvals": MetadataValue.md(decisions_markdown(details)),
        "still needed for Production": MetadataValue.md(
            "\n".join(f"- {gate}" for gate in details.unmet_gates) or "_nothing_"
            if details.next_stage is Stage.PRODUCTION
            else _not_next(details)
        ),
        "holdout metrics (training run)": metrics_table(version.metrics, judge_gates(pipeline.gates, version.metrics)),
    }
    evaluation = _evaluation_metrics(details)
    if evaluation:
        metadata["evaluation metrics (recent data, validation run)"] = metrics_table(
            evaluation, judge_gates(pipeline.gates, evaluation)
        )
    identical = identical_from_tags(version)
    if identical is not None and identical.versions:
        metadata["identical artifact"] = MetadataValue.text(identical.message(version.version))
    metadata["model card"] = MetadataValue.md(version.model_card or "_no model card_")
    return AssetMaterialization(
        asset_key=pipeline.asset_key("model_version"),
        partition=str(version.version),
        description=f"{version.uri}: {what} (stage {version.stage.value})",
        metadata=metadata,
    )


def _checks_md(pipeline: ModelPipeline, details: VersionDetails) -> str:
    """One list item per check: a list wraps in the metadata column, where a wide table is cut off."""
    lines = []
    for name in version_checks(pipeline):
        latest = _latest(details, name)
        if name == DUPLICATE_CHECK and (identical := identical_from_tags(details.version)) is not None:
            verdict = "**WARNING**" if identical.loud else "passed"
            lines.append(f"- **{name}**: {verdict} · {identical.message(details.version.version)}")
            continue
        if latest is None:
            lines.append(f"- **{name}**: not recorded")
            continue
        # A gate that held with a regression beside it reads as Dagster shows it: a warning, not a pass.
        verdict = ("**WARNING**" if held_with_warnings(latest.passed, latest.details) else "passed") if latest.passed else "**FAILED**"
        lines.append(f"- **{name}**: {verdict} · {_summary(latest.details, latest.passed)} (recorded by {latest.recorded_by})")
    return "\n".join(lines)


def _awaiting(details: VersionDetails) -> str:
    if awaits_decision(details):
        return "a decision: approve or reject"
    stage = details.version.stage
    if stage in (Stage.PRODUCTION, Stage.ARCHIVED):
        return f"nothing ({stage.value})"
    if not details.unmet_gates:
        return f"nothing before {details.next_stage.value if details.next_stage else 'its next stage'}"
    return "; ".join(gate.message for gate in details.unmet_gates)


def _not_next(details: VersionDetails) -> str:
    stage = details.version.stage
    if stage is Stage.NONE:
        return "_a candidate: validation first_"
    return f"_nothing: {stage.value}_"


def _latest(details: VersionDetails, name: str) -> CheckRecord | None:
    found = [check for check in details.checks if check.name == name]
    return max(found, key=lambda check: check.recorded_at) if found else None


def _evaluation_metrics(details: VersionDetails) -> dict[str, float]:
    for check in sorted(details.checks, key=lambda c: c.recorded_at, reverse=True):
        metrics = (check.details or {}).get("metrics")
        if check.name.startswith("metric.") and isinstance(metrics, dict):
            return {str(k): float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    return {}


def _outcome(name: str, passed: bool, details: dict[str, Any] | None) -> tuple[bool, AssetCheckSeverity]:
    """How Dagster shows a registry check: a result that met its gate but carries warnings is yellow, never green.

    A shadow evaluation whose ungated metric fell beyond the tolerance passes the registry's gate; the reviewer
    must still see it at a glance, so Dagster gets a failed check of warning severity (the registry's result,
    and the gate, stay passed).
    """
    if held_with_warnings(passed, details):
        return False, AssetCheckSeverity.WARN
    return passed, AssetCheckSeverity.WARN if name == DUPLICATE_CHECK else AssetCheckSeverity.ERROR


def _summary(details: dict[str, Any] | None, passed: bool) -> str:
    details = details or {}
    text = details.get("summary") or details.get("message")
    if not text and "value" in details and "threshold" in details:
        text = f"{details.get('metric')} = {details['value']} (gate {details.get('operator')} {details['threshold']})"
    text = text or ("passed" if passed else "failed")
    text = str(text)
    unsaid = [str(warning) for warning in details.get("warnings") or [] if str(warning) not in text]
    if unsaid:  # said once: a summary that already names a warning is not repeated
        text += " — WARNING: " + "; ".join(unsaid)
    return text


def _check_metadata(recorded_by: str, details: dict[str, Any] | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"recorded by": MetadataValue.text(recorded_by)}
    details = details or {}
    if details.get("warnings"):
        metadata["warnings"] = MetadataValue.md("\n".join(f"- {w}" for w in details["warnings"]))
    if details.get("candidate_metrics"):
        metadata["comparison"] = _comparison_md(details)
    if details:
        metadata["details"] = MetadataValue.json(details)
    return metadata


def _comparison_md(details: dict[str, Any]) -> MetadataValue:
    ours, theirs = details.get("candidate_metrics") or {}, details.get("production_metrics") or {}
    gated = set(details.get("gated_metrics") or [])
    lines = ["| metric | gated | this version | Production | delta |", "|---|---|---|---|---|"]
    for name in sorted(ours):
        other = theirs.get(name)
        delta = f"{ours[name] - other:+.4f}" if isinstance(other, (int, float)) else "–"
        shown = f"{other:.4f}" if isinstance(other, (int, float)) else "–"
        lines.append(f"| {name} | {'yes' if name in gated else 'no'} | {ours[name]:.4f} | {shown} | {delta} |")
    return MetadataValue.md("\n".join(lines))


def build_version_sync_job(pipeline: ModelPipeline, partitions: VersionPartitions) -> JobDefinition:
    """Reports a version changed outside Dagster (the CLI, the API): its partition and its checks, as the catalog has them."""

    @op(name=pipeline.op_name("report_version"), description="Log the version's partition and its latest check results.")
    def report_version(context: OpExecutionContext, registry: RegistryResource) -> None:
        with registry.open() as catalog:
            report_versions(context, catalog, pipeline, {int(context.partition_key): "changed outside Dagster"})

    @job(
        name=pipeline.job_name("version_sync"),
        partitions_def=partitions.versions,
        executor_def=in_process_executor,
        description=(
            f"Show a {pipeline.name} version as the catalog has it (card, stage, approvals, check results); launched "
            "by the catalog sensor when the version changed outside Dagster, or by hand."
        ),
        tags={"registry/model": pipeline.name, "registry/step": "version_sync"},
    )
    def version_sync() -> None:
        report_version()

    return version_sync

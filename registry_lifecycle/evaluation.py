"""Scoring a model, judging metric gates, and comparing a candidate with the Production version.

Pure functions of models and data: no Dagster, no catalog.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from .metric_gates import MetricGate

__all__ = [
    "GateResult",
    "ShadowReport",
    "binary_classification_metrics",
    "judge_gates",
    "shadow_compare",
]


def scores(model: Any, features: pd.DataFrame) -> Any:
    """The model's score for the positive class (probability when it has one)."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(features)[:, 1]
    if hasattr(model, "decision_function"):
        return model.decision_function(features)
    return model.predict(features)


def binary_classification_metrics(model: Any, features: pd.DataFrame, target: pd.Series) -> dict[str, float]:
    """ROC AUC, average precision, precision and recall at the model's own threshold."""
    from sklearn.metrics import average_precision_score, precision_score, recall_score, roc_auc_score

    score = scores(model, features)
    predicted = model.predict(features)
    return {
        "roc_auc": round(float(roc_auc_score(target, score)), 4),
        "average_precision": round(float(average_precision_score(target, score)), 4),
        "precision": round(float(precision_score(target, predicted, zero_division=0)), 4),
        "recall": round(float(recall_score(target, predicted, zero_division=0)), 4),
    }


@dataclass(frozen=True)
class GateResult:
    """One metric gate judged against a measured value."""

    gate: MetricGate
    value: float | None

    @property
    def passed(self) -> bool:
        return self.gate.holds(self.value)

    def describe(self) -> str:
        if self.value is None:
            return f"{self.gate.metric} was not measured (gate {self.gate})"
        verdict = "meets" if self.passed else "fails"
        return f"{self.gate.metric} = {self.value:.4f} {verdict} {self.gate}"

    def details(self) -> dict[str, Any]:
        return {
            "metric": self.gate.metric,
            "operator": self.gate.operator,
            "threshold": self.gate.threshold,
            "value": self.value,
            "passed": self.passed,
        }


def judge_gates(gates: Sequence[MetricGate], metrics: Mapping[str, float]) -> list[GateResult]:
    return [GateResult(gate, _finite(metrics.get(gate.metric))) for gate in gates]


@dataclass(frozen=True)
class ShadowReport:
    """A candidate scored beside the Production version on the same rows."""

    candidate_version: int
    production_version: int | None
    rows: int
    candidate_metrics: dict[str, float]
    production_metrics: dict[str, float] = field(default_factory=dict)
    #: Share of rows on which both versions predict the same label.
    agreement: float | None = None
    candidate_latency_ms: float = 0.0
    production_latency_ms: float | None = None
    tolerance: float = 0.0
    regressions: list[str] = field(default_factory=list)
    #: Metrics without a gate that are worse than Production's by more than the tolerance: shown, not failing.
    warnings: list[str] = field(default_factory=list)
    gated_metrics: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.regressions

    @property
    def deltas(self) -> dict[str, float]:
        return {
            name: round(value - self.production_metrics[name], 4)
            for name, value in self.candidate_metrics.items()
            if name in self.production_metrics
        }

    def summary(self) -> str:
        if self.production_version is None:
            return f"no Production version yet: nothing to compare version {self.candidate_version} against, so it passes"
        if self.regressions:
            return f"version {self.candidate_version} regresses against version {self.production_version}: " + "; ".join(
                self.regressions
            )
        deltas = ", ".join(f"{name} {delta:+.4f}" for name, delta in self.deltas.items())
        agreement = f", agreement {self.agreement:.1%}" if self.agreement is not None else ""
        summary = f"version {self.candidate_version} vs Production version {self.production_version}: {deltas}{agreement}"
        if self.warnings:
            summary += "; warning, not gated: " + "; ".join(self.warnings)
        return summary

    def details(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "candidate_version": self.candidate_version,
            "production_version": self.production_version,
            "rows": self.rows,
            "candidate_metrics": self.candidate_metrics,
            "production_metrics": self.production_metrics,
            "deltas": self.deltas,
            "agreement": self.agreement,
            "candidate_latency_ms": self.candidate_latency_ms,
            "production_latency_ms": self.production_latency_ms,
            "tolerance": self.tolerance,
            "regressions": self.regressions,
            "warnings": self.warnings,
            "gated_metrics": self.gated_metrics,
        }


def shadow_compare(
    *,
    candidate: Any,
    candidate_version: int,
    production: Any | None,
    production_version: int | None,
    features: pd.DataFrame,
    target: pd.Series,
    evaluate: Callable[[Any, pd.DataFrame, pd.Series], Mapping[str, float]],
    gates: Sequence[MetricGate],
    tolerance: float,
) -> ShadowReport:
    """Score both versions on the same rows and compare every metric: a gated one worse than Production's by more than ``tolerance`` fails, any other is a warning."""
    candidate_metrics = dict(evaluate(candidate, features, target))
    candidate_latency = _latency_ms(candidate, features)
    if production is None:
        return ShadowReport(
            candidate_version=candidate_version, production_version=None, rows=len(features),
            candidate_metrics=candidate_metrics, candidate_latency_ms=candidate_latency, tolerance=tolerance,
        )
    production_metrics = dict(evaluate(production, features, target))
    agreement = float((candidate.predict(features) == production.predict(features)).mean())
    gated = {gate.metric: gate for gate in gates}
    regressions, warnings = [], []
    for gate in gates:
        if _finite(candidate_metrics.get(gate.metric)) is None:
            regressions.append(f"{gate.metric} was not measured for the candidate")
    # Every metric computed is compared; only a gated one can fail the evaluation.
    for metric in sorted(set(candidate_metrics) & set(production_metrics)):
        ours, theirs = _finite(candidate_metrics.get(metric)), _finite(production_metrics.get(metric))
        if ours is None or theirs is None:
            continue
        higher_is_better = gated[metric].higher_is_better if metric in gated else True
        worse_by = (theirs - ours) if higher_is_better else (ours - theirs)
        if worse_by > tolerance:
            found = f"{metric} {ours:.4f} vs Production {theirs:.4f} (worse by {worse_by:.4f}, tolerance {tolerance:g})"
            (regressions if metric in gated else warnings).append(found)
    return ShadowReport(
        candidate_version=candidate_version,
        production_version=production_version,
        rows=len(features),
        candidate_metrics=candidate_metrics,
        production_metrics=production_metrics,
        agreement=round(agreement, 4),
        candidate_latency_ms=candidate_latency,
        production_latency_ms=_latency_ms(production, features),
        tolerance=tolerance,
        regressions=regressions,
        warnings=warnings,
        gated_metrics=sorted(gated),
    )


def _latency_ms(model: Any, features: pd.DataFrame, repeats: int = 3) -> float:
    """Median wall time of scoring every row once, in milliseconds."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        scores(model, features)
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 3)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None

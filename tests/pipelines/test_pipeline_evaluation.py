"""Metric gates and shadow comparison, as pure functions."""

from __future__ import annotations

import pandas as pd
import pytest

from registry_lifecycle.evaluation import binary_classification_metrics, judge_gates, shadow_compare
from registry_pipelines.fraud import load_recent_transactions, load_transactions, train_fraud_classifier
from registry_pipelines.model_pipeline import MetricGate, ModelPipeline


@pytest.mark.parametrize(
    ("gate", "value", "passed"),
    [
        (MetricGate("roc_auc", ">=", 0.8), 0.8, True),
        (MetricGate("roc_auc", ">", 0.8), 0.8, False),
        (MetricGate("latency_ms", "<=", 20), 25.0, False),
        (MetricGate("latency_ms", "<", 20), 19.9, True),
        (MetricGate("roc_auc", ">=", 0.8), None, False),
    ],
)
def test_gate_verdicts(gate, value, passed):
    [result] = judge_gates([gate], {} if value is None else {gate.metric: value})
    assert result.passed is passed


def test_gate_check_names_are_valid_registry_check_names():
    assert MetricGate("eval/roc_auc:macro", ">=", 0.5).check_name == "metric.eval_roc_auc_macro"


def test_gate_rejects_unknown_operator():
    with pytest.raises(ValueError, match="operator"):
        MetricGate("roc_auc", "=>", 0.5)


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=["is_fraud"]), frame["is_fraud"]


@pytest.fixture(scope="module")
def models():
    features, target = split(load_transactions())
    return {
        "good": train_fraud_classifier(features, target, {"n_estimators": 30, "max_depth": 5}),
        "weak": train_fraud_classifier(features, target, {"n_estimators": 1, "max_depth": 1}),
    }


def test_shadow_without_production_passes_and_says_so(models):
    features, target = split(load_recent_transactions())
    report = shadow_compare(
        candidate=models["good"], candidate_version=1, production=None, production_version=None,
        features=features, target=target, evaluate=binary_classification_metrics,
        gates=[MetricGate("roc_auc", ">=", 0.8)], tolerance=0.01,
    )
    assert report.passed
    assert report.summary() == "no Production version yet: nothing to compare version 1 against, so it passes"


def test_shadow_fails_a_regression_beyond_tolerance(models):
    features, target = split(load_recent_transactions())
    report = shadow_compare(
        candidate=models["weak"], candidate_version=2, production=models["good"], production_version=1,
        features=features, target=target, evaluate=binary_classification_metrics,
        gates=[MetricGate("roc_auc", ">=", 0.5)], tolerance=0.01,
    )
    assert not report.passed
    assert report.regressions[0].startswith("roc_auc ")
    assert report.deltas["roc_auc"] < -0.01
    assert 0 <= report.agreement <= 1


def test_shadow_passes_an_equal_candidate(models):
    features, target = split(load_recent_transactions())
    report = shadow_compare(
        candidate=models["good"], candidate_version=2, production=models["good"], production_version=1,
        features=features, target=target, evaluate=binary_classification_metrics,
        gates=[MetricGate("roc_auc", ">=", 0.5)], tolerance=0.0,
    )
    assert report.passed and report.agreement == 1.0


def test_pipeline_declaration_is_checked_when_made():
    with pytest.raises(ValueError, match="holdout_fraction"):
        ModelPipeline(name="m", load_data=load_transactions, target="is_fraud", train=train_fraud_classifier,
                      expectations=list, holdout_fraction=1.5)


class _Fixed:
    """A stand-in model whose metrics are whatever the test says."""

    def __init__(self, metrics: dict[str, float]) -> None:
        self.metrics = metrics

    def predict(self, features):
        return pd.Series(0, index=features.index)

    def predict_proba(self, features):
        import numpy as np

        return np.zeros((len(features), 2))


def test_shadow_compares_every_metric_and_warns_on_a_regression_without_a_gate():
    """recall (not gated) worse by more than the tolerance is a warning; the evaluation still passes on its gates."""
    features, target = split(load_recent_transactions().head(50))
    candidate, production = _Fixed({"roc_auc": 0.90, "recall": 0.40}), _Fixed({"roc_auc": 0.90, "recall": 0.60})
    report = shadow_compare(
        candidate=candidate, candidate_version=2, production=production, production_version=1,
        features=features, target=target, evaluate=lambda model, _f, _t: model.metrics,
        gates=[MetricGate("roc_auc", ">=", 0.8)], tolerance=0.02,
    )
    assert report.passed
    assert report.warnings == ["recall 0.4000 vs Production 0.6000 (worse by 0.2000, tolerance 0.02)"]
    assert report.deltas == {"recall": -0.2, "roc_auc": 0.0}
    assert "warning, not gated: recall" in report.summary()
    assert report.details()["gated_metrics"] == ["roc_auc"]

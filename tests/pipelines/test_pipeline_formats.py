"""Metric gates and shadow evaluation in real Dagster runs for every model format: LightGBM, XGBoost and ONNX.

Each test drives the real jobs and sensors in process against a real catalog, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance

from registry_core import GateUnmet, InvalidTransition, Registry, Stage
from registry_pipelines import HttpDeployTarget, ModelPipeline, RegistryResource, build_registry_definitions
from registry_pipelines.fraud import fraud_booster_pipeline
from registry_pipelines.model_pipeline import DATA_QUALITY_CHECK, SHADOW_CHECK
from registry_pipelines.testing import InProcessLifecycle, failure_message

from .steps import decide, retrain, tick, to_production, to_staging

BOOSTER = "fraud-detector-lightgbm"
ALL_PASSED = {DATA_QUALITY_CHECK: True, "metric.roc_auc": True, "metric.average_precision": True, SHADOW_CHECK: True}


@pytest.fixture
def registry_resource(tmp_path: Path, database_url: str) -> RegistryResource:
    """The pipelines' view of a fresh catalog, on each dialect."""
    return RegistryResource(database_url=database_url, artifact_root=str(tmp_path / "artifacts"), actor="dagster")


@pytest.fixture
def build(registry_resource: RegistryResource, instance: DagsterInstance, deploy_endpoint) -> Callable[..., tuple[ModelPipeline, InProcessLifecycle]]:
    """A pipeline built from ``make`` (a ``*_pipeline`` function) and overrides, with its lifecycle driven in process."""

    def built(make: Callable[..., ModelPipeline] = fraud_booster_pipeline, **overrides: Any):
        settings: dict[str, Any] = {
            "deploy_targets": (HttpDeployTarget(deploy_endpoint.url, timeout_seconds=5),),
            "deploy_backoff_seconds": 0.01,
            **overrides,
        }
        pipeline = make(**settings)
        definitions = build_registry_definitions(pipeline, registry=registry_resource)
        return pipeline, InProcessLifecycle(definitions, instance, log_level="CRITICAL")

    return built


def checks_of(catalog: Registry, model: str, version: int) -> dict[str, bool]:
    return {check.name: check.passed for check in catalog.show(f"models:/{model}/{version}").checks}


def check_details(catalog: Registry, model: str, version: int, name: str) -> dict[str, Any]:
    [check] = [c for c in catalog.show(f"models:/{model}/{version}").checks if c.name == name]
    return check.details


def stored_bytes(catalog: Registry, uri: str, tmp_path: Path) -> bytes:
    return catalog.download(uri, tmp_path / uri.replace("/", "_").replace(":", "")).read_bytes()


def test_a_lightgbm_lifecycle_takes_a_booster_to_production_in_its_own_format(build, catalog, deploy_endpoint, tmp_path):
    """Trained with LightGBM's wrapper, registered as its text model, gated, shadow-evaluated, approved and deployed."""
    pipeline, lifecycle = build()
    assert to_production(lifecycle, pipeline) == 1
    version = catalog.get_version(BOOSTER, 1)
    assert version.stage is Stage.PRODUCTION
    assert (version.artifact_kind, version.artifact_format["model_format"]) == ("file", "lightgbm")
    assert stored_bytes(catalog, version.uri, tmp_path).startswith(b"tree\n")  # LightGBM's text model, not a pickle
    assert version.signature["output"] == {"name": "is_fraud", "type": "int64", "classes": [0, 1]}
    assert checks_of(catalog, BOOSTER, 1) == ALL_PASSED
    gate = check_details(catalog, BOOSTER, 1, "metric.roc_auc")
    assert gate["value"] >= 0.85 and gate["metrics"]["roc_auc"] == gate["value"]
    assert [change["version"] for change in deploy_endpoint.received] == [1]


def test_a_second_booster_is_shadow_evaluated_beside_the_production_booster(build, catalog):
    """Both versions load from LightGBM's format and are scored on the same rows: deltas and agreement recorded."""
    pipeline, lifecycle = build()
    to_production(lifecycle, pipeline)
    assert to_staging(lifecycle, pipeline, n_estimators=90, num_leaves=31) == 2
    shadow = check_details(catalog, BOOSTER, 2, SHADOW_CHECK)
    assert shadow["production_version"] == 1
    assert set(shadow["deltas"]) >= {"roc_auc", "average_precision", "precision", "recall"}
    assert 0.5 < shadow["agreement"] < 1.0  # different boosters, mostly the same answers
    assert shadow["candidate_latency_ms"] > 0 and shadow["production_latency_ms"] > 0


def test_a_failing_gate_keeps_a_booster_out_of_staging_and_production(build, catalog):
    """A booster below its metric gate stays a candidate, named in the run, and the registry refuses to move it on."""
    pipeline, lifecycle = build(metric_gates={"roc_auc": (">=", 0.999)})
    assert retrain(lifecycle, pipeline).success
    [run] = tick(lifecycle, pipeline, "on_new_candidate").runs
    assert "metric.roc_auc failed: roc_auc = 0.9" in failure_message(run)
    assert catalog.get_version(BOOSTER, 1).stage is Stage.NONE
    assert checks_of(catalog, BOOSTER, 1) == {DATA_QUALITY_CHECK: True, "metric.roc_auc": False}
    with pytest.raises(GateUnmet, match="metric.roc_auc"):
        catalog.transition(BOOSTER, 1, "Staging")
    with pytest.raises(InvalidTransition, match="cannot move from None to Production"):
        catalog.promote(BOOSTER, 1)
    assert catalog.get_version(BOOSTER, 1).stage is Stage.NONE


# --- XGBoost -------------------------------------------------------------------------------------


def train_xgboost(features: pd.DataFrame, target: pd.Series, params: Mapping[str, Any]) -> Any:
    """XGBoost's scikit-learn wrapper."""
    import xgboost

    return xgboost.XGBClassifier(
        n_estimators=int(params.get("n_estimators", 60)), max_depth=int(params.get("max_depth", 3)),
        learning_rate=0.1, n_jobs=1, random_state=7,
    ).fit(features, target)


def test_an_xgboost_candidate_worse_than_the_production_booster_fails_shadow_evaluation(build, catalog, tmp_path):
    """XGBoost versions stored as UBJSON; a weak one regresses in shadow evaluation and cannot be promoted."""
    pytest.importorskip("xgboost")
    pipeline, lifecycle = build(
        name="fraud-xgboost", framework="xgboost", train=train_xgboost, params={},
        metric_gates={"roc_auc": (">=", 0.5)}, shadow_tolerance=0.0,
    )
    to_production(lifecycle, pipeline)
    first = catalog.get_version("fraud-xgboost", 1)
    assert first.artifact_format["model_format"] == "xgboost"
    assert stored_bytes(catalog, first.uri, tmp_path).startswith(b"{")  # UBJSON, not a pickle
    retrain(lifecycle, pipeline, n_estimators=1, max_depth=1)
    [run] = tick(lifecycle, pipeline, "on_new_candidate").runs
    assert "models:/fraud-xgboost/2 failed shadow evaluation: version 2 regresses against version 1: roc_auc" in (
        failure_message(run)
    )
    assert checks_of(catalog, "fraud-xgboost", 2)[SHADOW_CHECK] is False
    with pytest.raises(GateUnmet, match=SHADOW_CHECK):
        catalog.promote("fraud-xgboost", 2)


# --- ONNX ----------------------------------------------------------------------------------------


def logistic_regression_graph(features: pd.DataFrame, target: pd.Series, params: Mapping[str, Any]) -> Any:
    """A logistic regression fitted with scikit-learn, written as an ai.onnx.ml ``LinearClassifier`` graph."""
    from onnx import TensorProto, helper
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(max_iter=1000, class_weight="balanced", C=float(params.get("C", 1.0))).fit(features, target)
    weights, bias = fitted.coef_[0], float(fitted.intercept_[0])
    # softmax([-z/2, z/2]) is sigmoid(z): the regression's own probability.
    node = helper.make_node(
        "LinearClassifier", ["X"], ["label", "probabilities"], domain="ai.onnx.ml",
        coefficients=[*(-weights / 2), *(weights / 2)], intercepts=[-bias / 2, bias / 2],
        classlabels_ints=[0, 1], post_transform="SOFTMAX",
    )
    width = features.shape[1]
    graph = helper.make_graph(
        [node], "fraud_logistic_regression",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, width])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def test_an_onnx_lifecycle_gates_and_promotes_a_graph_run_by_onnx_runtime(build, catalog):
    """framework: onnx — train returns a graph; it is registered as ONNX and scored by ONNX Runtime at every gate."""
    pytest.importorskip("onnxruntime")
    pipeline, lifecycle = build(name="fraud-onnx", framework="onnx", train=logistic_regression_graph, params={})
    to_production(lifecycle, pipeline)
    version = catalog.get_version("fraud-onnx", 1)
    assert version.artifact_format["model_format"] == "onnx"
    assert checks_of(catalog, "fraud-onnx", 1) == ALL_PASSED
    assert version.metrics["roc_auc"] > 0.9  # the holdout, scored by ONNX Runtime before registration


def test_an_onnx_version_is_gated_and_shadow_evaluated_beside_a_scikit_learn_production_version(
    make_pipeline, registry_resource, instance, catalog
):
    """In the scikit-learn fraud detector's lifecycle, an ONNX version registered by hand is validated and compared."""
    pytest.importorskip("onnxruntime")
    pipeline = make_pipeline()
    lifecycle = InProcessLifecycle(build_registry_definitions(pipeline, registry=registry_resource), instance, log_level="CRITICAL")
    to_production(lifecycle, pipeline)
    frame = pipeline.load_data()
    features, target = frame.drop(columns=["is_fraud"]), frame["is_fraud"]
    forest = catalog.get_version("fraud-detector", 1)
    # Registered with its columns shuffled: the graph takes its inputs in the signature's order, not the frame's.
    shuffled = features[list(reversed(features.columns))]
    graph = logistic_regression_graph(shuffled, target, {})
    signature = {"inputs": [{"name": c, "type": "float64"} for c in shuffled.columns], "output": forest.signature["output"]}
    catalog.register("fraud-detector", graph, signature=signature)
    validated = tick(lifecycle, pipeline, "on_new_candidate")
    assert validated.runs and validated.succeeded, [failure_message(run) for run in validated.runs]
    assert catalog.get_version("fraud-detector", 2).stage is Stage.STAGING
    assert checks_of(catalog, "fraud-detector", 2) == ALL_PASSED
    shadow = check_details(catalog, "fraud-detector", 2, SHADOW_CHECK)
    assert shadow["production_version"] == 1
    assert shadow["candidate_metrics"]["roc_auc"] > shadow["production_metrics"]["roc_auc"] > 0.9
    assert 0.5 < shadow["agreement"] < 1.0
    assert decide(lifecycle, 2, pipeline=pipeline).success
    assert catalog.resolve("models:/fraud-detector/Production").version == 2


def test_a_version_whose_signature_names_columns_the_data_lacks_fails_validation_in_one_line(
    make_pipeline, registry_resource, instance, catalog
):
    """The evaluation data cannot feed the model: the run says which columns are missing; nothing is recorded."""
    pytest.importorskip("onnxruntime")
    pipeline = make_pipeline()
    lifecycle = InProcessLifecycle(build_registry_definitions(pipeline, registry=registry_resource), instance, log_level="CRITICAL")
    frame = pipeline.load_data()
    features, target = frame.drop(columns=["is_fraud"]), frame["is_fraud"]
    graph = logistic_regression_graph(features, target, {})
    names = [*features.columns[:-1], "merchant_risk"]
    catalog.register("fraud-detector", graph, signature={"inputs": [{"name": n, "type": "float64"} for n in names]})
    [run] = tick(lifecycle, pipeline, "on_new_candidate").runs
    assert failure_message(run) == (
        "cannot score models:/fraud-detector/1: the data lacks the model's input column(s) merchant_risk "
        f"(it was trained on {', '.join(names)})"
    )
    assert checks_of(catalog, "fraud-detector", 1) == {DATA_QUALITY_CHECK: True}
    assert catalog.get_version("fraud-detector", 1).stage is Stage.NONE


LYING_SIGNATURES = [
    # (case, signature given at registration, the run's failure after "cannot score models:/…/1: ")
    ("too few columns", {"inputs": [{"name": f"v{i}"} for i in range(1, 7)]},
     "the signature names 6 input columns but the model takes 7"),
    ("another number of classes", {"output": {"name": "is_fraud", "classes": ["legit", "fraud", "chargeback"]}},
     "the model has 2 classes but its signature names 3: ['legit', 'fraud', 'chargeback']"),
]


@pytest.mark.parametrize(("signature", "problem"), [c[1:] for c in LYING_SIGNATURES], ids=[c[0] for c in LYING_SIGNATURES])
def test_a_booster_whose_signature_disagrees_with_it_is_not_scored_and_nothing_is_recorded(
    build, catalog, training_data, signature, problem
):
    """A registrant's signature cannot make gates read a booster's columns or classes wrongly: the run stops in one line."""
    from registry_pipelines.fraud import train_fraud_booster

    pipeline, lifecycle = build()
    frame = training_data.frame
    booster = train_fraud_booster(frame.drop(columns=["is_fraud"]), frame["is_fraud"], {"n_estimators": 5})
    catalog.register(BOOSTER, booster, signature=signature)
    [run] = tick(lifecycle, pipeline, "on_new_candidate").runs
    assert failure_message(run) == f"cannot score models:/{BOOSTER}/1: {problem}"
    assert checks_of(catalog, BOOSTER, 1) == {}
    assert catalog.get_version(BOOSTER, 1).stage is Stage.NONE


def test_training_that_returns_another_framework_fails_the_run_and_registers_nothing(build, catalog):
    """framework: lightgbm with a scikit-learn trainer: the retrain run fails naming both; no version is registered."""
    from registry_pipelines.fraud import train_fraud_classifier

    pipeline, lifecycle = build(train=train_fraud_classifier, params={"n_estimators": 5})
    result = retrain(lifecycle, pipeline)
    assert not result.success
    assert failure_message(result) == (
        "fraud-detector-lightgbm: the training function returned a RandomForestClassifier (no LightGBM, XGBoost or "
        "ONNX model), but the lifecycle's framework is lightgbm: return a LightGBM model or declare its framework"
    )
    assert catalog.list_models() == []


def test_a_pipeline_that_scores_string_labels_gets_them_back_from_a_booster(build, catalog, training_data):
    """A booster keeps class indices only; the labels it was trained on come back from the version's signature."""
    frame = training_data.frame.assign(is_fraud=training_data.frame["is_fraud"].map({0: "legit", 1: "fraud"}))
    seen: list[set[str]] = []

    def evaluate(model: Any, features: pd.DataFrame, target: pd.Series) -> dict[str, float]:
        predicted = model.predict(features)
        seen.append(set(np.unique(predicted)))
        return {"accuracy": float((predicted == target.to_numpy()).mean())}

    pipeline, lifecycle = build(
        load_data=lambda: frame.copy(), load_evaluation_data=lambda: frame.copy(), evaluate=evaluate,
        expectations=lambda: [], metric_gates={"accuracy": (">=", 0.8)},
    )
    assert to_staging(lifecycle, pipeline) == 1
    assert catalog.get_version(BOOSTER, 1).signature["output"]["classes"] == ["fraud", "legit"]
    assert seen and all(labels <= {"legit", "fraud"} for labels in seen)
    assert check_details(catalog, BOOSTER, 1, "metric.accuracy")["value"] >= 0.8

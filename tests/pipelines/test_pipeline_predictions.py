"""The one prediction adapter gates and shadow evaluation score every format through, and the framework check at training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from registry_core.formats import live_model_file, load_model_file
from registry_lifecycle.evaluation import binary_classification_metrics
from registry_lifecycle.frameworks import FRAMEWORKS, FrameworkMismatch, framework_named, trained_model
from registry_lifecycle.predictions import CannotScore, Predictor
from registry_pipelines.fraud import (
    load_recent_transactions,
    load_transactions,
    train_fraud_booster,
    train_fraud_classifier,
)

lightgbm = pytest.importorskip("lightgbm")


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    train, recent = load_transactions(), load_recent_transactions()
    return train.drop(columns=["is_fraud"]), train["is_fraud"], recent.drop(columns=["is_fraud"]), recent["is_fraud"]


@pytest.fixture(scope="module")
def booster(data):
    features, target, _, _ = data
    return train_fraud_booster(features, target, {"n_estimators": 20})


def stored(model):
    model_format, blob, filename = live_model_file(model)
    return model_format, load_model_file(model_format, blob, label=filename)


def test_a_booster_loaded_from_its_own_format_scores_as_the_live_wrapper(data, booster):
    """Gates judge the stored text model: its metrics equal those of the LGBMClassifier that was trained."""
    _, _, recent, target = data
    model_format, loaded = stored(booster)
    predictor = Predictor.of_version(
        loaded, artifact_format={"model_format": model_format},
        signature={"inputs": [{"name": c} for c in recent.columns], "output": {"classes": [0, 1]}},
    )
    assert binary_classification_metrics(predictor, recent, target) == binary_classification_metrics(booster, recent, target)


def test_columns_come_in_the_signature_s_order_whatever_the_frame_s(data, booster):
    """A booster takes a bare array: the frame's columns reversed would be scored as other features, so they are reordered."""
    _, _, recent, _ = data
    _, loaded = stored(booster)
    predictor = Predictor(loaded, columns=list(recent.columns))
    reversed_frame = recent[list(reversed(recent.columns))]
    np.testing.assert_array_equal(predictor.predict_proba(reversed_frame), booster.predict_proba(recent))
    assert not np.array_equal(loaded.predict_proba(reversed_frame), booster.predict_proba(recent))


def test_missing_columns_are_named(data, booster):
    _, _, recent, _ = data
    _, loaded = stored(booster)
    with pytest.raises(CannotScore, match=r"^the data lacks the model's input column\(s\) amount \(it was trained on v1, "):
        Predictor(loaded, columns=list(recent.columns)).predict(recent.drop(columns=["amount"]))


def test_a_booster_s_class_indices_become_the_labels_it_was_trained_on(data):
    """Trained on 'legit'/'fraud', a stored booster answers 0/1; the predictor answers the labels, as the wrapper did."""
    features, target, recent, _ = data
    labels = target.map({0: "legit", 1: "fraud"})
    wrapper = train_fraud_booster(features, labels, {"n_estimators": 20})
    model_format, loaded = stored(wrapper)
    assert set(np.unique(loaded.predict(recent))) <= {0, 1}
    predictor = Predictor.of_version(
        loaded, artifact_format={"model_format": model_format},
        signature={"output": {"classes": list(wrapper.classes_)}},
    )
    np.testing.assert_array_equal(predictor.predict(recent), wrapper.predict(recent))
    assert list(predictor.classes_) == ["fraud", "legit"]


def test_labels_of_other_formats_are_left_as_the_model_gives_them(data):
    """A scikit-learn estimator (or an ONNX graph) answers its own labels: the signature's classes are not applied."""
    features, target, recent, _ = data
    forest = train_fraud_classifier(features, target, {"n_estimators": 5})
    predictor = Predictor.of_version(forest, artifact_format={"serializer": "skops"}, signature={"output": {"classes": ["x", "y"]}})
    np.testing.assert_array_equal(predictor.predict(recent), forest.predict(recent))


def test_a_signature_naming_another_number_of_classes_is_refused(data, booster):
    _, loaded = stored(booster)
    with pytest.raises(ValueError, match="the model has 2 classes but its signature names 3"):
        Predictor.of_version(loaded, artifact_format={"model_format": "lightgbm"}, signature={"output": {"classes": [1, 2, 3]}})


def test_a_regressor_booster_has_no_probabilities_and_is_scored_on_its_values():
    """No predict_proba on the predictor either, so scoring falls back to the values, as for a scikit-learn regressor."""
    rows = np.random.default_rng(0).normal(size=(100, 3))
    regressor = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(rows, rows[:, 0])
    _, loaded = stored(regressor)
    predictor = Predictor(loaded)
    assert not hasattr(predictor, "predict_proba")
    np.testing.assert_allclose(predictor.predict(rows), regressor.predict(rows))


def test_an_object_without_predict_is_refused():
    with pytest.raises(TypeError, match="a dict has no predict"):
        Predictor({})


@pytest.mark.parametrize(
    ("framework", "model", "message"),
    [
        ("lightgbm", "forest", "returned a RandomForestClassifier (no LightGBM, XGBoost or ONNX model), but the lifecycle's "
         "framework is lightgbm: return a LightGBM model or declare its framework"),
        ("sklearn", "booster", "returned a LGBMClassifier (LightGBM), but the lifecycle's framework is sklearn: "
         "return a scikit-learn model or declare its framework"),
        ("onnx", "booster", "returned a LGBMClassifier (LightGBM), but the lifecycle's framework is onnx"),
        ("sklearn", "text", "the training function returned a str, which has no predict()"),
    ],
)
def test_a_trained_model_of_another_framework_is_refused(data, booster, framework, model, message):
    features, target, _, _ = data
    models = {"forest": train_fraud_classifier(features, target, {"n_estimators": 2}), "booster": booster, "text": "model"}
    with pytest.raises(FrameworkMismatch) as refused:
        trained_model(FRAMEWORKS[framework], models[model])
    assert message in str(refused.value)


def test_an_unfitted_wrapper_is_refused_before_anything_is_stored():
    from registry_core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="cannot register an unfitted LGBMClassifier: fit it first"):
        trained_model(FRAMEWORKS["lightgbm"], lightgbm.LGBMClassifier())


@pytest.mark.parametrize("name", [None, "", "LightGBM", "pickle", "sklearn "])
def test_unknown_framework_names_are_refused(name):
    with pytest.raises(ValueError, match="choose one of: sklearn, lightgbm, xgboost, onnx"):
        framework_named(name)

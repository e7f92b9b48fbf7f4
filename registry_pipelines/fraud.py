"""The shipped example in Dagster: the two fraud detectors of :mod:`registry_lifecycle.fraud`, each a :class:`ModelPipeline`.

The scikit-learn forest (``fraud-detector``) and its LightGBM counterpart
(``fraud-detector-lightgbm``) learn from the same transactions and must pass the same gates.

Its data, training and expectations are re-exported here, so declarations may name them as
``registry_pipelines.fraud.<function>``.
"""

from __future__ import annotations

import os
from typing import Any

from registry_lifecycle.fraud import (
    FRAUD_BOOSTER_DESCRIPTION,
    FRAUD_BOOSTER_MODEL,
    FRAUD_BOOSTER_PARAMS,
    FRAUD_DESCRIPTION,
    FRAUD_METRIC_GATES,
    FRAUD_MODEL,
    FRAUD_PARAMS,
    FRAUD_SHADOW_TOLERANCE,
    FRAUD_TARGET,
    fraud_expectations,
    load_recent_transactions,
    load_transactions,
    synthetic_transactions,
    train_fraud_booster,
    train_fraud_classifier,
)

from .deploy import targets_from_env
from .model_pipeline import ModelPipeline

__all__ = [
    "FRAUD_BOOSTER_MODEL",
    "FRAUD_MODEL",
    "fraud_booster_pipeline",
    "fraud_detector_pipeline",
    "fraud_expectations",
    "load_recent_transactions",
    "load_transactions",
    "synthetic_transactions",
    "train_fraud_booster",
    "train_fraud_classifier",
]

#: Environment variable setting the fraud detector's sensors' minimum interval (seconds).
SENSOR_INTERVAL_ENV = "REGISTRY_SENSOR_INTERVAL_SECONDS"
#: The LightGBM example's sensors' minimum interval (seconds).
LIGHTGBM_SENSOR_INTERVAL_SECONDS = 30


def fraud_detector_pipeline(**overrides: Any) -> ModelPipeline:
    """The fraud detector's pipeline. Deploy targets come from ``FRAUD_DETECTOR_DEPLOY_URL`` / ``_COMMAND``."""
    settings: dict[str, Any] = {
        "name": FRAUD_MODEL,
        "description": FRAUD_DESCRIPTION,
        "load_data": load_transactions,
        "load_evaluation_data": load_recent_transactions,
        "target": FRAUD_TARGET,
        "train": train_fraud_classifier,
        "params": dict(FRAUD_PARAMS),
        "expectations": fraud_expectations,
        "metric_gates": dict(FRAUD_METRIC_GATES),
        "shadow_tolerance": FRAUD_SHADOW_TOLERANCE,
        "retrain_cron": "0 3 * * *",
        "deploy_targets": targets_from_env("FRAUD_DETECTOR"),
        "sensor_interval_seconds": int(os.environ.get(SENSOR_INTERVAL_ENV) or 5),
    }
    settings.update(overrides)
    return ModelPipeline(**settings)


def fraud_booster_pipeline(**overrides: Any) -> ModelPipeline:
    """The LightGBM fraud detector's pipeline. Deploy targets come from ``FRAUD_DETECTOR_LIGHTGBM_DEPLOY_URL`` / ``_COMMAND``."""
    settings: dict[str, Any] = {
        "name": FRAUD_BOOSTER_MODEL,
        "description": FRAUD_BOOSTER_DESCRIPTION,
        "framework": "lightgbm",
        "load_data": load_transactions,
        "load_evaluation_data": load_recent_transactions,
        "target": FRAUD_TARGET,
        "train": train_fraud_booster,
        "params": dict(FRAUD_BOOSTER_PARAMS),
        "expectations": fraud_expectations,
        "metric_gates": dict(FRAUD_METRIC_GATES),
        "shadow_tolerance": FRAUD_SHADOW_TOLERANCE,
        "retrain_cron": "30 3 * * *",
        "deploy_targets": targets_from_env("FRAUD_DETECTOR_LIGHTGBM"),
        # The daemon ticks the code location's sensors in turn: these tick less often, leaving the pace to the fraud detector's.
        "sensor_interval_seconds": LIGHTGBM_SENSOR_INTERVAL_SECONDS,
    }
    settings.update(overrides)
    return ModelPipeline(**settings)

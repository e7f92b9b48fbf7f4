"""The lifecycle's assets: training data (guarded by its expectation suite), candidate model, production model."""

from .awaiting_decision import AWAITING_DECISION, awaiting_decision_spec
from .candidate_model import TrainingConfig, build_candidate_model_asset
from .model_version import build_model_version_checks, build_model_version_spec, build_version_sync_job
from .production_model import build_production_model_spec, production_change_materialization
from .training_data import build_training_data_asset, build_training_data_check

__all__ = [
    "AWAITING_DECISION",
    "TrainingConfig",
    "awaiting_decision_spec",
    "build_candidate_model_asset",
    "build_model_version_checks",
    "build_model_version_spec",
    "build_production_model_spec",
    "build_version_sync_job",
    "build_training_data_asset",
    "build_training_data_check",
    "production_change_materialization",
]

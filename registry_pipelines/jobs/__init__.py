"""The lifecycle's jobs, per model: retrain, validate, shadow-evaluate, promote, redeploy, approve, reject and roll back.

Each job module also offers the run config (or, for the partitioned jobs, the
whole launch) a program (the demo, a test, a script) launches it with.
"""

from .governance import (
    DecisionConfig,
    Launch,
    RollbackConfig,
    build_decision_jobs,
    build_rollback_job,
    decision_launch,
    locked_registry,
    rollback_launch,
)
from .promotion import PromotionConfig, build_promotion_job, promotion_run_config
from .redeploy import RedeployConfig, build_redeploy_job, redeploy_run_config
from .retrain import build_retrain_job, retrain_run_config
from .shadow import build_shadow_job, shadow_run_config
from .validation import VersionConfig, build_validation_job, validation_run_config

__all__ = [
    "DecisionConfig",
    "Launch",
    "PromotionConfig",
    "RedeployConfig",
    "RollbackConfig",
    "VersionConfig",
    "build_decision_jobs",
    "build_promotion_job",
    "build_redeploy_job",
    "build_retrain_job",
    "build_rollback_job",
    "build_shadow_job",
    "build_validation_job",
    "decision_launch",
    "locked_registry",
    "promotion_run_config",
    "redeploy_run_config",
    "retrain_run_config",
    "rollback_launch",
    "shadow_run_config",
    "validation_run_config",
]

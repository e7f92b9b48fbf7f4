"""The lifecycle's jobs: per model retrain, validate, shadow-evaluate, promote and redeploy; shared approve and roll back.

Each job module also offers the run config a program (the demo, a test, a
script) launches it with.
"""

from .governance import (
    APPROVAL_JOB,
    ROLLBACK_JOB,
    ApprovalConfig,
    Decision,
    RollbackConfig,
    approval_run_config,
    build_approval_job,
    build_rollback_job,
    rollback_run_config,
)
from .promotion import PromotionConfig, build_promotion_job, promotion_run_config
from .redeploy import RedeployConfig, build_redeploy_job, redeploy_run_config
from .retrain import build_retrain_job, retrain_run_config
from .shadow import build_shadow_job, shadow_run_config
from .validation import VersionConfig, build_validation_job, validation_run_config

__all__ = [
    "APPROVAL_JOB",
    "ROLLBACK_JOB",
    "ApprovalConfig",
    "Decision",
    "PromotionConfig",
    "RedeployConfig",
    "RollbackConfig",
    "VersionConfig",
    "approval_run_config",
    "build_approval_job",
    "build_promotion_job",
    "build_redeploy_job",
    "build_retrain_job",
    "build_rollback_job",
    "build_shadow_job",
    "build_validation_job",
    "promotion_run_config",
    "redeploy_run_config",
    "retrain_run_config",
    "rollback_run_config",
    "shadow_run_config",
    "validation_run_config",
]

"""How the registry's check results look in Dagster: a warning is yellow, the gates block, each warning said once."""

from __future__ import annotations

from registry_pipelines.assets.model_version import build_model_version_checks, check_evaluation
from registry_pipelines.model_pipeline import DATA_QUALITY_CHECK, SHADOW_CHECK
from registry_pipelines.partitions import VersionPartitions

WARNING = "recall 0.4030 vs Production 0.6000 (worse by 0.1970, tolerance 0.02)"
SHADOW_DETAILS = {
    "summary": f"roc_auc 0.91 vs Production 0.90: passed; warning, not gated: {WARNING}",
    "warnings": [WARNING],
}


def test_a_shadow_evaluation_with_an_ungated_regression_is_a_yellow_warning_not_green(pipeline):
    """The registry's gate passed; Dagster shows a failed check of WARN severity, never a green pass."""
    evaluation = check_evaluation(pipeline, 2, SHADOW_CHECK, passed=True, details=SHADOW_DETAILS, recorded_by="dagster")
    assert not evaluation.passed
    assert evaluation.severity.value == "WARN"


def test_the_warning_is_said_once(pipeline):
    evaluation = check_evaluation(pipeline, 2, SHADOW_CHECK, passed=True, details=SHADOW_DETAILS, recorded_by="dagster")
    assert evaluation.description.count(WARNING) == 1


def test_a_warning_missing_from_the_summary_is_still_said(pipeline):
    details = {"summary": "passed", "warnings": [WARNING]}
    evaluation = check_evaluation(pipeline, 2, SHADOW_CHECK, passed=True, details=details, recorded_by="dagster")
    assert evaluation.description == f"passed — WARNING: {WARNING}"


def test_a_clean_pass_is_green_and_a_failed_gate_is_an_error(pipeline):
    clean = check_evaluation(pipeline, 2, SHADOW_CHECK, passed=True, details={"summary": "passed"}, recorded_by="x")
    failed = check_evaluation(pipeline, 2, DATA_QUALITY_CHECK, passed=False, details=None, recorded_by="x")
    assert clean.passed
    assert (failed.passed, failed.severity.value) == (False, "ERROR")


def test_gate_checks_are_blocking_and_the_duplicate_check_is_not(pipeline):
    checks = build_model_version_checks(pipeline, VersionPartitions.of(pipeline))
    blocking = {spec.name: spec.blocking for check in checks for spec in check.check_specs}
    assert blocking.pop("identical_artifact") is False
    assert blocking and all(blocking.values()), blocking

"""What a declared pipeline turns into: names, defaults, and several models side by side."""

from __future__ import annotations

import pytest
from dagster import AssetKey, DefaultScheduleStatus, DefaultSensorStatus

from registry_pipelines import build_model_definitions, build_registry_definitions
from registry_pipelines.definitions import defs
from registry_pipelines.fraud import fraud_detector_pipeline

SENSORS = ("on_new_candidate", "on_staging", "on_approval", "on_production_change")
JOBS = ("retrain", "validate", "shadow_evaluate", "promote", "redeploy")


def test_fraud_detector_code_location_has_the_whole_lifecycle():
    """Assets, the blocking check, every job, sensor and the schedule appear under the model's prefix."""
    repository = defs.get_repository_def()
    assert {key.to_user_string() for key in defs.resolve_all_asset_keys()} == {
        "fraud_detector/training_data", "fraud_detector/candidate_model", "fraud_detector/production_model",
    }
    [check] = repository.asset_graph.asset_check_keys
    assert (check.asset_key, check.name) == (AssetKey(["fraud_detector", "training_data"]), "expectation_suite")
    jobs = {job.name for job in repository.get_all_jobs()}
    assert {f"fraud_detector_{job}" for job in JOBS} | {"approve_model_version", "rollback_model"} <= jobs
    assert {sensor.name for sensor in repository.sensor_defs} == {f"fraud_detector_{s}" for s in SENSORS}
    assert [schedule.name for schedule in repository.schedule_defs] == ["fraud_detector_retrain_schedule"]


def test_sensors_are_running_by_default_on_a_short_interval():
    pipeline = fraud_detector_pipeline(sensor_interval_seconds=5)
    repository = build_model_definitions(pipeline).get_repository_def()
    for sensor in repository.sensor_defs:
        assert sensor.default_status is DefaultSensorStatus.RUNNING
        assert sensor.minimum_interval_seconds == 5


def test_each_sensor_targets_its_own_step():
    repository = defs.get_repository_def()
    targets = {sensor.name: sensor.job_name for sensor in repository.sensor_defs}
    assert targets == {
        "fraud_detector_on_new_candidate": "fraud_detector_validate",
        "fraud_detector_on_staging": "fraud_detector_shadow_evaluate",
        "fraud_detector_on_approval": "fraud_detector_promote",
        "fraud_detector_on_production_change": "fraud_detector_redeploy",
    }


def test_retraining_is_scheduled_daily_by_default():
    [schedule] = defs.get_repository_def().schedule_defs
    assert schedule.cron_schedule == "0 3 * * *"
    assert schedule.default_status is DefaultScheduleStatus.RUNNING


def test_two_models_live_side_by_side():
    """A second model gets its own prefixed definitions; the governance jobs are shared once."""
    both = build_registry_definitions(fraud_detector_pipeline(), fraud_detector_pipeline(name="fraud-detector-eu"))
    repository = both.get_repository_def()
    jobs = {job.name for job in repository.get_all_jobs()}
    assert {"fraud_detector_retrain", "fraud_detector_eu_retrain", "approve_model_version"} <= jobs
    assert len(repository.sensor_defs) == 8
    assert AssetKey(["fraud_detector_eu", "candidate_model"]) in both.resolve_all_asset_keys()


def test_model_names_that_collide_as_dagster_names_are_refused():
    with pytest.raises(ValueError, match="same Dagster prefix"):
        build_registry_definitions(fraud_detector_pipeline(), fraud_detector_pipeline(name="fraud_detector"))


def test_loading_definitions_imports_neither_great_expectations_nor_scikit_learn():
    """Every run process loads the code location: the heavy libraries wait until a step needs them."""
    import subprocess
    import sys

    probe = (
        "import sys, registry_pipelines.definitions; "
        "print(sorted(m for m in ('great_expectations', 'sklearn') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"

"""What a declared pipeline turns into: names, defaults, and several models side by side."""

from __future__ import annotations

import pytest
from dagster import AssetKey, DefaultScheduleStatus, DefaultSensorStatus

from registry_pipelines import build_model_definitions, build_registry_definitions
from registry_pipelines.definitions import defs
from registry_pipelines.fraud import fraud_detector_pipeline

SENSORS = ("versions_to_dagster", "on_new_candidate", "on_staging", "on_approval", "on_production_change")
JOBS = ("retrain", "validate", "shadow_evaluate", "promote", "redeploy", "approve", "reject", "rollback")


def test_fraud_detector_code_location_has_the_whole_lifecycle():
    """Assets, the blocking check, every job, sensor and the schedule appear under the model's prefix."""
    repository = defs.get_repository_def()
    assert {key.to_user_string() for key in defs.resolve_all_asset_keys()} == {
        "fraud_detector/training_data", "fraud_detector/candidate_model", "fraud_detector/model_version",
        "fraud_detector/production_model", "awaiting_decision",
    }
    checks = {(check.asset_key.to_user_string(), check.name) for check in repository.asset_graph.asset_check_keys}
    assert checks == {
        ("fraud_detector/training_data", "expectation_suite"),
        ("fraud_detector/model_version", "data_quality"),
        ("fraud_detector/model_version", "metric_roc_auc"),
        ("fraud_detector/model_version", "metric_average_precision"),
        ("fraud_detector/model_version", "shadow_evaluation"),
        ("fraud_detector/model_version", "identical_artifact"),
    }
    jobs = {job.name for job in repository.get_all_jobs()}
    assert {f"fraud_detector_{job}" for job in JOBS} <= jobs
    sensors = {f"fraud_detector_{s}" for s in SENSORS} | {"awaiting_decision_from_catalog"}
    assert {sensor.name for sensor in repository.sensor_defs} == sensors
    assert [schedule.name for schedule in repository.schedule_defs] == ["fraud_detector_retrain_schedule"]


def test_sensors_are_running_by_default_on_a_short_interval():
    pipeline = fraud_detector_pipeline(sensor_interval_seconds=5)
    repository = build_model_definitions(pipeline).get_repository_def()
    for sensor in repository.sensor_defs:
        assert sensor.default_status is DefaultSensorStatus.RUNNING
        assert sensor.minimum_interval_seconds == 5


def test_each_sensor_targets_its_own_step():
    repository = defs.get_repository_def()
    targets = {sensor.name: sensor.job_name if sensor.has_jobs else None for sensor in repository.sensor_defs}
    assert targets == {
        "awaiting_decision_from_catalog": None,  # writes the review list itself, launches nothing
        "fraud_detector_versions_to_dagster": "fraud_detector_version_sync",
        "fraud_detector_on_new_candidate": "fraud_detector_validate",
        "fraud_detector_on_staging": "fraud_detector_shadow_evaluate",
        "fraud_detector_on_approval": "fraud_detector_promote",
        "fraud_detector_on_production_change": "fraud_detector_redeploy",
    }


def test_lineage_runs_from_training_data_to_production():
    """training data -> candidate -> the registered version (partitioned by version number) -> production."""
    graph = defs.get_repository_def().asset_graph
    key = lambda name: AssetKey(["fraud_detector", name])  # noqa: E731
    assert graph.get(key("candidate_model")).parent_keys == {key("training_data")}
    assert graph.get(key("model_version")).parent_keys == {key("candidate_model")}
    assert graph.get(key("production_model")).parent_keys == {key("model_version")}
    assert graph.get(key("model_version")).partitions_def.name == "fraud_detector_versions"


def test_decision_and_rollback_jobs_pick_the_version_from_a_list_and_expose_no_resource_config():
    """Approve, reject and roll back are partitioned by the versions they can act on; only who and why is config."""
    repository = defs.get_repository_def()
    expected = {
        "fraud_detector_approve": ("fraud_detector_awaiting_decision", {"approver", "comment", "totp"}),
        "fraud_detector_reject": ("fraud_detector_awaiting_decision", {"approver", "comment", "totp"}),
        "fraud_detector_rollback": ("fraud_detector_rollback_targets", {"requested_by", "reason"}),
    }
    for name, (partitions, fields) in expected.items():
        job = repository.get_job(name)
        assert job.partitions_def.name == partitions
        schema = job.run_config_schema.config_type.fields
        [op_config] = schema["ops"].config_type.fields.values()
        assert set(op_config.config_type.fields["config"].config_type.fields) == fields
        registry = schema["resources"].config_type.fields["registry"].config_type.fields
        assert registry["config"].config_type.kind.value == "ANY"  # nothing the resource reads
    assert repository.get_job("fraud_detector_approve").tags["registry/decision"] == "approve"
    assert repository.get_job("fraud_detector_reject").tags["registry/decision"] == "reject"


def test_the_retrain_launchpad_opens_with_every_training_parameter_at_its_default():
    """The job's default run config is what the Launchpad scaffolds: each parameter filled in, to edit."""
    job = defs.get_repository_def().get_job("fraud_detector_retrain")
    params = dict(fraud_detector_pipeline().params)
    assert params
    op_config = job.run_config_schema.config_type.fields["ops"].config_type.fields["fraud_detector__candidate_model"]
    assert op_config.default_value == {"config": {"params": params}}


def test_retraining_is_scheduled_daily_by_default():
    [schedule] = defs.get_repository_def().schedule_defs
    assert schedule.cron_schedule == "0 3 * * *"
    assert schedule.default_status is DefaultScheduleStatus.RUNNING


def test_two_models_live_side_by_side():
    """A second model gets its own prefixed definitions; the governance jobs are shared once."""
    both = build_registry_definitions(fraud_detector_pipeline(), fraud_detector_pipeline(name="fraud-detector-eu"))
    repository = both.get_repository_def()
    jobs = {job.name for job in repository.get_all_jobs()}
    assert {"fraud_detector_retrain", "fraud_detector_eu_retrain", "fraud_detector_eu_approve"} <= jobs
    assert len(repository.sensor_defs) == 11  # five per model, and one review list across both
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


@pytest.mark.parametrize("catalog_from_environment", [False, True], ids=["defaults", "environment"])
def test_models_built_one_by_one_merge_on_one_registry_resource(monkeypatch, tmp_path, catalog_from_environment):
    """Several build_model_definitions (one per YAML-declared model, say) share the catalog's one resource."""
    from dagster import Definitions

    for name in ("REGISTRY_DATABASE_URL", "REGISTRY_ARTIFACT_ROOT", "REGISTRY_PIPELINE_ACTOR"):
        monkeypatch.delenv(name, raising=False)
    if catalog_from_environment:
        monkeypatch.setenv("REGISTRY_DATABASE_URL", f"sqlite:///{tmp_path / 'catalog.db'}")
        monkeypatch.setenv("REGISTRY_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    merged = Definitions.merge(
        build_model_definitions(fraud_detector_pipeline()),
        build_model_definitions(fraud_detector_pipeline(name="fraud-detector-eu")),
    )
    Definitions.validate_loadable(merged)
    assert list(merged.resources) == ["registry"]


def test_the_registry_resource_is_built_once_per_settings_and_follows_its_environment(monkeypatch, tmp_path):
    """A sensor tick initializes the location's resource: the same object while the settings stay, a new one after."""
    from dagster import build_init_resource_context

    monkeypatch.setenv("REGISTRY_DATABASE_URL", f"sqlite:///{tmp_path / 'first.db'}")
    monkeypatch.setenv("REGISTRY_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    definition = build_registry_definitions(fraud_detector_pipeline()).resources["registry"]

    def initialized():
        return definition.resource_fn(build_init_resource_context())

    first = initialized()
    assert initialized() is first
    assert first.database_url == f"sqlite:///{tmp_path / 'first.db'}"
    monkeypatch.setenv("REGISTRY_DATABASE_URL", f"sqlite:///{tmp_path / 'second.db'}")
    assert initialized().database_url == f"sqlite:///{tmp_path / 'second.db'}"

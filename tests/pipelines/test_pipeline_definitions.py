"""What a declared pipeline turns into: names, defaults, and several models side by side."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from dagster import AssetKey, DefaultScheduleStatus, DefaultSensorStatus

from registry_pipelines import build_model_definitions, build_registry_definitions
from registry_pipelines.definitions import defs
from registry_pipelines.fraud import fraud_detector_pipeline

SENSORS = ("versions_to_dagster", "on_new_candidate", "on_staging", "on_approval", "on_production_change")
JOBS = ("retrain", "validate", "shadow_evaluate", "promote", "redeploy", "approve", "reject", "rollback")


def test_the_code_location_has_each_shipped_model_s_whole_lifecycle():
    """For the fraud detector and its LightGBM counterpart: assets, checks, every job, sensor and the schedule, under each prefix."""
    repository = defs.get_repository_def()
    prefixes = ("fraud_detector", "fraud_detector_lightgbm")
    assets = ("training_data", "candidate_model", "model_version", "production_model")
    assert {key.to_user_string() for key in defs.resolve_all_asset_keys()} == {
        f"{p}/{a}" for p in prefixes for a in assets
    } | {"awaiting_decision"}
    checks = {(check.asset_key.to_user_string(), check.name) for check in repository.asset_graph.asset_check_keys}
    assert checks == {
        check
        for p in prefixes
        for check in (
            (f"{p}/training_data", "expectation_suite"),
            (f"{p}/model_version", "data_quality"),
            (f"{p}/model_version", "metric_roc_auc"),
            (f"{p}/model_version", "metric_average_precision"),
            (f"{p}/model_version", "shadow_evaluation"),
            (f"{p}/model_version", "identical_artifact"),
        )
    }
    jobs = {job.name for job in repository.get_all_jobs()}
    assert {f"{p}_{job}" for p in prefixes for job in JOBS} <= jobs
    sensors = {f"{p}_{s}" for p in prefixes for s in SENSORS} | {"awaiting_decision_from_catalog"}
    assert {sensor.name for sensor in repository.sensor_defs} == sensors
    assert {schedule.name for schedule in repository.schedule_defs} == {f"{p}_retrain_schedule" for p in prefixes}


def test_each_shipped_model_is_an_asset_group_of_its_own_with_its_framework_as_kind():
    """The UI groups each model's assets under its prefix; the candidate's kind says what it is trained with."""
    graph = defs.get_repository_def().asset_graph
    for prefix, kind in (("fraud_detector", "scikitlearn"), ("fraud_detector_lightgbm", "lightgbm")):
        for asset in ("training_data", "candidate_model", "model_version", "production_model"):
            assert graph.get(AssetKey([prefix, asset])).group_name == prefix
        assert graph.get(AssetKey([prefix, "candidate_model"])).kinds == {kind}
        assert graph.get(AssetKey([prefix, "model_version"])).partitions_def.name == f"{prefix}_versions"


def test_sensors_are_running_by_default_on_a_short_interval():
    pipeline = fraud_detector_pipeline(sensor_interval_seconds=5)
    repository = build_model_definitions(pipeline).get_repository_def()
    for sensor in repository.sensor_defs:
        assert sensor.default_status is DefaultSensorStatus.RUNNING
        assert sensor.minimum_interval_seconds == 5


def test_each_sensor_targets_its_own_step():
    repository = defs.get_repository_def()
    targets = {sensor.name: sensor.job_name if sensor.has_jobs else None for sensor in repository.sensor_defs}
    steps = {
        "versions_to_dagster": "version_sync", "on_new_candidate": "validate", "on_staging": "shadow_evaluate",
        "on_approval": "promote", "on_production_change": "redeploy",
    }
    assert targets == {
        f"{prefix}_{sensor}": f"{prefix}_{job}"
        for prefix in ("fraud_detector", "fraud_detector_lightgbm")
        for sensor, job in steps.items()
    } | {
        "awaiting_decision_from_catalog": None,  # writes the review list itself, launches nothing
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
    """Each shipped model retrains daily, the LightGBM one half an hour after the forest."""
    schedules = {schedule.name: schedule for schedule in defs.get_repository_def().schedule_defs}
    assert {name: s.cron_schedule for name, s in schedules.items()} == {
        "fraud_detector_retrain_schedule": "0 3 * * *", "fraud_detector_lightgbm_retrain_schedule": "30 3 * * *",
    }
    assert all(s.default_status is DefaultScheduleStatus.RUNNING for s in schedules.values())


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


def test_a_python_pipeline_refuses_an_unknown_framework_or_one_whose_extra_is_missing(monkeypatch):
    """The Python declaration checks the framework as the YAML component does: the choices, or the pip extra to add."""
    from registry_core import MissingExtra

    with pytest.raises(ValueError, match="^unknown framework 'torch'; choose one of: sklearn, lightgbm, xgboost, onnx$"):
        fraud_detector_pipeline(framework="torch")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as find_spec sees an environment without it
    with pytest.raises(MissingExtra, match=r"^a lifecycle with framework onnx needs the \[onnx\] extra: pip install"):
        fraud_detector_pipeline(framework="onnx")


def test_a_run_process_builds_the_same_jobs_without_the_ui_component_catalog():
    """A run's process reconstructs the defs folder only: same jobs and assets, not the component types shown in the UI."""
    import json
    import subprocess

    probe = (
        "import json, warnings; warnings.simplefilter('ignore')\n"
        "from dagster._core.definitions.reconstruct import ReconstructableRepository\n"
        "repo = ReconstructableRepository.for_module('registry_pipelines.definitions', 'defs', working_directory='.')\n"
        "built = repo.get_definition()\n"
        "print(json.dumps({'jobs': sorted(j.name for j in built.get_all_jobs()),\n"
        "                  'assets': sorted(k.to_user_string() for k in built.asset_graph.get_all_asset_keys()),\n"
        "                  'metadata': sorted(built.metadata)}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    reconstructed = json.loads(result.stdout.strip().splitlines()[-1])
    served = defs.get_repository_def()
    assert reconstructed["jobs"] == sorted(job.name for job in served.get_all_jobs())
    assert reconstructed["assets"] == sorted(key.to_user_string() for key in served.asset_graph.get_all_asset_keys())
    assert "plugin_component_types_json" in served.metadata
    assert "plugin_component_types_json" not in reconstructed["metadata"]

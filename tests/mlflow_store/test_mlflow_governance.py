"""MLflow's client, in-process, on the catalog: our gates, approvals, rollbacks and verified bytes in MLflow's words."""

from __future__ import annotations

from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from registry_core import IntegrityFailure, Stage

from .conftest import MlflowSetup
from .steps import log_and_register

MODEL = "fraud-detector"
# MLflow deprecates stages; governance keeps them.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def client() -> MlflowClient:
    return MlflowClient()


def test_log_model_registers_verified_bytes_with_lineage(mlflow_setup: MlflowSetup, fraud_data):
    """log_model(registered_model_name=...) stores the model folder in the catalog with its run and logged model."""
    log_and_register(fraud_data, seed=1)
    version = client().get_model_version(MODEL, "1")
    assert version.status == "READY"
    assert version.current_stage == "None"
    assert version.run_id and version.model_id and version.source == f"models:/{version.model_id}"
    assert version.user_id == "alice"
    with mlflow_setup.registry() as registry:
        stored = registry.get_version(MODEL, 1)
    assert stored.artifact_kind == "directory" and len(stored.artifact_sha256) == 64
    assert stored.run_id == version.run_id
    assert stored.tags["registry.mlflow.model_id"] == version.model_id


def test_second_log_model_to_the_same_name_adds_version_two(mlflow_setup: MlflowSetup, fraud_data):
    """The second registration finds the model existing (RESOURCE_ALREADY_EXISTS) and adds version 2."""
    log_and_register(fraud_data, seed=1)
    log_and_register(fraud_data, seed=2)
    with pytest.raises(MlflowException) as refused:
        client().create_registered_model(MODEL)
    assert refused.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert [str(v.version) for v in client().search_model_versions(f"name = '{MODEL}'")] == ["2", "1"]


def test_production_is_refused_naming_the_missing_approval(mlflow_setup: MlflowSetup, fraud_data):
    """Staging succeeds; Production without an approval is PERMISSION_DENIED, and the version's tags say why."""
    log_and_register(fraud_data, seed=1)
    staged = client().transition_model_version_stage(MODEL, "1", "Staging")
    assert staged.current_stage == "Staging"
    with pytest.raises(MlflowException) as refused:
        client().transition_model_version_stage(MODEL, "1", "Production", archive_existing_versions=True)
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert "approval" in refused.value.message
    tags = client().get_model_version(MODEL, "1").tags
    assert "approval" in tags["registry.unmet_gates"]
    assert client().get_model_version(MODEL, "1").current_stage == "Staging"


def test_a_protected_alias_is_permission_denied_naming_the_unmet_gates(mlflow_setup: MlflowSetup, fraud_data):
    """MLflow's alias call obeys the policy: a protected alias needs what Production needs; a free one does not."""
    log_and_register(fraud_data, seed=1)
    with mlflow_setup.registry() as registry:
        registry.set_policy(MODEL, production_checks=["shadow"], protect_aliases=["champion"])
    with pytest.raises(MlflowException) as refused:
        client().set_registered_model_alias(MODEL, "champion", "1")
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert "required check 'shadow' has not been recorded" in refused.value.message
    assert "approval" in refused.value.message
    client().set_registered_model_alias(MODEL, "challenger", "1")
    with mlflow_setup.registry("bob") as registry:
        registry.record_check(MODEL, 1, "shadow", passed=True)
        registry.approve(MODEL, 1)
    client().set_registered_model_alias(MODEL, "champion", "1")
    assert client().get_registered_model(MODEL).aliases == {"challenger": 1, "champion": 1}


def test_loading_a_protected_alias_whose_version_no_longer_meets_the_gates_is_permission_denied(
    mlflow_setup: MlflowSetup, fraud_data
):
    """MLflow deploys by alias: it resolves @champion only while `registry serve` would follow it; by number, still."""
    model = log_and_register(fraud_data, seed=1)
    with mlflow_setup.registry() as registry:
        registry.set_policy(MODEL, production_checks=["shadow"], protect_aliases=["champion"])
    with mlflow_setup.registry("bob") as registry:
        registry.record_check(MODEL, 1, "shadow", passed=True)
        registry.approve(MODEL, 1)
    client().set_registered_model_alias(MODEL, "champion", "1")
    assert str(client().get_model_version_by_alias(MODEL, "champion").version) == "1"
    with mlflow_setup.registry("bob") as registry:
        registry.record_check(MODEL, 1, "drift", passed=False)
    for resolve in (lambda: client().get_model_version_by_alias(MODEL, "champion"),
                    lambda: mlflow.sklearn.load_model(f"models:/{MODEL}@champion")):
        with pytest.raises(MlflowException) as refused:
            resolve()
        assert refused.value.error_code == "PERMISSION_DENIED"
        assert refused.value.message.startswith(
            f"the protected alias {MODEL}@champion points at version 1, which no longer meets the gates: "
            "check 'drift' failed"
        )
    by_number = mlflow.sklearn.load_model(f"models:/{MODEL}/1")
    assert np.array_equal(by_number.predict(fraud_data[0]), model.predict(fraud_data[0]))
    assert client().get_registered_model(MODEL).aliases == {"champion": 1}


def test_approved_promotion_archives_the_previous_production(mlflow_setup: MlflowSetup, fraud_data):
    """After approval by another person, Production succeeds and the previous Production version is archived."""
    with mlflow_setup.registry("risk-reviewer") as reviewer:
        for seed in (1, 2):
            log_and_register(fraud_data, seed=seed)
            version = str(seed)
            client().transition_model_version_stage(MODEL, version, "Staging")
            reviewer.approve(MODEL, seed, comment="reviewed")
            assert client().get_model_version(MODEL, version).tags["registry.approved_by"] == "risk-reviewer"
            # archive_existing_versions=False is overruled: there is only ever one Production version.
            client().transition_model_version_stage(MODEL, version, "Production", archive_existing_versions=False)
    assert client().get_model_version(MODEL, "1").current_stage == "Archived"
    assert client().get_model_version(MODEL, "2").current_stage == "Production"
    latest = {v.current_stage: str(v.version) for v in client().get_registered_model(MODEL).latest_versions}
    assert latest == {"Archived": "1", "Production": "2"}


def test_archived_to_production_is_a_rollback_with_the_tagged_reason(mlflow_setup: MlflowSetup, fraud_data):
    """Moving a formerly-Production Archived version to Production rolls back, with the reason from its tag."""
    with mlflow_setup.registry("risk-reviewer") as reviewer:
        for seed in (1, 2):
            log_and_register(fraud_data, seed=seed)
            client().transition_model_version_stage(MODEL, str(seed), "Staging")
            reviewer.approve(MODEL, seed)
            client().transition_model_version_stage(MODEL, str(seed), "Production")
    client().set_model_version_tag(MODEL, "1", "rollback_reason", "false positives doubled")
    client().transition_model_version_stage(MODEL, "1", "Production")
    with mlflow_setup.registry() as registry:
        (event,) = [e for e in registry.audit_events(MODEL) if e.action == "version.rollback"]
        assert event.version == 1 and event.after["reason"] == "false positives doubled"
        assert registry.get_version(MODEL, 2).stage is Stage.ARCHIVED


@pytest.mark.parametrize(("path", "target"), [((), "Production"), (("Archived",), "Staging"), ((), "None")])
def test_moves_outside_the_workflow_are_refused_with_the_allowed_ones(
    mlflow_setup: MlflowSetup, fraud_data, path: tuple[str, ...], target: str
):
    """A move the stage table does not allow is INVALID_PARAMETER_VALUE, naming where the version may go."""
    log_and_register(fraud_data, seed=1)
    for stage in path:
        client().transition_model_version_stage(MODEL, "1", stage)
    with pytest.raises(MlflowException) as refused:
        client().transition_model_version_stage(MODEL, "1", target)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "may move to" in refused.value.message or "final" in refused.value.message or "already" in refused.value.message


def test_rename_is_not_implemented(mlflow_setup: MlflowSetup, fraud_data):
    """Renaming answers NOT_IMPLEMENTED (HTTP 405 under a server): the name is in every audit event and URI."""
    log_and_register(fraud_data, seed=1)
    with pytest.raises(MlflowException) as refused:
        client().rename_registered_model(MODEL, "other")
    assert refused.value.error_code == "NOT_IMPLEMENTED"
    assert refused.value.get_http_status_code() == 405
    assert "versions are immutable; archive instead" in refused.value.message


def test_registry_tags_are_read_only(mlflow_setup: MlflowSetup, fraud_data):
    """Writing a registry.* tag through MLflow is refused; ordinary tags are kept and audited."""
    log_and_register(fraud_data, seed=1)
    with pytest.raises(MlflowException) as refused:
        client().set_model_version_tag(MODEL, "1", "registry.approved_by", "mallory")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    client().set_model_version_tag(MODEL, "1", "team", "risk")
    client().delete_model_version_tag(MODEL, "1", "absent")  # a missing tag is not an error, as in MLflow
    assert client().get_model_version(MODEL, "1").tags["team"] == "risk"


def test_loading_by_stage_and_alias_gives_the_same_predictions(mlflow_setup: MlflowSetup, fraud_data):
    """models:/NAME/Staging and models:/NAME@champion load the registered model, verified."""
    model = log_and_register(fraud_data, seed=3)
    client().transition_model_version_stage(MODEL, "1", "Staging")
    client().set_registered_model_alias(MODEL, "champion", "1")
    by_stage = mlflow.sklearn.load_model(f"models:/{MODEL}/Staging")
    by_alias = mlflow.sklearn.load_model(f"models:/{MODEL}@champion")
    features = fraud_data[0]
    assert np.array_equal(by_stage.predict(features), model.predict(features))
    assert np.array_equal(by_alias.predict(features), model.predict(features))
    assert client().get_model_version_by_alias(MODEL, "champion").aliases == ["champion"]


def _corrupt_the_largest_blob(root: Path) -> None:
    blobs = [p for p in root.rglob("*") if p.is_file() and p.stat().st_size > 1000]
    biggest = max(blobs, key=lambda p: p.stat().st_size)
    biggest.chmod(0o644)
    data = bytearray(biggest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    biggest.write_bytes(bytes(data))


def test_a_corrupted_blob_read_inside_the_store_is_aborted(mlflow_setup: MlflowSetup, fraud_data):
    """Copying a version whose bytes no longer match is ABORTED (409), and registers nothing."""
    log_and_register(fraud_data, seed=1)
    _corrupt_the_largest_blob(mlflow_setup.artifact_root)
    with pytest.raises(MlflowException) as refused:
        client().copy_model_version(f"models:/{MODEL}/1", "fraud-copy")
    assert refused.value.error_code == "ABORTED" and "integrity" in refused.value.message
    assert list(client().search_model_versions("name = 'fraud-copy'")) == []


def test_a_corrupted_blob_fails_the_load_with_an_integrity_error(mlflow_setup: MlflowSetup, fraud_data, tmp_path: Path):
    """Bytes changed in the store after registration make MLflow's load fail with IntegrityFailure, never load."""
    log_and_register(fraud_data, seed=1)
    _corrupt_the_largest_blob(mlflow_setup.artifact_root)
    destination = tmp_path / "loaded"
    with pytest.raises(IntegrityFailure):
        mlflow.sklearn.load_model(f"models:/{MODEL}/1", dst_path=str(destination))
    assert not any(destination.rglob("*.pkl"))


def test_every_change_is_in_the_audit_log_and_the_chain_verifies(mlflow_setup: MlflowSetup, fraud_data):
    """Registration, tags, aliases, descriptions and stage moves made through MLflow are audited as alice."""
    log_and_register(fraud_data, seed=1)
    c = client()
    c.update_registered_model(MODEL, description="fraud model")
    c.update_model_version(MODEL, "1", description="first")
    c.set_registered_model_tag(MODEL, "owner", "risk")
    c.set_registered_model_alias(MODEL, "champion", "1")
    c.transition_model_version_stage(MODEL, "1", "Staging")
    with mlflow_setup.registry() as registry:
        report = registry.verify_audit()
        events = registry.audit_events(MODEL)
    assert report.intact, report.problem
    assert [e.action.value for e in events] == [
        "model.create", "version.register", "model.description", "version.description",
        "model.tags", "alias.set", "version.transition",
    ]
    assert {e.actor for e in events} == {"alice"}


def test_version_tags_given_at_registration_are_kept(mlflow_setup: MlflowSetup, tmp_path: Path):
    """create_model_version from a local MLflow model folder keeps its tags, description and run link."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    c = client()
    c.create_registered_model(MODEL)
    version = c.create_model_version(
        MODEL, str(folder), tags={"team": "risk"}, description="from a folder", run_link="http://runs/1",
    )
    assert version.tags["team"] == "risk" and version.description == "from a folder"
    assert version.run_link == "http://runs/1" and version.source == str(folder)
    copied = c.copy_model_version(f"models:/{MODEL}/1", "fraud-copy")
    assert copied.name == "fraud-copy" and str(copied.version) == "1" and copied.tags["team"] == "risk"


def test_register_model_from_a_runs_uri_records_the_run(mlflow_setup: MlflowSetup, fraud_data):
    """mlflow.register_model('runs:/RUN/model') registers the run's logged model, with the run as lineage."""
    from .steps import PIP_REQUIREMENTS, train

    with mlflow.start_run() as run:
        logged = mlflow.sklearn.log_model(train(fraud_data, 4), name="model", serialization_format="cloudpickle",
                                          pip_requirements=PIP_REQUIREMENTS)
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL)
    assert version.run_id == run.info.run_id and version.model_id == logged.model_id
    loaded = mlflow.sklearn.load_model(f"models:/{MODEL}/{version.version}")
    assert np.array_equal(loaded.predict(fraud_data[0]), train(fraud_data, 4).predict(fraud_data[0]))


def test_register_model_from_run_artifacts_copies_them(mlflow_setup: MlflowSetup, tmp_path: Path):
    """A model folder logged as plain run artifacts is copied into the catalog's store at registration."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "weights.bin").write_bytes(b"\x00" * 2048)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), "model")
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL)
    assert version.run_id == run.info.run_id
    with mlflow_setup.registry() as registry:
        downloaded = registry.download(f"models:/{MODEL}/1", tmp_path / "copy")
    assert (downloaded / "weights.bin").read_bytes() == b"\x00" * 2048

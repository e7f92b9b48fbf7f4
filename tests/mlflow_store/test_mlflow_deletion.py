"""MLflow's delete calls on the catalog: MLflow's behaviour for what is out of service, audited; refused in service."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from registry_core.actions import AuditAction

from .conftest import MlflowSetup

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # stages are deprecated in MLflow, not here

MODEL = "fraud"


@pytest.fixture
def client(mlflow_setup: MlflowSetup, tmp_path: Path) -> MlflowClient:
    """Model fraud with versions 1 and 2 (aliased @challenger), registered from local files."""
    client = MlflowClient()
    client.create_registered_model(MODEL)
    for number in (1, 2):
        (tmp_path / f"v{number}.pkl").write_bytes(f"weights {number}".encode())
        client.create_model_version(MODEL, str(tmp_path / f"v{number}.pkl"))
    client.set_registered_model_alias(MODEL, "challenger", 2)
    return client


def refusal(call) -> MlflowException:
    with pytest.raises(MlflowException) as refused:
        call()
    return refused.value


def test_a_deleted_version_is_gone_with_its_aliases_and_audited(client: MlflowClient, mlflow_setup: MlflowSetup):
    client.delete_model_version(MODEL, 2)
    missing = refusal(lambda: client.get_model_version(MODEL, 2))
    assert missing.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_registered_model(MODEL).aliases == {}
    assert refusal(lambda: client.get_model_version_by_alias(MODEL, "challenger")).error_code == "INVALID_PARAMETER_VALUE"
    assert [v.version for v in client.search_model_versions(f"name = '{MODEL}'")] == [1]
    assert refusal(lambda: client.delete_model_version(MODEL, 2)).error_code == "RESOURCE_DOES_NOT_EXIST"
    with mlflow_setup.registry() as registry:
        event = registry.audit_events(MODEL, limit=1)[0]
        assert (event.action, event.version, event.actor) == (AuditAction.VERSION_DELETE, 2, "alice")
        assert registry.verify_audit().intact
    assert client.create_model_version(MODEL, "s3://no-such-bucket-for-registry-tests/m").version == 3


def test_what_is_gone_is_said_in_mlflows_words_first_then_the_registrys(client: MlflowClient):
    """MLflow's clients match "Registered Model with name=… not found" and "Model Version (…) not found"."""
    client.delete_model_version(MODEL, 2)
    gone = refusal(lambda: client.update_model_version(MODEL, 2, "notes"))
    assert gone.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert gone.message.startswith(f"Model Version (name={MODEL}, version=2) not found: model '{MODEL}' has no version 2")
    never = refusal(lambda: client.get_model_version(MODEL, 9))
    assert never.message.startswith(f"Model Version (name={MODEL}, version=9) not found: ")
    client.delete_model_version(MODEL, 1)
    client.delete_registered_model(MODEL)
    missing = refusal(lambda: client.delete_registered_model_tag(MODEL, "team"))
    assert missing.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert missing.message.startswith(f"Registered Model with name={MODEL} not found: model '{MODEL}' does not exist")
    assert "it was deleted" in missing.message
    of_model = refusal(lambda: client.get_model_version(MODEL, 1))
    assert of_model.message.startswith(f"Model Version (name={MODEL}, version=1) not found: model '{MODEL}' does not exist")


def test_a_missing_tag_key_is_mlflows_invalid_parameter(client: MlflowClient):
    for call in (lambda: client.delete_registered_model_tag(MODEL, None),
                 lambda: client.set_registered_model_tag(MODEL, None, "x"),
                 lambda: client.delete_model_version_tag(MODEL, 1, None)):
        refused = refusal(call)
        assert (refused.error_code, refused.message) == (
            "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'key'.")


def test_a_deleted_model_is_gone_and_its_name_can_be_created_again(client: MlflowClient, mlflow_setup: MlflowSetup):
    client.delete_registered_model(MODEL)
    assert refusal(lambda: client.get_registered_model(MODEL)).error_code == "RESOURCE_DOES_NOT_EXIST"
    assert refusal(lambda: client.get_model_version(MODEL, 1)).error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_registered_models() == [] and client.search_model_versions() == []
    assert refusal(lambda: client.delete_registered_model(MODEL)).error_code == "RESOURCE_DOES_NOT_EXIST"
    client.create_registered_model(MODEL)
    again = client.create_model_version(MODEL, "s3://no-such-bucket-for-registry-tests/m")
    assert again.version == 3, "models:/fraud/1 never names two different artifacts"
    with mlflow_setup.registry() as registry:
        actions = [e.action for e in registry.audit_events(MODEL, limit=3)]
        assert actions == [AuditAction.MODEL_DELETE, AuditAction.MODEL_CREATE, AuditAction.VERSION_REGISTER]
        assert registry.verify_audit().intact


@pytest.mark.parametrize("stage", ["Staging", "Production"])
def test_a_version_in_service_is_permission_denied(client: MlflowClient, mlflow_setup: MlflowSetup, stage: str):
    client.transition_model_version_stage(MODEL, 1, "Staging")
    if stage == "Production":
        with mlflow_setup.registry("bob") as registry:
            registry.approve(MODEL, 1)
        client.transition_model_version_stage(MODEL, 1, "Production")
    for call, what in ((lambda: client.delete_model_version(MODEL, 1), "version 1 of 'fraud'"),
                       (lambda: client.delete_registered_model(MODEL), "model 'fraud'")):
        refused = refusal(call)
        assert refused.error_code == "PERMISSION_DENIED" and refused.get_http_status_code() == 403
        assert refused.message.startswith(f"cannot delete {what}: version 1 is in {stage}")
    assert client.get_model_version(MODEL, 1).current_stage == stage


def test_a_version_behind_a_protected_alias_is_permission_denied(client: MlflowClient, mlflow_setup: MlflowSetup):
    with mlflow_setup.registry() as registry:
        registry.set_policy(MODEL, approvers=["bob"], protect_aliases=["champion"])
    with mlflow_setup.registry("bob") as registry:
        registry.approve(MODEL, 1)
    client.set_registered_model_alias(MODEL, "champion", 1)
    refused = refusal(lambda: client.delete_model_version(MODEL, 1))
    assert refused.error_code == "PERMISSION_DENIED" and "protected alias @champion points at version 1" in refused.message
    client.delete_registered_model_alias(MODEL, "champion")
    client.delete_model_version(MODEL, 1)
    assert [v.version for v in client.search_model_versions(f"name = '{MODEL}'")] == [2]

"""MLflow's client registering a source the registry cannot read: a visible, audited reference with no bytes.

MLflow records any source string. A team moving a registry over registers
versions whose bytes live where this process cannot read them (an object
store without credentials here, another tracking server): those versions are
created as MLflow creates them, and refused wherever the registry would
vouch for bytes it never verified.
"""

from __future__ import annotations

import time
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from registry_core.actions import AuditAction

from .conftest import MlflowSetup

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # stages are deprecated in MLflow, not here

MODEL = "fraud"
SOURCE = "s3://no-such-bucket-for-registry-tests/mlruns/7/model"

UNREADABLE_SOURCES = [
    SOURCE,
    "gs://no-such-bucket/model",
    "wasbs://models@nosuchaccount.blob.core.windows.net/model",
    "dbfs:/models/model",
    "uc:/models/model",
    "nosuchscheme://host/model",
    "http://127.0.0.1:1/model",
    "ftp://127.0.0.1:1/model",
    "runs:/0123456789abcdef/model",
    "mlflow-artifacts:/0/model",
    "path/to/source",
]


@pytest.fixture
def client(mlflow_setup: MlflowSetup, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """MLflow's client in-process; no cloud credentials, and any object store answered only on loopback."""
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "DATABRICKS_HOST"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    client = MlflowClient()
    client.create_registered_model(MODEL)
    return client


def refusal(call) -> MlflowException:
    with pytest.raises(MlflowException) as refused:
        call()
    return refused.value


@pytest.mark.parametrize("source", UNREADABLE_SOURCES)
def test_an_unreadable_source_is_registered_as_a_reference_at_once(
    client: MlflowClient, mlflow_setup: MlflowSetup, source: str
):
    """Created and visible as MLflow shows it, its status message saying why it cannot be used; audited."""
    started = time.monotonic()
    created = client.create_model_version(MODEL, source, run_id="abc123")
    assert time.monotonic() - started < 30
    shown = client.get_model_version(MODEL, created.version)
    assert (shown.version, shown.source, shown.run_id, shown.status) == (1, source, "abc123", "READY")
    assert shown.status_message.startswith(f"references {source} with no bytes in the registry: not loadable")
    assert [v.version for v in client.search_model_versions(f"name = '{MODEL}'")] == [1]
    with mlflow_setup.registry() as registry:
        event = registry.audit_events(MODEL, limit=1)[0]
        assert event.action == AuditAction.VERSION_REGISTER and event.actor == "alice"
        assert event.after["artifact_kind"] == "reference" and event.after["artifact_format"] == {"source": source}
        assert registry.verify_audit().intact


def test_a_reference_is_never_loaded_through_mlflow(client: MlflowClient, tmp_path: Path):
    """The download URI, MLflow's download and pyfunc loading are PERMISSION_DENIED (403), never retried."""
    client.create_model_version(MODEL, SOURCE)
    for call in (
        lambda: client.get_model_version_download_uri(MODEL, 1),
        lambda: mlflow.artifacts.download_artifacts(f"models:/{MODEL}/1", dst_path=str(tmp_path / "out")),
        lambda: mlflow.pyfunc.load_model(f"models:/{MODEL}/1"),
    ):
        refused = refusal(call)
        assert refused.error_code == "PERMISSION_DENIED" and refused.get_http_status_code() == 403
        assert f"it references {SOURCE!r} and holds no bytes the registry verified" in refused.message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_reference_never_reaches_production_through_mlflow(client: MlflowClient, mlflow_setup: MlflowSetup):
    """Staged and approved, Production is PERMISSION_DENIED naming the missing bytes, as its tags say."""
    client.create_model_version(MODEL, SOURCE)
    client.transition_model_version_stage(MODEL, 1, "Staging")
    with mlflow_setup.registry("bob") as registry:
        registry.approve(MODEL, 1)
    refused = refusal(lambda: client.transition_model_version_stage(MODEL, 1, "Production"))
    assert refused.error_code == "PERMISSION_DENIED"
    assert f"1 gate(s) unmet: version 1 holds no bytes: it references {SOURCE!r}" in refused.message
    shown = client.get_model_version(MODEL, 1)
    assert shown.current_stage == "Staging" and "holds no bytes" in shown.tags["registry.unmet_gates"]


def test_a_protected_alias_never_points_at_a_reference_through_mlflow(client: MlflowClient, mlflow_setup: MlflowSetup):
    client.create_model_version(MODEL, SOURCE)
    with mlflow_setup.registry() as registry:
        registry.set_policy(MODEL, approvers=["bob"], protect_aliases=["champion"])
    with mlflow_setup.registry("bob") as registry:
        registry.approve(MODEL, 1)
    refused = refusal(lambda: client.set_registered_model_alias(MODEL, "champion", 1))
    assert refused.error_code == "PERMISSION_DENIED" and "holds no bytes" in refused.message
    assert client.get_registered_model(MODEL).aliases == {}
    client.set_registered_model_alias(MODEL, "challenger", 1)  # an unprotected alias is only a name
    assert refusal(lambda: mlflow.pyfunc.load_model(f"models:/{MODEL}@challenger")).error_code == "PERMISSION_DENIED"


def test_a_copy_of_a_reference_refers_to_the_same_location(client: MlflowClient, mlflow_setup: MlflowSetup):
    client.create_model_version(MODEL, SOURCE)
    copied = client.copy_model_version(f"models:/{MODEL}/1", "fraud-copy")
    assert copied.source == f"models:/{MODEL}/1" and "not loadable" in copied.status_message
    with mlflow_setup.registry() as registry:
        stored = registry.get_version("fraud-copy", 1)
        assert (stored.artifact_kind, stored.artifact_uri) == ("reference", SOURCE)


def test_attached_bytes_load_through_mlflow_verified(client: MlflowClient, mlflow_setup: MlflowSetup, tmp_path: Path):
    """Once `registry attach` stores them, the same version downloads as any other, and says nothing more."""
    client.create_model_version(MODEL, SOURCE)
    weights = tmp_path / "model.pkl"
    weights.write_bytes(b"weights")
    with mlflow_setup.registry("carol") as registry:
        registry.attach(MODEL, 1, weights)
    assert client.get_model_version(MODEL, 1).status_message is None
    assert client.get_model_version(MODEL, 1).source == SOURCE
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL}/1", dst_path=str(tmp_path / "out")))
    assert (folder / "model.pkl").read_bytes() == b"weights"

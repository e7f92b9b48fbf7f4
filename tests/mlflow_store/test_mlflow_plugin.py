"""The plugin's contract with MLflow: found by scheme, every store method its own, refusals with clear codes."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from mlflow.entities.webhook import WebhookAction, WebhookEntity, WebhookEvent
from mlflow.exceptions import MlflowException
from mlflow.store.model_registry.abstract_store import AbstractStore
from mlflow.tracking._model_registry.utils import _get_store

from registry_core.mlflow_store import RegistryStore
from registry_core.mlflow_store.artifacts import RegistryArtifactRepository

#: AbstractStore internals a plugin need not define (pickling and a static parsing helper).
NOT_STORE_METHODS = {"__init__", "__getstate__", "__setstate__", "__metaclass__", "_parse_experiment_id_filter",
                     "_await_model_version_creation_impl"}


def test_every_abstract_store_method_is_defined_by_the_plugin():
    """AbstractStore's abstract methods are a Python 2 no-op: one it adds would silently return None here."""
    ours = {name for cls in RegistryStore.__mro__ if not issubclass(AbstractStore, cls) for name in vars(cls)}
    missing = sorted(name for name in vars(AbstractStore) if name not in NOT_STORE_METHODS and name not in ours)
    assert missing == [], f"MLflow's AbstractStore has methods the registry store does not define: {missing}"


@pytest.mark.parametrize("scheme", ["registry+sqlite", "registry+postgresql", "registry+postgresql+psycopg"])
def test_each_catalog_scheme_has_an_entry_point(scheme: str):
    """MLflow looks a registry store up by the URI's whole scheme."""
    (entry,) = entry_points(group="mlflow.model_registry_store", name=scheme)
    assert entry.value == "registry_core.mlflow_store:registry_store"


def test_the_artifact_scheme_has_an_entry_point():
    (entry,) = entry_points(group="mlflow.artifact_repository", name="registry-artifacts")
    assert entry.load() is RegistryArtifactRepository


def test_mlflow_builds_the_store_from_a_registry_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """get_store passes the tracking URI, since the builder accepts one."""
    monkeypatch.setenv("REGISTRY_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    store = _get_store(f"registry+sqlite:///{tmp_path / 'catalog.db'}", "sqlite:///tracking.db")
    assert isinstance(store, RegistryStore)
    assert store.tracking_uri == "sqlite:///tracking.db"
    assert store.artifact_root == str(tmp_path / "artifacts")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RegistryStore:
    monkeypatch.setenv("REGISTRY_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    return RegistryStore(f"registry+sqlite:///{tmp_path / 'catalog.db'}")


def test_the_server_finds_no_mlflow_webhooks(store: RegistryStore):
    """list_webhooks_by_event, asked by the server on every write, answers with an empty list: the outbox delivers."""
    event = WebhookEvent(WebhookEntity.MODEL_VERSION, WebhookAction.CREATED)
    assert list(store.list_webhooks_by_event(event)) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.create_prompt("greeting"),
        lambda s: s.search_prompts(),
        lambda s: s.get_prompt("greeting"),
        lambda s: s.create_registered_model("p", tags=[_tag("mlflow.prompt.is_prompt", "true")]),
    ],
    ids=["create-prompt", "search-prompts", "get-prompt", "prompt-tag"],
)
def test_prompts_are_refused(store: RegistryStore, call):
    """NOT_IMPLEMENTED, answered over HTTP as 405: a refusal is never a 5xx."""
    with pytest.raises(MlflowException) as refused:
        call(store)
    assert refused.value.error_code == "NOT_IMPLEMENTED"
    assert refused.value.get_http_status_code() == 405


def _tag(key: str, value: str):
    from mlflow.entities.model_registry import RegisteredModelTag

    return RegisteredModelTag(key, value)


def test_names_mlflow_allows_and_the_registry_refuses_are_invalid(store: RegistryStore):
    """A model name with '@' (an alias separator in model URIs) is INVALID_PARAMETER_VALUE (a 400 MLflow's client
    does not retry)."""
    with pytest.raises(MlflowException) as refused:
        store.create_registered_model("fraud@detector")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert refused.value.get_http_status_code() == 400


def test_a_missing_version_is_resource_does_not_exist(store: RegistryStore):
    store.create_registered_model("fraud")
    with pytest.raises(MlflowException) as refused:
        store.get_model_version("fraud", "3")
    assert refused.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_an_unreachable_catalog_is_temporarily_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A catalog that cannot be reached is TEMPORARILY_UNAVAILABLE: the one case worth retrying."""
    monkeypatch.setenv("REGISTRY_ARTIFACT_ROOT", str(tmp_path))
    with pytest.raises(MlflowException) as refused:
        RegistryStore("registry+postgresql://postgres@127.0.0.1:1/absent")
    assert refused.value.error_code == "TEMPORARILY_UNAVAILABLE"


def test_a_uri_without_a_catalog_is_refused():
    with pytest.raises(MlflowException) as refused:
        RegistryStore("registry+")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"


def test_importing_registry_core_does_not_import_mlflow(tmp_path: Path):
    """The base package and its API leave MLflow unimported, though it is installed."""
    code = (
        "import sys, registry_core\n"
        "from registry_core import Registry\n"
        f"Registry('sqlite:///{tmp_path / 'c.db'}', {str(tmp_path / 'a')!r}, actor='a').close()\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'mlflow'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_without_mlflow_the_store_names_the_extra():
    """Importing the plugin where MLflow cannot be found raises MissingExtra with the install command."""
    code = (
        "import sys\n"
        "sys.modules['mlflow'] = None  # as if not installed: find_spec answers None\n"
        "from registry_core import MissingExtra\n"
        "try:\n"
        "    import registry_core.mlflow_store\n"
        "except MissingExtra as error:\n"
        "    print(error.message)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == (
        "the MLflow registry store needs the [mlflow] extra: pip install 'dagster-model-registry[mlflow]'"
    )

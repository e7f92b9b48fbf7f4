"""Where MLflow's own SQL store and the plugin answer the same call, they answer alike: fields, codes and texts.

Each test makes the call on MLflow's ``SqlAlchemyStore`` (through ``MlflowClient``) and on the catalog, and
compares what a client sees: values, types, error codes and, where clients match it, the message.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from .conftest import MlflowSetup

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture(scope="module")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty registry of MLflow's own SQL store in a SQLite file (its migrations run once for the module)."""
    path = tmp_path_factory.mktemp("mlflow-registry") / "mlflow.db"
    uri = f"sqlite:///{path}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()
    return path


@pytest.fixture
def both(mlflow_setup: MlflowSetup, mlflow_template: Path, tmp_path: Path) -> dict[str, MlflowClient]:
    """MLflow's own registry (a fresh copy) and ours, each holding model ``m`` with one version registered from a path."""
    copy = tmp_path / "mlflow.db"
    shutil.copyfile(mlflow_template, copy)
    theirs = MlflowClient(tracking_uri=f"sqlite:///{copy}", registry_uri=f"sqlite:///{copy}")
    ours = MlflowClient(tracking_uri=mlflow_setup.tracking_uri, registry_uri=mlflow_setup.registry_uri)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    for client in (theirs, ours):
        client.create_registered_model("m")
        client.create_model_version("m", str(folder))
    return {"mlflow": theirs, "ours": ours}


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", call()
    except MlflowException as exc:
        return exc.error_code, exc.message


def test_an_empty_description_is_none(both: dict[str, MlflowClient]):
    """A model created without a description has description None, as in MLflow, not ''."""
    for client in both.values():
        assert client.get_registered_model("m").description is None
        assert client.create_registered_model("other").description is None


def test_a_version_without_run_has_run_id_and_run_link_none(both: dict[str, MlflowClient]):
    """A version registered from a path, with no run, has run_id, run_link and description None."""
    seen = {side: client.get_model_version("m", "1") for side, client in both.items()}
    assert {side: (v.run_id, v.run_link, v.description) for side, v in seen.items()} == {
        "mlflow": (None, None, None), "ours": (None, None, None),
    }


def test_alias_versions_are_ints_in_process(both: dict[str, MlflowClient]):
    """In-process, a registered model's aliases map to int versions, as MLflow's SQL store gives them."""
    for client in both.values():
        client.set_registered_model_alias("m", "champ", "1")
        assert client.get_registered_model("m").aliases == {"champ": 1}
        assert type(client.get_registered_model("m").aliases["champ"]) is int


def test_a_second_create_says_what_mlflow_says(both: dict[str, MlflowClient]):
    """Creating an existing model is RESOURCE_ALREADY_EXISTS with MLflow's own text."""
    outcomes = {side: _outcome(lambda c=client: c.create_registered_model("m")) for side, client in both.items()}
    assert outcomes["ours"] == outcomes["mlflow"] == ("RESOURCE_ALREADY_EXISTS", "Registered Model (name=m) already exists.")


def test_deleting_a_missing_alias_does_nothing(both: dict[str, MlflowClient]):
    """Deleting an alias the model does not have is no error; on a missing model it is RESOURCE_DOES_NOT_EXIST."""
    for client in both.values():
        assert client.delete_registered_model_alias("m", "nobody") is None
    codes = {side: _outcome(lambda c=client: c.delete_registered_model_alias("missing", "a"))[0] for side, client in both.items()}
    assert codes == {"mlflow": "RESOURCE_DOES_NOT_EXIST", "ours": "RESOURCE_DOES_NOT_EXIST"}


@pytest.mark.parametrize("alias", ["v1", "V12", "latest", "LATEST"])
def test_reserved_alias_names_are_refused(both: dict[str, MlflowClient], alias: str):
    """``v`` and digits, and ``latest`` in any case, are refused as alias names, as MLflow refuses them."""
    outcomes = {side: _outcome(lambda c=client: c.set_registered_model_alias("m", alias, "1"))[0] for side, client in both.items()}
    assert outcomes == {"mlflow": "INVALID_PARAMETER_VALUE", "ours": "INVALID_PARAMETER_VALUE"}
    assert both["ours"].get_registered_model("m").aliases == {}


def test_an_alias_named_like_a_version_is_still_accepted_otherwise(both: dict[str, MlflowClient]):
    """Only ``v`` and digits alone are reserved: ``v1-candidate`` is an ordinary alias on both sides."""
    for client in both.values():
        client.set_registered_model_alias("m", "v1-candidate", "1")
        assert int(client.get_model_version_by_alias("m", "v1-candidate").version) == 1


def test_a_missing_alias_reads_with_mlflows_code_and_text(both: dict[str, MlflowClient]):
    """Reading a missing alias is MLflow's INVALID_PARAMETER_VALUE "Registered model alias … not found."."""
    outcomes = {side: _outcome(lambda c=client: c.get_model_version_by_alias("m", "nobody")) for side, client in both.items()}
    assert outcomes["ours"] == outcomes["mlflow"] == ("INVALID_PARAMETER_VALUE", "Registered model alias nobody not found.")
    codes = {side: _outcome(lambda c=client: c.get_model_version_by_alias("missing", "a"))[0] for side, client in both.items()}
    assert codes == {"mlflow": "RESOURCE_DOES_NOT_EXIST", "ours": "RESOURCE_DOES_NOT_EXIST"}


def test_the_latest_alias_reads_the_highest_version(both: dict[str, MlflowClient], tmp_path: Path):
    """``get_model_version_by_alias(name, "latest")`` is the highest version, as in MLflow."""
    for client in both.values():
        client.create_model_version("m", str(tmp_path / "model"))
        assert int(client.get_model_version_by_alias("m", "latest").version) == 2


@pytest.mark.parametrize("size", [5_001, 100_000])
def test_long_tag_values_are_accepted_up_to_mlflows_limit(both: dict[str, MlflowClient], size: int):
    """Tag values up to MLflow 3's 100,000 characters are stored, on models and versions alike."""
    for client in both.values():
        client.set_registered_model_tag("m", "notes", "x" * size)
        client.set_model_version_tag("m", "1", "notes", "y" * size)
        assert client.get_registered_model("m").tags["notes"] == "x" * size
        assert client.get_model_version("m", "1").tags["notes"] == "y" * size


def test_a_tag_value_beyond_mlflows_limit_is_refused_alike(both: dict[str, MlflowClient]):
    """A value of 100,001 characters is INVALID_PARAMETER_VALUE on both sides, and nothing is stored."""
    outcomes = {side: _outcome(lambda c=client: c.set_model_version_tag("m", "1", "notes", "x" * 100_001))[0]
                for side, client in both.items()}
    assert outcomes == {"mlflow": "INVALID_PARAMETER_VALUE", "ours": "INVALID_PARAMETER_VALUE"}
    assert "notes" not in both["ours"].get_model_version("m", "1").tags
    with pytest.raises(MlflowException, match=r"'value' exceeds the maximum length of \d+ characters"):
        both["ours"].set_registered_model_tag("m", "notes", "x" * 100_001)  # the text MLflow's own tests match


@pytest.mark.parametrize("name", [None, "", "   ", "a/b", "a:b"])
def test_a_name_mlflow_refuses_is_refused_in_its_words(both: dict[str, MlflowClient], name: str | None):
    """A missing name is "Missing value for required parameter 'name'", ``/`` and ``:`` MLflow's own text, on
    create and on tagging alike (MLflow's tests match these texts)."""
    for call in (lambda c: c.create_registered_model(name), lambda c: c.set_registered_model_tag(name, "k", "v")):
        outcomes = {side: _outcome(lambda c=client, f=call: f(c)) for side, client in both.items()}
        assert outcomes["ours"] == outcomes["mlflow"]
        assert outcomes["ours"][0] == "INVALID_PARAMETER_VALUE"
    assert [m.name for m in both["ours"].search_registered_models()] == ["m"]


@pytest.mark.parametrize("search", ["search_registered_models", "search_model_versions"])
def test_a_bad_page_token_or_page_size_says_what_mlflow_says(both: dict[str, MlflowClient], search: str):
    """A token that is not base64, or a page size of 1e15, is refused with MLflow's code and text."""
    for kwargs in ({"page_token": "evilhax", "max_results": 20}, {"page_token": "evilhax", "max_results": 1e15}):
        outcomes = {side: _outcome(lambda c=client, k=kwargs: getattr(c, search)(**k)) for side, client in both.items()}
        assert outcomes["ours"] == outcomes["mlflow"]
        assert outcomes["ours"][0] == "INVALID_PARAMETER_VALUE"
    outcome = _outcome(lambda: getattr(both["ours"], search)(page_token="eyJvZmZzZXQiOiAtMX0="))  # {"offset": -1}
    assert outcome == ("INVALID_PARAMETER_VALUE",
                       "Invalid page token, parsed value={'offset': -1}: not one this registry issued")


@pytest.mark.parametrize(("url", "pattern"), [
    ("", "Webhook URL cannot be empty or just whitespace"),
    ("   ", "Webhook URL cannot be empty or just whitespace"),
    ("ftp://example.com/webhook", "Invalid webhook URL scheme: 'ftp'"),
    ("http://[invalid-url", "Invalid webhook URL"),
    ("invalid_url", "Invalid webhook URL"),
])
def test_a_webhook_url_mlflow_refuses_is_refused_in_its_words(both: dict[str, MlflowClient], url: str, pattern: str):
    """MLflow's tests match these texts; creating and updating answer them, and nothing is stored."""
    from mlflow.entities.webhook import WebhookEvent

    events = [WebhookEvent.from_str("model_version.created")]
    for client in both.values():
        code, message = _outcome(lambda c=client: c.create_webhook("hook", url, events))
        assert code == "INVALID_PARAMETER_VALUE" and message.startswith(pattern), message
    hook = both["ours"].create_webhook("kept", "https://hooks.example.com/x", events)
    code, message = _outcome(lambda: both["ours"].update_webhook(hook.webhook_id, url=url))
    assert code == "INVALID_PARAMETER_VALUE" and message.startswith(pattern), message
    assert [(h.name, h.url) for h in both["ours"].list_webhooks()] == [("kept", "https://hooks.example.com/x")]


def test_creating_a_webhook_echoes_the_callers_secret_and_nothing_reads_it_back(
    both: dict[str, MlflowClient], monkeypatch: pytest.MonkeyPatch
):
    """As MLflow's store, in-process ``create_webhook`` and ``update_webhook`` return the secret just sent;
    ``get_webhook`` and ``list_webhooks`` never return it (MLflow's would, from its table)."""
    from cryptography.fernet import Fernet
    from mlflow.entities.webhook import WebhookEvent

    monkeypatch.setenv("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")  # MLflow would resolve the host name
    events = [WebhookEvent.from_str("model_version.created")]
    made = {side: c.create_webhook("h", "https://hooks.example.com/x", events, secret="s3") for side, c in both.items()}
    assert {side: hook.secret for side, hook in made.items()} == {"mlflow": "s3", "ours": "s3"}
    ours = both["ours"]
    assert ours.update_webhook(made["ours"].webhook_id, secret="s4").secret == "s4"
    assert ours.update_webhook(made["ours"].webhook_id, description="d").secret is None
    assert ours.get_webhook(made["ours"].webhook_id).secret is None
    assert [hook.secret for hook in ours.list_webhooks()] == [None]


def test_times_follow_the_clock_mlflow_reads(both: dict[str, MlflowClient], tmp_path: Path):
    """Creation and update times come from ``time.time()`` on both sides, so a test that fixes it sees them."""
    from unittest import mock

    with mock.patch("time.time", return_value=1234):
        for client in both.values():
            client.create_registered_model("frozen")
            client.create_model_version("frozen", str(tmp_path / "model"))
    for client in both.values():
        model = client.get_registered_model("frozen")
        assert (model.creation_timestamp, model.last_updated_timestamp) == (1234000, 1234000)
        assert client.get_model_version("frozen", "1").creation_timestamp == 1234000


def test_descriptions_are_kept_as_given(both: dict[str, MlflowClient], tmp_path: Path):
    """``''`` stays ``''`` and ``None`` stays ``None``, as MLflow's store keeps them: MLflow's server sends ``''``
    for a model or version created without one, and its REST clients read ``''`` back."""
    for side, client in both.items():
        assert client.create_registered_model("blank", description="").description == "", side
        assert client.get_registered_model("blank").description == "", side
        version = client.create_model_version("blank", str(tmp_path / "model"), description="")
        assert client.get_model_version("blank", version.version).description == "", side
        client.update_registered_model("blank", description="told")
        client.update_registered_model("blank", description="")
        assert client.get_registered_model("blank").description == "", side
        assert client.get_registered_model("m").description is None, side


def test_tag_keys_with_spaces_are_kept_and_searched(both: dict[str, MlflowClient]):
    """MLflow's tag keys may hold spaces (``another key``): set, read, searched with backticks and deleted alike."""
    for side, client in both.items():
        client.set_registered_model_tag("m", "another key", "v")
        client.set_model_version_tag("m", "1", "numeric value", "12")
        assert client.get_registered_model("m").tags == {"another key": "v"}, side
        assert client.get_model_version("m", "1").tags.get("numeric value") == "12", side
        assert [m.name for m in client.search_registered_models("tags.`another key` = 'v'")] == ["m"], side
        client.delete_registered_model_tag("m", "another key")
        assert client.get_registered_model("m").tags == {}, side
    outcome = _outcome(lambda: both["ours"].set_registered_model_tag("m", "trailing ", "v"))
    assert outcome[0] == "INVALID_PARAMETER_VALUE" and "invalid tag key 'trailing '" in outcome[1]


@pytest.mark.parametrize("stage", ["Archived", "None"])
def test_archiving_others_on_a_move_to_an_inactive_stage_is_refused_in_mlflows_words(
    both: dict[str, MlflowClient], stage: str
):
    """``archive_existing_versions=True`` towards Archived or None is refused with MLflow's text (which its tests
    match); here as INVALID_PARAMETER_VALUE, a client's mistake, where MLflow answers INTERNAL_ERROR."""
    outcomes = {side: _outcome(lambda c=client: c.transition_model_version_stage("m", "1", stage, True))
                for side, client in both.items()}
    expected = (f"Model version transition cannot archive existing model versions because '{stage}' is not an "
                "Active stage. Valid stages are ['Staging', 'Production']")
    assert outcomes == {"mlflow": ("INTERNAL_ERROR", expected), "ours": ("INVALID_PARAMETER_VALUE", expected)}
    assert both["ours"].get_model_version("m", "1").current_stage == "None"


def test_a_versions_last_update_moves_as_mlflows_does(both: dict[str, MlflowClient], tmp_path: Path):
    """A description or a stage moves ``last_updated_timestamp``, a tag does not; the default search order follows."""
    from unittest import mock

    def moment(seconds: int, call: Callable[[MlflowClient], Any]) -> dict[str, Any]:
        with mock.patch("time.time", return_value=seconds):
            for client in both.values():
                call(client)
        return {
            side: ([v.last_updated_timestamp for v in client.search_model_versions("name = 't'", order_by=["version_number"])],
                   [v.version for v in client.search_model_versions("name = 't'")])
            for side, client in both.items()
        }

    moment(1000, lambda c: c.create_registered_model("t"))
    moment(1000, lambda c: c.create_model_version("t", str(tmp_path / "model")))
    registered = moment(2000, lambda c: c.create_model_version("t", str(tmp_path / "model")))
    assert registered["ours"] == registered["mlflow"] == ([1000000, 2000000], [2, 1])
    described = moment(3000, lambda c: c.update_model_version("t", "1", description="retrained"))
    assert described["ours"] == described["mlflow"] == ([3000000, 2000000], [1, 2])
    tagged = moment(4000, lambda c: c.set_model_version_tag("t", "2", "team", "risk"))
    assert tagged["ours"] == tagged["mlflow"] == ([3000000, 2000000], [1, 2])
    staged = moment(5000, lambda c: c.transition_model_version_stage("t", "2", "Staging"))
    assert staged["ours"] == staged["mlflow"] == ([3000000, 5000000], [2, 1])


def test_a_models_last_update_moves_as_mlflows_does(both: dict[str, MlflowClient], tmp_path: Path):
    """A new version, a stage move, a deletion and the model's description move it; tags, aliases and a version's
    description do not."""
    from unittest import mock

    def at(seconds: int, call: Callable[[MlflowClient], Any]) -> dict[str, int]:
        with mock.patch("time.time", return_value=seconds):
            for client in both.values():
                call(client)
        return {side: client.get_registered_model("u").last_updated_timestamp for side, client in both.items()}

    at(1000, lambda c: c.create_registered_model("u"))
    steps = [
        (2000, lambda c: c.create_model_version("u", str(tmp_path / "model")), 2000),
        (3000, lambda c: c.create_model_version("u", str(tmp_path / "model")), 3000),
        (4000, lambda c: c.set_registered_model_tag("u", "team", "risk"), 3000),
        (5000, lambda c: c.set_registered_model_alias("u", "champion", "1"), 3000),
        (6000, lambda c: c.update_model_version("u", "1", description="retrained"), 3000),
        (7000, lambda c: c.transition_model_version_stage("u", "1", "Staging"), 7000),
        (8000, lambda c: c.delete_model_version("u", "2"), 8000),
        (9000, lambda c: c.update_registered_model("u", description="fraud"), 9000),
    ]
    for seconds, call, expected in steps:
        seen = at(seconds, call)
        assert seen == {"mlflow": expected * 1000, "ours": expected * 1000}, (seconds, seen)

"""Model names MLflow allows and a URI can carry (spaces, brackets, '+', ',') work in the API, URIs and the CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from registry_core import InvalidInput, Registry
from registry_core.cli import cli

NAMES = ["My Model", "fraud v2 (EU)", "churn+uplift, [beta]"]


@pytest.mark.parametrize("name", NAMES)
def test_a_name_with_spaces_registers_and_resolves(registry: Registry, model_file: Path, name: str):
    """The name is stored as given and every URI form opens it: version, stage and latest."""
    registry.register(name, model_file)
    registry.transition(name, 1, "Staging")
    assert registry.get_model(name).name == name
    assert registry.resolve(f"models:/{name}/1").model == name
    assert registry.resolve(f"models:/{name}/Staging").version == 1
    assert registry.resolve(f"models:/{name}/latest").version == 1


def test_an_alias_of_a_name_with_spaces_resolves(registry: Registry, model_file: Path):
    registry.register("My Model", model_file)
    registry.set_alias("My Model", "champion", 1)
    assert registry.resolve("models:/My Model@champion").version == 1


@pytest.mark.parametrize("name", ["My Model ", " My Model", "My/Model", "My:Model", "My@Model", "My#Model", "My%20Model",
                                  "My?Model", "My\tModel", "My\nModel"])
def test_names_a_uri_cannot_carry_are_refused(registry: Registry, model_file: Path, name: str):
    """Separators of a model URI, URL syntax, control characters and outer spaces stay refused, and nothing is written."""
    with pytest.raises(InvalidInput, match="invalid model name"):
        registry.register(name, model_file)
    assert registry.list_models() == []


def test_the_cli_takes_a_quoted_name_with_spaces(registry: Registry, model_file: Path, database_url: str,
                                                 artifact_root: Path):
    """`registry register "My Model" FILE` and `registry show "models:/My Model/1"` name the model as given."""
    env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root), "REGISTRY_ACTOR": "bob"}
    registered = CliRunner().invoke(cli, ["register", "My Model", str(model_file)], env=env, catch_exceptions=False)
    assert registered.exit_code == 0, registered.output
    shown = CliRunner().invoke(cli, ["show", "models:/My Model/1", "--json"], env=env, catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert '"My Model"' in shown.stdout
    assert registry.resolve("models:/My Model/1").version == 1


def test_a_name_with_spaces_maps_to_a_valid_dagster_prefix():
    """Dagster definitions of `My Model` are named `My_Model_…`; the catalog keeps the name as given."""
    pytest.importorskip("dagster")
    from dagster import AssetKey

    from registry_pipelines.model_pipeline import dagster_prefix

    name = "churn+uplift, [beta] v2 (EU)"
    prefix = dagster_prefix(name)
    # Readable words, then the name's digest: names that differ only in punctuation get different prefixes.
    assert prefix == "churn_uplift_beta_v2_EU_" + hashlib.sha256(name.encode()).hexdigest()[:8]
    AssetKey([prefix, "production_model"])  # a valid key


def test_registry_serve_follows_production_of_a_name_with_spaces(registry: Registry):
    """`models:/My Model/Production` is served, and /version names the model as given."""
    pytest.importorskip("sklearn")
    from test_serving import predict, register_ready, serving, trained

    register_ready(registry, trained(1), name="My Model")
    registry.promote("My Model", 1)
    with serving(registry, model_uri="models:/My Model/Production") as (_server, client):
        assert predict(client).json()["version"] == 1
        assert client.get("/version").json()["serving"]["model"] == "My Model"


def test_a_webhook_filtered_to_a_name_with_spaces_gets_its_events_as_named(registry: Registry, model_file: Path):
    """`--model "My Model"` selects that model's events, delivered to a real receiver naming the model as given."""
    from test_webhooks import SECRET, Receiver, deliver_now, ready_version

    receiver = Receiver()
    try:
        registry.add_webhook(receiver.url, events=["version_created", "promoted"], secret=SECRET, model="My Model")
        ready_version(registry, model_file, name="My Models")  # a name that only begins alike gets nothing
        ready_version(registry, model_file, name="My Model")
        registry.promote("My Model", 1)
        deliver_now(registry)
        assert [(e["type"], e["model"], e["version"]) for e in receiver.events()] == [
            ("version_created", "My Model", 1), ("promoted", "My Model", 1),
        ]
    finally:
        receiver.close()

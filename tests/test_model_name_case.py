"""Model names are case-sensitive, as in MLflow; a name that misses only by case says which model does exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from registry_core import NotFound, Registry
from registry_core.cli import cli


def test_names_differing_only_in_case_are_two_models(registry: Registry, model_file: Path):
    """`fraud` and `Fraud` are two models, as in MLflow's own store; neither URI ever opens the other."""
    registry.register("fraud", model_file)
    registry.register("Fraud", model_file)
    registry.register("Fraud", model_file)
    assert registry.resolve("models:/fraud/latest").version == 1
    assert registry.resolve("models:/Fraud/latest").version == 2


@pytest.mark.parametrize("lookup", [
    pytest.param(lambda r: r.show("models:/Fraud/1"), id="show-a-version"),
    pytest.param(lambda r: r.resolve("models:/FRAUD/Production"), id="resolve-a-stage"),
    pytest.param(lambda r: r.get_model("Fraud"), id="get-model"),
    pytest.param(lambda r: r.get_version("fRaud", 1), id="get-version"),
    pytest.param(lambda r: r.transition("Fraud", 1, "Staging"), id="transition"),
    pytest.param(lambda r: r.get_policy("Fraud"), id="policy"),
])
def test_a_name_missing_only_by_case_names_the_model_that_exists(registry: Registry, model_file: Path, lookup):
    registry.register("fraud", model_file)
    with pytest.raises(NotFound, match=r"model '\w+' does not exist \(names are case-sensitive: did you mean 'fraud'\?\)"):
        lookup(registry)


def test_the_cli_names_the_model_that_exists_in_one_line(registry: Registry, model_file: Path, database_url,
                                                        artifact_root):
    registry.register("fraud", model_file)
    env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root), "REGISTRY_ACTOR": "bob"}
    result = CliRunner().invoke(cli, ["show", "models:/Fraud/1"], env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr == "registry: error: model 'Fraud' does not exist (names are case-sensitive: did you mean 'fraud'?)\n"


def test_a_missing_name_with_no_case_variant_says_only_that(registry: Registry, model_file: Path):
    registry.register("fraud", model_file)
    with pytest.raises(NotFound, match=r"^model 'churn' does not exist$"):
        registry.get_model("churn")

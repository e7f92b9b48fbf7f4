"""A model lifecycle declared in YAML (the ModelLifecycle component) builds what the Python declaration builds."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import textwrap
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from dagster import ComponentTree, Definitions, build_defs_for_component, load_from_defs_folder

import registry_pipelines
from registry_pipelines import ModelPipeline, build_registry_definitions
from registry_pipelines.component import LifecycleDeclarationError, ModelLifecycle
from registry_pipelines.definitions import defs
from registry_pipelines.fraud import fraud_booster_pipeline, fraud_detector_pipeline

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(registry_pipelines.__file__).parent
DG = Path(sys.executable).with_name("dg")
ENVIRONMENT = (
    "FRAUD_DETECTOR_DEPLOY_URL", "FRAUD_DETECTOR_DEPLOY_COMMAND", "FRAUD_DETECTOR_LIGHTGBM_DEPLOY_URL",
    "FRAUD_DETECTOR_LIGHTGBM_DEPLOY_COMMAND", "REGISTRY_RELOAD_SECRET", "REGISTRY_SENSOR_INTERVAL_SECONDS",
)

#: A valid declaration; each bad-attribute case changes one line of it.
DECLARATION = """\
name: churn
target: is_fraud
load_data: registry_pipelines.fraud.load_transactions
train: registry_pipelines.fraud.train_fraud_classifier
expectations: registry_pipelines.fraud.fraud_expectations
metric_gates:
  roc_auc: {op: ">=", threshold: 0.8}
shadow_tolerance: 0.01
"""


def settings(pipeline: ModelPipeline) -> dict[str, Any]:
    return {f.name: getattr(pipeline, f.name) for f in fields(ModelPipeline)}


def summary(definitions: Definitions) -> dict[str, Any]:
    """What a team sees in the UI: asset keys, checks, jobs, sensors, the schedule, resources."""
    repository = definitions.get_repository_def()
    return {
        "assets": sorted(key.to_user_string() for key in definitions.resolve_all_asset_keys()),
        "checks": sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in repository.asset_graph.asset_check_keys),
        "jobs": sorted(
            (job.name, sorted(job.tags.items()), job.partitions_def.name if job.partitions_def else None)
            for job in repository.get_all_jobs()
        ),
        "sensors": sorted(
            (s.name, s.job_name if s.has_jobs else None, s.minimum_interval_seconds, s.default_status.value)
            for s in repository.sensor_defs
        ),
        "schedules": sorted(
            (s.name, s.job_name, s.cron_schedule, s.execution_timezone, s.default_status.value)
            for s in repository.schedule_defs
        ),
        "resources": sorted(definitions.resources or {}),
    }


def declared_pipelines() -> dict[str, ModelPipeline]:
    """The shipped defs folder's ModelLifecycles by model name, loaded afresh (so they read the environment now)."""
    components = ComponentTree.for_project(PACKAGE).get_all_components(of_type=ModelLifecycle)
    return {pipeline.name: pipeline for pipeline in (component.pipeline() for component in components)}


def python_pipelines() -> dict[str, ModelPipeline]:
    """The same models declared in Python."""
    return {pipeline.name: pipeline for pipeline in (fraud_detector_pipeline(), fraud_booster_pipeline())}


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {
            "FRAUD_DETECTOR_DEPLOY_URL": "http://127.0.0.1:9/deploy",
            "FRAUD_DETECTOR_DEPLOY_COMMAND": "deploy-model --to prod",
            "FRAUD_DETECTOR_LIGHTGBM_DEPLOY_URL": "http://127.0.0.1:9/deploy-lightgbm",
            "REGISTRY_RELOAD_SECRET": "s3cret",
            "REGISTRY_SENSOR_INTERVAL_SECONDS": "7",
        },
    ],
    ids=["no-environment", "deploy-targets-and-interval"],
)
def test_the_shipped_yaml_declares_the_python_fraud_detectors(monkeypatch, environment):
    """defs/fraud_detector*/defs.yaml and fraud_detector_pipeline(), fraud_booster_pipeline() agree on every setting."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    declared, python = declared_pipelines(), python_pipelines()
    assert sorted(declared) == sorted(python) == ["fraud-detector", "fraud-detector-lightgbm"]
    for name, pipeline in python.items():
        assert settings(declared[name]) == settings(pipeline)
    assert declared["fraud-detector-lightgbm"].framework == "lightgbm"


def test_the_code_location_from_yaml_equals_the_python_declaration():
    """Same asset keys, checks, jobs (tags, partitions), sensors, schedule and resources as build_registry_definitions."""
    assert summary(defs) == summary(build_registry_definitions(*python_pipelines().values()))


def test_installed_without_the_project_the_location_builds_the_same_model(tmp_path):
    """A wheel has no dg.toml above the package: the location falls back to the Python declaration."""
    from registry_pipelines.definitions import location_definitions

    assert summary(location_definitions(tmp_path)) == summary(defs)


def test_the_defs_folder_is_loadable():
    """Dagster's own loadability check on the project's defs folder, loaded as `dg` loads it."""
    Definitions.validate_loadable(load_from_defs_folder(path_within_project=PACKAGE))


def test_the_component_also_builds_on_its_own_from_python():
    """Outside a defs folder (build_defs_for_component) it builds the model's definitions; errors name the attribute."""
    declared = ModelLifecycle.resolve_from_yaml(DECLARATION)
    assert "churn_retrain" in {job.name for job in build_defs_for_component(declared).jobs}
    declared.train = "registry_pipelines.fraud.train_fraud_classifer"
    with pytest.raises(LifecycleDeclarationError, match=r"^attributes\.train: 'registry_pipelines\.fraud\.train_fraud_classifer' does not resolve"):
        build_defs_for_component(declared)


# --- a team's own project ------------------------------------------------------------------------


class Project:
    """A `dg` project in a temporary folder: a package whose defs folder holds one folder per declared model."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.package = f"models_{secrets.token_hex(4)}"  # a fresh module name: nothing cached from another test
        (root / self.package / "defs").mkdir(parents=True)
        (root / self.package / "__init__.py").write_text("")
        (root / self.package / "defs" / "__init__.py").write_text("")
        (root / "pyproject.toml").write_text(
            f'[project]\nname = "team-models"\nversion = "0"\n\n[tool.dg]\ndirectory_type = "project"\n\n'
            f'[tool.dg.project]\nroot_module = "{self.package}"\nregistry_modules = ["registry_pipelines.component"]\n'
        )
        (root / self.package / "definitions.py").write_text(
            "from pathlib import Path\n\nfrom dagster import load_from_defs_folder\n\n"
            "defs = load_from_defs_folder(path_within_project=Path(__file__).parent)\n"
        )

    def declare(self, folder: str, attributes: str) -> Path:
        path = self.root / self.package / "defs" / folder / "defs.yaml"
        path.parent.mkdir()
        body = textwrap.indent(attributes, "  ")
        path.write_text(f"type: registry_pipelines.component.ModelLifecycle\n\nattributes:\n{body}")
        return path

    def load(self) -> Definitions:
        return load_from_defs_folder(path_within_project=self.root / self.package)

    def relative(self, folder: str) -> str:
        return f"{self.package}/defs/{folder}/defs.yaml"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.syspath_prepend(str(tmp_path))
    return Project(tmp_path)


def cause(error: BaseException, kind: type[BaseException]) -> BaseException:
    """The exception of type ``kind`` that Dagster's component-tree error was raised from."""
    found: BaseException | None = error
    while found is not None and not isinstance(found, kind):
        found = found.__cause__ or found.__context__
    assert found is not None, f"no {kind.__name__} behind {error!r}"
    return found


def test_two_declared_models_live_side_by_side_on_one_registry_resource(project):
    """Each component brings the registry resource; one catalog's settings give the same one, so they merge."""
    project.declare("churn", DECLARATION)
    project.declare("churn_eu", DECLARATION.replace("name: churn", "name: churn-eu"))
    loaded = project.load()
    Definitions.validate_loadable(loaded)
    jobs = {job.name for job in loaded.get_repository_def().get_all_jobs()}
    assert {"churn_retrain", "churn_eu_retrain", "churn_approve", "churn_eu_approve"} <= jobs
    assert list(loaded.resources) == ["registry"]


def test_declared_names_that_collide_as_dagster_names_are_refused(project):
    """churn-eu and churn_eu would both define churn_eu_retrain: the second declaration is refused, naming both."""
    project.declare("a", DECLARATION.replace("name: churn", "name: churn-eu"))
    project.declare("b", DECLARATION.replace("name: churn", "name: churn_eu"))
    with pytest.raises(Exception) as raised:
        project.load()
    error = cause(raised.value, LifecycleDeclarationError)
    assert "attributes.name: model names ['churn-eu', 'churn_eu'] map to the same Dagster prefix 'churn_eu'" in str(error)


BAD_ATTRIBUTES = [
    # (case, line replaced, replacement, attribute named, what the message says)
    ("unknown function", "fraud.train_fraud_classifier", "fraud.train_fraud_classifer", "train",
     "'registry_pipelines.fraud.train_fraud_classifer' does not resolve: module 'registry_pipelines.fraud' has no 'train_fraud_classifer'"),
    ("unknown module", "registry_pipelines.fraud.load_transactions", "registry_pipelines.frauds.load_transactions",
     "load_data", "does not resolve: no module named 'registry_pipelines.frauds'"),
    ("colon path", "fraud.fraud_expectations", "fraud:fraud_expectations", "expectations",
     "is not an import path like package.module.function; write module.function with a dot"),
    ("not callable", "fraud.train_fraud_classifier", "fraud.FRAUD_MODEL", "train",
     "'registry_pipelines.fraud.FRAUD_MODEL' is a str, not a function"),
    ("wrong signature", "fraud.train_fraud_classifier", "fraud.load_transactions", "train",
     "cannot be called as load_transactions(features, target, params)"),
    ("gate operator", '{op: ">="', '{op: "=>"', "metric_gates.roc_auc.op", "'=>' is not one of >=, >, <=, <"),
    ("gate threshold", "threshold: 0.8", "threshold: high", "metric_gates.roc_auc.threshold", "expected a number, got 'high'"),
    ("name", "name: churn", "name: churn model!", "name", "invalid model name 'churn model!'"),
    ("negative tolerance", "shadow_tolerance: 0.01", "shadow_tolerance: -0.01", "shadow_tolerance",
     "must be at least 0, got -0.01"),
    ("sensor interval", "shadow_tolerance: 0.01", "sensor_interval_seconds: 0", "sensor_interval_seconds",
     "must be at least 1, got 0"),
    ("secret in YAML", "shadow_tolerance: 0.01",
     "deploy_targets:\n  - {url: 'http://127.0.0.1:9/', bearer_token_env: 'Bearer abc.def'}",
     "deploy_targets[0].bearer_token_env", "expected the name of an environment variable (never the secret itself)"),
    ("url and command", "shadow_tolerance: 0.01",
     "deploy_targets:\n  - {url: 'http://127.0.0.1:9/', command: deploy-model}", "deploy_targets[0]",
     "a deploy target is a url or a command, not both"),
    ("url scheme", "shadow_tolerance: 0.01", "deploy_targets:\n  - {url: 'ftp://serving/'}", "deploy_targets[0]",
     "deploy URL 'ftp://serving/' must start with http:// or https://"),
    ("unknown framework", "shadow_tolerance: 0.01", "framework: catboost", "framework",
     "unknown framework 'catboost'; choose one of: sklearn, lightgbm, xgboost, onnx"),
    ("framework spelled as the library", "shadow_tolerance: 0.01", "framework: scikit-learn", "framework",
     "unknown framework 'scikit-learn'; choose one of: sklearn, lightgbm, xgboost, onnx"),
]


@pytest.mark.parametrize(
    ("old", "new", "attribute", "message"), [case[1:] for case in BAD_ATTRIBUTES], ids=[case[0] for case in BAD_ATTRIBUTES]
)
def test_a_bad_attribute_is_refused_in_one_line_naming_its_file_line_and_attribute(project, old, new, attribute, message):
    """The error a team reads: `<package>/defs/<model>/defs.yaml:LINE: attributes.<attribute>: <what is wrong>`."""
    assert old in DECLARATION
    declared = project.declare("churn", DECLARATION.replace(old, new, 1))
    with pytest.raises(Exception) as raised:
        project.load()
    error = str(cause(raised.value, LifecycleDeclarationError))
    assert "\n" not in error
    location, _, rest = error.partition(": attributes.")
    path, _, line = location.rpartition(":")
    assert path == project.relative("churn")
    pointed = declared.read_text().splitlines()[int(line) - 1]
    assert any(part.strip() in pointed for part in new.splitlines() if part.strip() != "deploy_targets:")
    assert rest.startswith(f"{attribute}: ")
    assert message in rest


def test_a_framework_whose_extra_is_missing_is_refused_in_one_line_naming_the_extra(project, monkeypatch):
    """framework: lightgbm without LightGBM installed: the line says which pip extra adds it."""
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # what an environment without the package looks like to find_spec
    declared = project.declare("churn", DECLARATION + "framework: lightgbm\n")
    with pytest.raises(Exception) as raised:
        project.load()
    error = str(cause(raised.value, LifecycleDeclarationError))
    line = declared.read_text().splitlines().index("  framework: lightgbm") + 1
    assert error == (
        f"{project.relative('churn')}:{line}: attributes.framework: a lifecycle with framework lightgbm needs the "
        "[lightgbm] extra: pip install 'dagster-model-registry[lightgbm]'"
    )


def test_the_framework_defaults_to_scikit_learn_and_sets_the_assets_kind(project):
    """No framework: sklearn, stored with skops; framework: xgboost gives the assets XGBoost's kind."""
    assert ModelLifecycle.resolve_from_yaml(DECLARATION).pipeline().framework == "sklearn"
    project.declare("churn", DECLARATION + "framework: xgboost\n")
    graph = project.load().get_repository_def().asset_graph
    kinds = {key.to_user_string(): graph.get(key).kinds for key in graph.get_all_asset_keys()}
    assert kinds["churn/candidate_model"] == kinds["churn/model_version"] == {"xgboost"}
    assert kinds["churn/training_data"] == {"pandas"}


def test_a_missing_attribute_is_named_with_its_file(project):
    """Dagster's schema check names a required attribute that is not declared, and where."""
    project.declare("churn", DECLARATION.replace("train: registry_pipelines.fraud.train_fraud_classifier\n", ""))
    with pytest.raises(Exception) as raised:
        project.load()
    error = str(cause(raised.value, ValueError))
    assert f"attributes.train at {project.root / project.relative('churn')}:" in error
    assert "Field required" in error


def test_an_optional_deploy_target_whose_variable_is_unset_is_left_out(project, monkeypatch):
    """`{{ env.NAME }}` unset leaves the target out; set, it is the target, with the bearer token from its variable."""
    monkeypatch.delenv("CHURN_DEPLOY_URL", raising=False)
    monkeypatch.setenv("CHURN_DEPLOY_TOKEN", "t0ken")
    targets = "deploy_targets:\n  - {url: '{{ env.CHURN_DEPLOY_URL }}', bearer_token_env: CHURN_DEPLOY_TOKEN}\n"
    component = ModelLifecycle.resolve_from_yaml(DECLARATION + targets)
    assert component.pipeline().deploy_targets == ()
    monkeypatch.setenv("CHURN_DEPLOY_URL", "http://127.0.0.1:9/deploy")
    [target] = ModelLifecycle.resolve_from_yaml(DECLARATION + targets).pipeline().deploy_targets
    assert (target.url, dict(target.headers)) == ("http://127.0.0.1:9/deploy", {"Authorization": "Bearer t0ken"})


# --- the dg command line ---------------------------------------------------------------------------


def dg(*arguments: str, cwd: Path, tmp_path: Path, pythonpath: list[Path]) -> subprocess.CompletedProcess[str]:
    """``dg`` as a team runs it from a project's root, on a throwaway Dagster instance (telemetry off)."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    # VIRTUAL_ENV as activating the environment sets it: dg warns when it differs from the project's .venv.
    env = {**os.environ, "DAGSTER_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200", "VIRTUAL_ENV": sys.prefix}
    env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run([str(DG), *arguments], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def test_dg_lists_the_fraud_detector_jobs(tmp_path):
    """`dg list defs --json` from the repository's root sees the YAML-declared lifecycle."""
    result = dg("list", "defs", "--json", cwd=ROOT, tmp_path=tmp_path, pythonpath=[ROOT])
    assert result.returncode == 0, result.stdout + result.stderr
    listed = json.loads(result.stdout)
    jobs = {job[0] for job in summary(defs)["jobs"] if not job[0].startswith("__")}  # not Dagster's implicit asset job
    assert {job["name"] for job in listed["jobs"]} == jobs
    assert {sensor["name"] for sensor in listed["sensors"]} == {sensor[0] for sensor in summary(defs)["sensors"]}


def test_dg_check_defs_accepts_the_project(tmp_path):
    result = dg("check", "defs", cwd=ROOT, tmp_path=tmp_path, pythonpath=[ROOT])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully." in result.stdout


def test_dg_check_defs_names_a_missing_attribute_in_one_line(project, tmp_path):
    project.declare("churn", DECLARATION.replace("train: registry_pipelines.fraud.train_fraud_classifier\n", ""))
    result = dg("check", "defs", cwd=project.root, tmp_path=tmp_path, pythonpath=[project.root, ROOT])
    assert result.returncode == 1
    expected = f"{project.root / project.relative('churn')}:3 - registry_pipelines.component.ModelLifecycle attributes 'train' is a required property"
    assert expected in result.stdout + result.stderr


def test_dg_lists_the_component(tmp_path):
    result = dg("list", "components", "--json", cwd=ROOT, tmp_path=tmp_path, pythonpath=[ROOT])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "registry_pipelines.component.ModelLifecycle" in {item["key"] for item in json.loads(result.stdout)["items"]}

"""A model lifecycle declared in YAML: the ``ModelLifecycle`` Dagster component.

A team's ``defs.yaml`` names the model, the functions that load, train and
evaluate it (as dotted import paths, the convention of ``type:``), its gates,
tolerance, schedule and deploy targets. The component turns that into the
:class:`ModelPipeline` the Python API takes, and into the same definitions.

Every value is checked before anything is built; a wrong one raises
:class:`LifecycleDeclarationError`, one line naming the file and the
attribute (``.../defs.yaml:11: attributes.train: ...``).
"""

# No `from __future__ import annotations`: Dagster derives the YAML schema from these dataclasses' field types.

import importlib
import inspect
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg
from dagster_shared.yaml_utils.source_position import SourcePositionTree

from registry_core import MissingExtra, RegistryError
from registry_core.validation import validate_name
from registry_lifecycle.frameworks import FRAMEWORKS, framework_named

from .deploy import CommandDeployTarget, DeployTarget, HttpDeployTarget
from .factory import build_model_definitions
from .model_pipeline import GATE_OPERATORS, MetricGate, ModelPipeline, dagster_prefix

__all__ = ["DeployTargetDeclaration", "GateDeclaration", "LifecycleDeclarationError", "ModelLifecycle"]

_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PIPELINE_DEFAULTS = {f.name: f.default for f in fields(ModelPipeline) if f.default is not MISSING}


KeyPath = tuple[str | int, ...]


class LifecycleDeclarationError(ValueError):
    """A ``ModelLifecycle`` attribute is wrong; the one-line message names it (and where it is declared)."""

    def __init__(self, path: KeyPath | str, problem: str, where: str | None = None) -> None:
        self.path = (path,) if isinstance(path, str) else path
        self.problem, self.where = problem, where
        super().__init__(f"{where + ': ' if where else ''}attributes.{self.attribute}: {problem}")

    @property
    def attribute(self) -> str:
        """The attribute as YAML spells its path: ``metric_gates.roc_auc.op``, ``deploy_targets[0].url``."""
        return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in self.path).lstrip(".")

    def at(self, where: str) -> "LifecycleDeclarationError":
        return LifecycleDeclarationError(self.path, self.problem, where)


def _doc(description: str, *examples: Any) -> dg.Resolver:
    return dg.Resolver.default(description=description, examples=list(examples) or None)


@dataclass
class GateDeclaration(dg.Resolvable):
    """A threshold one metric must meet before Staging: ``{op: ">=", threshold: 0.85}``."""

    op: Annotated[Literal[">=", ">", "<=", "<"], _doc("Comparison; quote it in YAML.", ">=")]
    threshold: Annotated[float, _doc("The value the metric is compared with.", 0.85)]


@dataclass
class DeployTargetDeclaration(dg.Resolvable):
    """Where a Production change is announced: an HTTP endpoint (``url``) or a command (``command``).

    Secrets never go in YAML: ``bearer_token_env`` names the environment variable
    holding the token. A ``url`` or ``command`` that renders empty (``{{ env.NAME }}``
    with NAME unset) leaves the target out; ``{{ env('NAME') }}`` makes it required.
    """

    url: Annotated[str | None, _doc("POST the change as JSON here.", "{{ env.FRAUD_DETECTOR_DEPLOY_URL }}")] = None
    command: Annotated[str | None, _doc("Run this (no shell), the change as JSON on stdin.", "deploy-model --to prod")] = None
    bearer_token_env: Annotated[
        str | None, _doc("Environment variable whose value the URL target sends as its bearer token.", "REGISTRY_RELOAD_SECRET")
    ] = None
    timeout_seconds: Annotated[float | None, _doc("The whole call's deadline, in seconds.")] = None


@dataclass
class ModelLifecycle(dg.Component, dg.Resolvable):
    """A model's governed lifecycle: retrain, validate, shadow-evaluate, approve, promote, redeploy, roll back.

    Builds the same assets, checks, jobs, sensors and schedule as
    ``build_model_definitions(ModelPipeline(...))``, named after the model.
    """

    name: Annotated[str, _doc("The registry's model name; Dagster names are prefixed with it.", "fraud-detector")]
    target: Annotated[str, _doc("The label column in the data set.", "is_fraud")]
    load_data: Annotated[str, _doc("() -> pandas.DataFrame: the training data.", "registry_pipelines.fraud.load_transactions")]
    train: Annotated[
        str, _doc("(features, target, params) -> fitted model of the framework.", "registry_pipelines.fraud.train_fraud_classifier")
    ]
    expectations: Annotated[
        str, _doc("() -> Great Expectations expectations the data must meet.", "registry_pipelines.fraud.fraud_expectations")
    ]
    description: str | None = None
    framework: Annotated[
        str, _doc(f"What train returns, stored in its own format: {', '.join(FRAMEWORKS)}; needs its pip extra.", "lightgbm")
    ] = _PIPELINE_DEFAULTS["framework"]
    load_evaluation_data: Annotated[
        str | None, _doc("() -> recent labelled data for validation and shadow evaluation; default: a holdout.")
    ] = None
    evaluate: Annotated[str | None, _doc("(estimator, features, target) -> metrics; default: binary classification.")] = None
    params: Annotated[dict[str, Any], _doc("Default training parameters.", {"n_estimators": 40})] = field(default_factory=dict)
    metric_gates: Annotated[
        dict[str, GateDeclaration], _doc("Metric name -> gate.", {"roc_auc": {"op": ">=", "threshold": 0.85}})
    ] = field(default_factory=dict)
    shadow_tolerance: Annotated[float, _doc("How far a gated metric may trail Production's.")] = _PIPELINE_DEFAULTS[
        "shadow_tolerance"
    ]
    holdout_fraction: float = _PIPELINE_DEFAULTS["holdout_fraction"]
    split_seed: int = _PIPELINE_DEFAULTS["split_seed"]
    retrain_cron: Annotated[str, _doc("When to retrain (UTC).", "0 3 * * *")] = _PIPELINE_DEFAULTS["retrain_cron"]
    retrain_schedule_running: bool = _PIPELINE_DEFAULTS["retrain_schedule_running"]
    sensor_interval_seconds: int = _PIPELINE_DEFAULTS["sensor_interval_seconds"]
    deploy_targets: list[DeployTargetDeclaration] = field(default_factory=list)
    deploy_attempts: int = _PIPELINE_DEFAULTS["deploy_attempts"]
    deploy_backoff_seconds: float = _PIPELINE_DEFAULTS["deploy_backoff_seconds"]
    code_version: str | None = None

    def pipeline(self) -> ModelPipeline:
        """The declared :class:`ModelPipeline`; raises :class:`LifecycleDeclarationError` at the first wrong attribute."""
        settings: dict[str, Any] = {
            "name": _model_name(self.name),
            "description": _optional_text("description", self.description),
            "target": _text("target", self.target),
            "framework": _framework(self.framework),
            "load_data": _function("load_data", self.load_data, "()"),
            "train": _function("train", self.train, "(features, target, params)"),
            "expectations": _function("expectations", self.expectations, "()"),
            "params": _mapping("params", self.params),
            "metric_gates": _gates(self.metric_gates),
            "shadow_tolerance": _number("shadow_tolerance", self.shadow_tolerance, at_least=0),
            "holdout_fraction": _number("holdout_fraction", self.holdout_fraction, above=0, below=1),
            "split_seed": _number("split_seed", self.split_seed, integer=True),
            "retrain_cron": _text("retrain_cron", self.retrain_cron),
            "retrain_schedule_running": _flag("retrain_schedule_running", self.retrain_schedule_running),
            "sensor_interval_seconds": _number("sensor_interval_seconds", self.sensor_interval_seconds, integer=True, at_least=1),
            "deploy_targets": _targets(self.deploy_targets),
            "deploy_attempts": _number("deploy_attempts", self.deploy_attempts, integer=True, at_least=1),
            "deploy_backoff_seconds": _number("deploy_backoff_seconds", self.deploy_backoff_seconds, at_least=0),
            "code_version": _optional_text("code_version", self.code_version),
        }
        if self.load_evaluation_data is not None:
            settings["load_evaluation_data"] = _function("load_evaluation_data", self.load_evaluation_data, "()")
        if self.evaluate is not None:
            settings["evaluate"] = _function("evaluate", self.evaluate, "(estimator, features, target)")
        return ModelPipeline(**settings)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        try:
            pipeline = self.pipeline()
            _refuse_prefix_clash(self, pipeline, context)
        except LifecycleDeclarationError as exc:
            where = _declared_at(context, exc)
            raise (exc.at(where) if where else exc) from None
        return build_model_definitions(pipeline)


def _declared_at(context: dg.ComponentLoadContext, error: LifecycleDeclarationError) -> str | None:
    """``path/to/defs.yaml:LINE`` of the attribute (or the nearest thing declared), relative to the project."""
    tree = _source_positions(context)
    if tree is None:
        return None
    position = tree.lookup_closest_and_path(["attributes", *error.path], None)[0]
    path = Path(position.filename)
    if path.is_relative_to(context.project_root):
        path = path.relative_to(context.project_root)
    return f"{path}:{position.start.line}"


def _source_positions(context: dg.ComponentLoadContext) -> SourcePositionTree | None:
    """Where each value of the component's ``defs.yaml`` was written; None for a component not declared in YAML."""
    source = getattr(context.component_decl, "source_tree", None)
    tree = getattr(source, "source_position_tree", None)
    return tree if isinstance(tree, SourcePositionTree) else None


def _refuse_prefix_clash(component: ModelLifecycle, pipeline: ModelPipeline, context: dg.ComponentLoadContext) -> None:
    """Two declarations whose names give the same Dagster prefix would define the same jobs and assets."""
    if _source_positions(context) is None:
        return  # not declared in a defs folder (built on its own, by build_defs_for_component): it has no siblings
    others = [c for c in context.component_tree.get_all_components(of_type=ModelLifecycle) if c is not component]
    clashing = sorted({c.name for c in others if isinstance(c.name, str) and dagster_prefix(c.name) == pipeline.prefix})
    if clashing:
        names = sorted({pipeline.name, *clashing})
        raise LifecycleDeclarationError(
            "name", f"model names {names} map to the same Dagster prefix {pipeline.prefix!r}: rename one of them"
        )


def _framework(value: Any) -> str:
    try:
        framework = framework_named(value)
        framework.require()
    except (ValueError, MissingExtra) as exc:
        raise LifecycleDeclarationError("framework", str(exc)) from None
    return framework.name


def _model_name(value: Any) -> str:
    try:
        return validate_name(value)
    except RegistryError as exc:
        raise LifecycleDeclarationError("name", str(exc)) from None


def _text(attribute: KeyPath | str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LifecycleDeclarationError(attribute, f"expected a non-empty string, got {value!r}")
    return value


def _optional_text(attribute: KeyPath | str, value: Any) -> str | None:
    return None if value is None else _text(attribute, value)


def _flag(attribute: KeyPath | str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise LifecycleDeclarationError(attribute, f"expected true or false, got {value!r}")
    return value


def _mapping(attribute: KeyPath | str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise LifecycleDeclarationError(attribute, f"expected a mapping, got {value!r}")
    return dict(value)


def _number(
    attribute: KeyPath | str, value: Any, *, integer: bool = False, at_least: float | None = None,
    above: float | None = None, below: float | None = None,
) -> Any:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise LifecycleDeclarationError(attribute, f"expected {'an integer' if integer else 'a number'}, got {value!r}")
    if at_least is not None and value < at_least:
        raise LifecycleDeclarationError(attribute, f"must be at least {at_least:g}, got {value!r}")
    if above is not None and value <= above:
        raise LifecycleDeclarationError(attribute, f"must be greater than {above:g}, got {value!r}")
    if below is not None and value >= below:
        raise LifecycleDeclarationError(attribute, f"must be less than {below:g}, got {value!r}")
    return value


def _function(attribute: str, path: Any, signature: str) -> Callable[..., Any]:
    """The callable at a dotted import path (``package.module.function``), called as ``signature`` shows."""
    if not isinstance(path, str) or not _IMPORT_PATH.fullmatch(path):
        hint = "; write module.function with a dot, as in `type:`" if isinstance(path, str) and ":" in path else ""
        raise LifecycleDeclarationError(attribute, f"{path!r} is not an import path like package.module.function{hint}")
    module_name, _, name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise LifecycleDeclarationError(attribute, f"{path!r} does not resolve: no module named {exc.name!r}") from None
        raise LifecycleDeclarationError(attribute, f"importing {module_name!r} for {path!r} failed: {exc}") from exc
    except Exception as exc:
        raise LifecycleDeclarationError(
            attribute, f"importing {module_name!r} for {path!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    if not hasattr(module, name):
        raise LifecycleDeclarationError(attribute, f"{path!r} does not resolve: module {module_name!r} has no {name!r}")
    found = getattr(module, name)
    if not callable(found):
        raise LifecycleDeclarationError(attribute, f"{path!r} is a {type(found).__name__}, not a function")
    arguments = signature.strip("()").split(", ") if signature != "()" else []
    try:
        inspect.signature(found).bind(*arguments)
    except TypeError:
        raise LifecycleDeclarationError(
            attribute, f"{path!r} cannot be called as {name}{signature}: its signature is {inspect.signature(found)}"
        ) from None
    except ValueError:  # no signature to inspect (some builtins): trust it
        pass
    return found


def _gates(declared: Any) -> dict[str, tuple[str, float]]:
    gates: dict[str, tuple[str, float]] = {}
    for metric, gate in _mapping("metric_gates", declared).items():
        where = ("metric_gates", metric)
        if not isinstance(gate, GateDeclaration):
            raise LifecycleDeclarationError(where, f"expected {{op: '>=', threshold: 0.85}}, got {gate!r}")
        if gate.op not in GATE_OPERATORS:
            raise LifecycleDeclarationError((*where, "op"), f"{gate.op!r} is not one of {', '.join(GATE_OPERATORS)}")
        threshold = _number((*where, "threshold"), gate.threshold)
        gates[str(metric)] = (gate.op, float(threshold))
    checks = [MetricGate(metric, op, threshold).check_name for metric, (op, threshold) in gates.items()]
    if len(set(checks)) != len(checks):
        raise LifecycleDeclarationError("metric_gates", f"metric names map to clashing check names: {checks}")
    return gates


def _targets(declared: Any) -> tuple[DeployTarget, ...]:
    if not isinstance(declared, list | tuple):
        raise LifecycleDeclarationError("deploy_targets", f"expected a list, got {declared!r}")
    targets: list[DeployTarget] = []
    for index, target in enumerate(declared):
        where = ("deploy_targets", index)
        url, command = (target.url or None), (target.command or None)
        if url and command:
            raise LifecycleDeclarationError(where, "a deploy target is a url or a command, not both: declare two targets")
        if not (url or command):
            continue  # rendered empty: an optional target whose variable is unset
        timeout = {} if target.timeout_seconds is None else {
            "timeout_seconds": _number((*where, "timeout_seconds"), target.timeout_seconds, above=0)
        }
        try:
            if command:
                if target.bearer_token_env:
                    raise LifecycleDeclarationError((*where, "bearer_token_env"), "only a url target sends a bearer token")
                targets.append(CommandDeployTarget(_text((*where, "command"), command), **timeout))
            else:
                targets.append(HttpDeployTarget(_text((*where, "url"), url), headers=_bearer(where, target), **timeout))
        except ValueError as exc:
            if isinstance(exc, LifecycleDeclarationError):
                raise
            raise LifecycleDeclarationError(where, str(exc)) from None
    return tuple(targets)


def _bearer(where: KeyPath, target: DeployTargetDeclaration) -> dict[str, str]:
    variable = target.bearer_token_env
    if variable is None:
        return {}
    if not isinstance(variable, str) or not _ENV_NAME.fullmatch(variable):
        raise LifecycleDeclarationError(
            (*where, "bearer_token_env"), "expected the name of an environment variable (never the secret itself)"
        )
    secret = os.environ.get(variable)
    return {"Authorization": f"Bearer {secret}"} if secret else {}

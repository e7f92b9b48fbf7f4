"""What a team declares to get a governed model lifecycle in Dagster: one :class:`ModelPipeline`."""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dagster import AssetKey

from registry_core.validation import validate_name
from registry_lifecycle.evaluation import binary_classification_metrics
from registry_lifecycle.frameworks import Framework, framework_named
from registry_lifecycle.metric_gates import DATA_QUALITY_CHECK, GATE_OPERATORS, SHADOW_CHECK, MetricGate

if TYPE_CHECKING:
    import pandas as pd

    from .deploy import DeployTarget

__all__ = [
    "DATA_QUALITY_CHECK",
    "GATE_OPERATORS",
    "SHADOW_CHECK",
    "MetricGate",
    "ModelPipeline",
    "dagster_prefix",
]

_NOT_IN_DAGSTER_NAME = re.compile(r"[^A-Za-z0-9_]+")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]+")


def dagster_prefix(model: str) -> str:
    """A model name as a Dagster name (letters, digits, ``_``): the prefix of every definition the model gets.

    A name of letters, digits, ``-`` and ``_`` maps as it always has, each
    ``-`` becoming ``_`` (``fraud-detector`` → ``fraud_detector``). Any other
    name MLflow allows (spaces, ``. + ( ) [ ] ,``) has each run of those
    characters made one ``_``, the ends trimmed, and the first 8 hex digits of
    the name's SHA-256 appended, so names that differ only in punctuation get
    different prefixes: ``Fraud Model (EU)`` → ``Fraud_Model_EU_<digest>``.
    The mapping depends on the name alone; the name itself, as given, is what
    descriptions, tags and metadata show.
    """
    if _PLAIN_NAME.fullmatch(model):
        return model.replace("-", "_")
    readable = _NOT_IN_DAGSTER_NAME.sub("_", model).strip("_") or "model"
    return f"{readable}_{hashlib.sha256(model.encode()).hexdigest()[:8]}"


DataLoader = Callable[[], "pd.DataFrame"]
#: (features, target, params) -> a fitted estimator with ``predict`` (and ideally ``predict_proba``).
Trainer = Callable[["pd.DataFrame", "pd.Series", Mapping[str, Any]], Any]
#: (estimator, features, target) -> metrics by name.
Evaluator = Callable[[Any, "pd.DataFrame", "pd.Series"], Mapping[str, float]]
#: () -> fresh Great Expectations 1.x expectation objects.
ExpectationsBuilder = Callable[[], Sequence[Any]]


@dataclass(frozen=True, eq=False)
class ModelPipeline:
    """One model's lifecycle: where its data comes from, how it trains, and what it must pass.

    ``build_model_definitions(pipeline)`` turns it into assets, checks, jobs,
    sensors and a schedule whose names start with :attr:`prefix`, so several
    models live side by side in one code location.
    """

    #: The registry's model name.
    name: str
    #: Returns the training data set, features and target column together.
    load_data: DataLoader
    #: The target column in the data set.
    target: str
    #: Returns a fitted model of :attr:`framework` (for LightGBM or XGBoost, the booster's scikit-learn wrapper).
    train: Trainer
    #: Builds the Great Expectations suite that training and evaluation data must pass.
    expectations: ExpectationsBuilder
    #: Thresholds a candidate's evaluation metrics must meet before Staging, e.g. ``{"roc_auc": (">=", 0.8)}``.
    metric_gates: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    #: Default training parameters; a retrain run's config may override them.
    params: Mapping[str, Any] = field(default_factory=dict)
    evaluate: Evaluator = binary_classification_metrics
    #: Recent labelled data for validation and shadow evaluation; ``None`` uses the training data's holdout.
    load_evaluation_data: DataLoader | None = None
    holdout_fraction: float = 0.25
    split_seed: int = 0
    #: How far a gated metric may fall behind the Production version's in shadow evaluation.
    shadow_tolerance: float = 0.01
    retrain_cron: str = "0 3 * * *"
    retrain_schedule_running: bool = True
    deploy_targets: Sequence[DeployTarget] = ()
    deploy_attempts: int = 4
    deploy_backoff_seconds: float = 0.5
    sensor_interval_seconds: int = 15
    #: Lineage's code version; by default a digest of the training function's source.
    code_version: str | None = None
    description: str | None = None
    #: What ``train`` trains with: ``sklearn`` (stored with skops), ``lightgbm``, ``xgboost`` or ``onnx`` (each
    #: stored in its own format); the framework's pip extra must be installed.
    framework: str = "sklearn"

    def __post_init__(self) -> None:
        validate_name(self.name)
        framework_named(self.framework).require()
        if not 0 < self.holdout_fraction < 1:
            raise ValueError("holdout_fraction must be between 0 and 1")
        if self.shadow_tolerance < 0:
            raise ValueError("shadow_tolerance cannot be negative")
        if self.deploy_attempts < 1:
            raise ValueError("deploy_attempts must be at least 1")
        if self.sensor_interval_seconds < 1:
            raise ValueError("sensor_interval_seconds must be at least 1")
        checks = [gate.check_name for gate in self.gates]
        if len(set(checks)) != len(checks):
            raise ValueError(f"metric gates map to clashing check names: {checks}")

    @property
    def gates(self) -> tuple[MetricGate, ...]:
        return tuple(MetricGate(metric, op, float(threshold)) for metric, (op, threshold) in self.metric_gates.items())

    @property
    def trained_with(self) -> Framework:
        """The declared :attr:`framework`: its extra, storage format and Dagster kind."""
        return framework_named(self.framework)

    @property
    def prefix(self) -> str:
        """The model's name as a Dagster name: the prefix of every definition it gets."""
        return dagster_prefix(self.name)

    def asset_key(self, asset: str) -> AssetKey:
        return AssetKey([self.prefix, asset])

    def job_name(self, job: str) -> str:
        return f"{self.prefix}_{job}"

    def op_name(self, op: str) -> str:
        return f"{self.prefix}__{op}"

    @property
    def staging_checks(self) -> tuple[str, ...]:
        """Checks the validation job records, and the registry's policy requires, before Staging."""
        return (DATA_QUALITY_CHECK, *(gate.check_name for gate in self.gates))

    @property
    def production_checks(self) -> tuple[str, ...]:
        """Checks the policy requires before Production."""
        return (SHADOW_CHECK,)

    def evaluation_data(self) -> pd.DataFrame:
        """The rows validation and shadow evaluation score on: the evaluation loader's, else the training holdout."""
        if self.load_evaluation_data is not None:
            return self.load_evaluation_data()
        from registry_lifecycle.datasets import holdout_split

        _, holdout = holdout_split(self.load_data(), self.target, fraction=self.holdout_fraction, seed=self.split_seed)
        return holdout

    @property
    def training_code_version(self) -> str:
        if self.code_version:
            return self.code_version
        try:
            source = inspect.getsource(self.train)
        except (OSError, TypeError):
            source = getattr(self.train, "__qualname__", repr(self.train))
        return hashlib.sha256(source.encode()).hexdigest()[:12]

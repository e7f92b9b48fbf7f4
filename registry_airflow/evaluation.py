"""Validation and shadow evaluation as Airflow operators, on the lifecycle steps both orchestrators share.

The suites, gates and comparison are :mod:`registry_lifecycle`'s, so a version
validated by Airflow meets the same bar as one validated by Dagster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from registry_core import NotFound, Stage

from .lineage import AirflowLineage
from .operators import RegistryOperator
from .refusals import RegistryRefusal, registry_refusals

__all__ = ["ShadowEvaluateOperator", "ValidateCandidateOperator"]


class _EvaluationOperator(RegistryOperator):
    template_fields: Sequence[str] = ("version",)

    def __init__(
        self, *, version: int | str, load_evaluation_data: Callable[[], Any], target: str,
        metric_gates: Mapping[str, tuple[str, float]], evaluate: Callable[[Any, Any, Any], Mapping[str, float]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        from registry_lifecycle.metric_gates import MetricGate

        self.version = version
        self.load_evaluation_data = load_evaluation_data
        self.target = target
        self.gates = tuple(MetricGate(metric, op, float(threshold)) for metric, (op, threshold) in metric_gates.items())
        self.evaluate = evaluate

    def scorer(self) -> Callable[[Any, Any, Any], Mapping[str, float]]:
        from registry_lifecycle.evaluation import binary_classification_metrics

        return self.evaluate or binary_classification_metrics


class ValidateCandidateOperator(_EvaluationOperator):
    """Run the expectation suite and metric gates on evaluation data, record each as a check; all passing moves the version to Staging."""

    def __init__(self, *, expectations: Callable[[], Sequence[Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.expectations = expectations

    def execute(self, context: Any) -> int:
        from registry_lifecycle.datasets import dataset_digest, features_and_target
        from registry_lifecycle.evaluation import judge_gates
        from registry_lifecycle.expectations import run_expectations
        from registry_lifecycle.metric_gates import DATA_QUALITY_CHECK

        lineage = AirflowLineage.of(context)
        with registry_refusals(), self.hook.registry() as registry:
            version = registry.get_version(self.model_name, self.version)
            if version.stage is not Stage.NONE:
                self.log.info("%s is already in %s: nothing to validate", version.uri, version.stage)
                return version.version
            model = registry.load_model(version.uri)
            frame = self.load_evaluation_data()
            provenance = {"evaluation_data": dataset_digest(frame), "rows": len(frame), "source": lineage.describe()}
            report = run_expectations(frame, self.expectations(), suite=self.model_name)
            registry.record_check(self.model_name, version.version, DATA_QUALITY_CHECK, passed=report.success,
                                  details={**report.details(), **provenance})
            self.log.info(report.summary())
            if not report.success:
                raise RegistryRefusal(f"{version.uri} stays out of Staging: {DATA_QUALITY_CHECK} failed: {report.summary()}")
            features, target = features_and_target(frame, self.target)
            metrics = dict(self.scorer()(model, features, target))
            results = judge_gates(self.gates, metrics)
            for result in results:
                registry.record_check(self.model_name, version.version, result.gate.check_name, passed=result.passed,
                                      details={**result.details(), "metrics": metrics, **provenance})
                self.log.info("%s: %s", result.gate.check_name, result.describe())
            failed = [f"{r.gate.check_name} failed: {r.describe()}" for r in results if not r.passed]
            if failed:
                raise RegistryRefusal(f"{version.uri} stays out of Staging: " + "; ".join(failed))
            registry.transition(self.model_name, version.version, Stage.STAGING,
                                reason=f"validation passed in {lineage.describe()}")
        return version.version


class ShadowEvaluateOperator(_EvaluationOperator):
    """Score the Staging version beside the Production version on the same rows; record the comparison as a check."""

    def __init__(self, *, shadow_tolerance: float = 0.01, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shadow_tolerance = shadow_tolerance

    def execute(self, context: Any) -> int:
        from registry_lifecycle.datasets import dataset_digest, features_and_target
        from registry_lifecycle.evaluation import shadow_compare
        from registry_lifecycle.metric_gates import SHADOW_CHECK

        with registry_refusals(), self.hook.registry() as registry:
            version = registry.get_version(self.model_name, self.version)
            if version.stage is not Stage.STAGING:
                raise RegistryRefusal(f"{version.uri} is in {version.stage}, not Staging: nothing to shadow-evaluate")
            try:
                production = registry.resolve(f"models:/{self.model_name}/Production")
            except NotFound:
                production = None
            candidate = registry.load_model(version.uri)
            serving = registry.load_model(production.uri) if production else None
            frame = self.load_evaluation_data()
            features, target = features_and_target(frame, self.target)
            report = shadow_compare(
                candidate=candidate, candidate_version=version.version, production=serving,
                production_version=production.version if production else None, features=features, target=target,
                evaluate=self.scorer(), gates=self.gates, tolerance=self.shadow_tolerance,
            )
            details = {**report.details(), "evaluation_data": dataset_digest(frame),
                       "source": AirflowLineage.of(context).describe()}
            registry.record_check(self.model_name, version.version, SHADOW_CHECK, passed=report.passed, details=details)
        self.log.info(report.summary())
        if not report.passed:
            raise RegistryRefusal(f"{version.uri} failed shadow evaluation: {report.summary()}")
        return version.version

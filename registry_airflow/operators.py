"""Operators for the lifecycle on the catalog: register, record a check, promote, roll back.

Each step is one registry call, so one transaction with its audit event; the
registry's refusals fail the task with its reason (:mod:`.refusals`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import BaseOperator

from registry_core import StageChange

from .assets import production_asset
from .hook import RegistryHook
from .lineage import AirflowLineage
from .refusals import RegistryRefusal, registry_refusals

__all__ = [
    "Candidate",
    "CheckOutcome",
    "PromoteOperator",
    "RecordCheckOperator",
    "RegisterModelOperator",
    "RollbackOperator",
]


@dataclass(frozen=True)
class Candidate:
    """What a training callable hands the register step: the fitted estimator and what it was made from."""

    estimator: Any
    dataset_digest: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    signature: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict and what explains it."""

    passed: bool
    details: Mapping[str, Any] = field(default_factory=dict)


class RegistryOperator(BaseOperator):
    """An operator on one model of the catalog behind ``registry_conn_id``."""

    def __init__(self, *, model_name: str, registry_conn_id: str = RegistryHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_name = model_name
        self.registry_conn_id = registry_conn_id

    @property
    def hook(self) -> RegistryHook:
        return RegistryHook(self.registry_conn_id)


class RegisterModelOperator(RegistryOperator):
    """Train with ``python_callable`` and register the result as the model's next version; returns its number.

    Lineage: the registry's run id is the DAG run's, the tags name the DAG, run
    and task, and the candidate brings its data set digest. ``staging_checks``
    and ``production_checks`` are added to the model's policy (never removed).
    """

    def __init__(
        self, *, python_callable: Callable[[], Candidate], staging_checks: Sequence[str] = (),
        production_checks: Sequence[str] = (), description: str | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.staging_checks = tuple(staging_checks)
        self.production_checks = tuple(production_checks)
        self.description = description

    def execute(self, context: Any) -> int:
        from registry_lifecycle.required_checks import require_checks

        candidate = self.python_callable()
        if not isinstance(candidate, Candidate):
            raise RegistryRefusal(f"{self.task_id}: the training callable returned a {type(candidate).__name__}, not a Candidate")
        lineage = AirflowLineage.of(context)
        with registry_refusals(), self.hook.registry() as registry:
            if self.staging_checks or self.production_checks:
                require_checks(registry, self.model_name, description=self.description,
                               staging_checks=self.staging_checks, production_checks=self.production_checks)
            version = registry.register(
                self.model_name, candidate.estimator, run_id=lineage.run_id, dataset_digest=candidate.dataset_digest,
                params=candidate.params, metrics=candidate.metrics, signature=candidate.signature,
                tags=lineage.tags, description=f"trained by {lineage.describe()}",
            )
        self.log.info("Registered %s", version.uri)
        return version.version


class RecordCheckOperator(RegistryOperator):
    """Record ``python_callable(version)``'s outcome as the check ``check``; a failed check fails the task after it is recorded."""

    template_fields: Sequence[str] = ("version",)

    def __init__(self, *, version: int | str, check: str, python_callable: Callable[[int], CheckOutcome],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version = version
        self.check = check
        self.python_callable = python_callable

    def execute(self, context: Any) -> bool:
        with registry_refusals():
            number = _version_number(self.version)
        outcome = self.python_callable(number)
        details = {**outcome.details, "source": AirflowLineage.of(context).describe()}
        with registry_refusals(), self.hook.registry() as registry:
            registry.record_check(self.model_name, number, self.check, passed=outcome.passed, details=details)
        if not outcome.passed:
            raise RegistryRefusal(f"check {self.check} failed for {self.model_name} version {number}")
        return True


class ProductionChangeOperator(RegistryOperator):
    """A change of the model's Production version, announced as an event of its production asset."""

    def __init__(self, **kwargs: Any) -> None:
        model_name = kwargs["model_name"]
        kwargs.setdefault("outlets", [production_asset(model_name)])
        super().__init__(**kwargs)

    def change(self, context: Any) -> StageChange:
        raise NotImplementedError

    def execute(self, context: Any) -> dict[str, Any]:
        with registry_refusals():
            change = self.change(context)
        announced = {
            "model": self.model_name,
            "version": change.version.version,
            "previous": change.archived.version if change.archived else None,
            "audit_seq": change.audit_seq,
        }
        context["outlet_events"][production_asset(self.model_name)].extra = announced
        self.log.info("%s version %s is in Production", self.model_name, change.version.version)
        return announced


class PromoteOperator(ProductionChangeOperator):
    """Promote a Staging version to Production if every gate holds; an unmet gate fails the task with the registry's reason."""

    template_fields: Sequence[str] = ("version", "reason")

    def __init__(self, *, version: int | str, reason: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version = version
        self.reason = reason

    def change(self, context: Any) -> StageChange:
        number = _version_number(self.version)
        reason = " ".join(filter(None, [self.reason, f"({AirflowLineage.of(context).describe()})"]))
        with self.hook.registry() as registry:
            return registry.promote(self.model_name, number, reason=reason)


class RollbackOperator(ProductionChangeOperator):
    """Return the model to its previous Production version (or ``to_version``), recorded as the user who triggered the run."""

    template_fields: Sequence[str] = ("reason", "to_version")

    def __init__(self, *, reason: str, to_version: int | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reason = reason
        self.to_version = to_version

    def change(self, context: Any) -> StageChange:
        target = None if self.to_version in (None, "", "None") else _version_number(self.to_version)
        reason = f"{self.reason} ({AirflowLineage.of(context).describe()})"
        # Who triggered the run, as Airflow's auth manager knows them; a scheduled run has nobody.
        requested_by = getattr(context["dag_run"], "triggering_user_name", None) or None
        with self.hook.registry(actor=requested_by) as registry:
            return registry.rollback(self.model_name, reason=reason, to_version=target)


def _version_number(value: int | str) -> int:
    from registry_core.validation import validate_version_number

    return validate_version_number(value)

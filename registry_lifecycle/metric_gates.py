"""Metric gates: the thresholds a candidate's evaluation metrics must meet, and the registry checks that record them."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DATA_QUALITY_CHECK", "GATE_OPERATORS", "SHADOW_CHECK", "MetricGate"]

#: The registry check recording the expectation suite run on the evaluation data.
DATA_QUALITY_CHECK = "data_quality"
#: The registry check recording the comparison with the current Production version.
SHADOW_CHECK = "shadow_evaluation"

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
#: The comparisons a metric gate may use.
GATE_OPERATORS = tuple(_OPERATORS)
_NOT_IN_CHECK_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class MetricGate:
    """A threshold a metric must meet, e.g. ``roc_auc >= 0.8``."""

    metric: str
    operator: str
    threshold: float

    def __post_init__(self) -> None:
        if self.operator not in _OPERATORS:
            raise ValueError(f"metric gate {self.metric!r}: operator must be one of {', '.join(_OPERATORS)}")

    @property
    def check_name(self) -> str:
        """The registry check that records this gate."""
        return "metric." + _NOT_IN_CHECK_NAME.sub("_", self.metric)

    @property
    def higher_is_better(self) -> bool:
        return self.operator in (">=", ">")

    def holds(self, value: float | None) -> bool:
        return value is not None and _OPERATORS[self.operator](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric} {self.operator} {self.threshold:g}"

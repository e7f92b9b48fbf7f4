"""Great Expectations 1.x, called directly: run a suite on a DataFrame and report each expectation.

``dagster-ge`` is pinned to GX < 1.0, so the pipelines use GX's own API: an
ephemeral context (nothing written to disk, no usage statistics) with its
progress bars switched off through the context's ``progress_bars`` setting,
which, unlike ``TQDM_DISABLE``, GX honours.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ExpectationOutcome", "SuiteReport", "run_expectations"]

#: Observations kept per expectation (GX reports many more; these explain a failure).
_KEPT_RESULT_KEYS = ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "missing_count")


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict and what GX observed."""

    expectation: str
    column: str | None
    arguments: dict[str, Any]
    success: bool
    observed: dict[str, Any]
    error: str | None = None

    def describe(self) -> str:
        where = f" on {self.column}" if self.column else ""
        if self.error:
            return f"{self.expectation}{where}: could not be evaluated ({self.error})"
        observed = ", ".join(f"{k}={_short(v)}" for k, v in self.observed.items() if v is not None)
        return f"{self.expectation}{where}: {'passed' if self.success else 'FAILED'}" + (f" ({observed})" if observed else "")


@dataclass(frozen=True)
class SuiteReport:
    """A whole suite's verdict on one data set."""

    suite: str
    rows: int
    outcomes: tuple[ExpectationOutcome, ...]

    @property
    def success(self) -> bool:
        return all(outcome.success for outcome in self.outcomes)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.success]

    def summary(self) -> str:
        total = len(self.outcomes)
        if self.success:
            return f"suite {self.suite!r}: all {total} expectations passed on {self.rows} rows"
        return f"suite {self.suite!r}: {len(self.failures)} of {total} expectations failed on {self.rows} rows: " + "; ".join(
            failure.describe() for failure in self.failures
        )

    def details(self) -> dict[str, Any]:
        """The report as a JSON object for the registry's check record."""
        return json.loads(
            json.dumps(
                {
                    "suite": self.suite,
                    "rows": self.rows,
                    "summary": self.summary(),
                    "evaluated": len(self.outcomes),
                    "failed": len(self.failures),
                    "expectations": [
                        {
                            "expectation": o.expectation,
                            "column": o.column,
                            "arguments": o.arguments,
                            "success": o.success,
                            "observed": o.observed,
                            "error": o.error,
                        }
                        for o in self.outcomes
                    ],
                },
                default=str,
            )
        )


def run_expectations(frame: pd.DataFrame, expectations: Sequence[Any], *, suite: str) -> SuiteReport:
    """Validate ``frame`` against ``expectations`` (GX 1.x expectation objects) and report every outcome."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral", project_config=_quiet_project_config())
    batch_definition = (
        context.data_sources.add_pandas("registry_pipelines")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole_frame")
    )
    expectation_suite = gx.ExpectationSuite(name=suite, expectations=list(expectations))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(expectation_suite)
    return SuiteReport(suite=suite, rows=len(frame), outcomes=tuple(_outcome(r) for r in result.results))


def _quiet_project_config() -> Any:
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    return DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )


def _outcome(result: Any) -> ExpectationOutcome:
    config = result.expectation_config
    arguments = {k: v for k, v in dict(config.kwargs).items() if k not in ("batch_id", "column")}
    observed = {k: result.result.get(k) for k in _KEPT_RESULT_KEYS if k in (result.result or {})}
    return ExpectationOutcome(
        expectation=config.type,
        column=config.kwargs.get("column"),
        arguments=arguments,
        success=bool(result.success),
        observed=observed,
        error=_error_message(result.exception_info),
    )


def _error_message(info: Any) -> str | None:
    """The first exception GX caught while evaluating; it nests them per metric in 1.x."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info.get("raised_exception") else None
    for nested in info.values():
        message = _error_message(nested)
        if message:
            return message
    return None


def _short(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."

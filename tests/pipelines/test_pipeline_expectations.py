"""Great Expectations 1.x, called directly: verdicts, explanations, and no progress bars."""

from __future__ import annotations

import json

import pandas as pd

from registry_lifecycle.expectations import run_expectations
from registry_pipelines.fraud import fraud_expectations, load_recent_transactions


def test_fraud_suite_passes_on_good_data():
    report = run_expectations(load_recent_transactions(), fraud_expectations(), suite="fraud-detector")
    assert report.success
    assert report.summary() == f"suite 'fraud-detector': all {len(fraud_expectations())} expectations passed on 3000 rows"


def test_failures_name_the_expectation_column_and_observation():
    frame = load_recent_transactions()
    frame.loc[frame.index[:30], "amount"] = None
    report = run_expectations(frame, fraud_expectations(), suite="fraud-detector")
    assert not report.success
    [failure] = report.failures
    assert failure.describe() == (
        "expect_column_values_to_not_be_null on amount: FAILED (element_count=3000, unexpected_count=30, unexpected_percent=1)"
    )


def test_missing_column_is_reported_not_raised():
    """A column that is not there fails its expectations with GX's reason."""
    frame = load_recent_transactions().drop(columns=["v3"])
    report = run_expectations(frame, fraud_expectations(), suite="fraud-detector")
    reasons = {f.expectation: f for f in report.failures}
    assert "expect_table_columns_to_match_set" in reasons
    assert 'The column "v3" in BatchData does not exist' in reasons["expect_column_values_to_not_be_null"].error


def test_details_are_a_json_object_for_the_registry():
    """What the check record stores: JSON that round-trips, one entry per expectation."""
    import great_expectations as gx

    suite = [gx.expectations.ExpectColumnValuesToNotBeNull(column="amount")]
    details = run_expectations(pd.DataFrame({"amount": [1.0, None]}), suite, suite="s").details()
    assert json.loads(json.dumps(details)) == details
    assert (details["evaluated"], details["failed"]) == (1, 1)
    assert details["expectations"][0]["observed"]["unexpected_count"] == 1


def test_progress_bars_stay_silent(capfd):
    """GX's tqdm bars are switched off through the context (TQDM_DISABLE would not do it)."""
    run_expectations(load_recent_transactions(), fraud_expectations(), suite="fraud-detector")
    out, err = capfd.readouterr()
    assert "Calculating Metrics" not in out + err
    assert "%|" not in out + err

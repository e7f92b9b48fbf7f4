"""The reviewer's list: every version awaiting a decision across the code location's models, kept equal to the catalog."""

from __future__ import annotations

import pytest
from dagster import AssetMaterialization, MetadataValue

from registry_core import Decision
from registry_pipelines import build_registry_definitions
from registry_pipelines.assets.awaiting_decision import AWAITING_DECISION, LISTED, pending_versions
from registry_pipelines.sensors import REVIEW_SENSOR
from registry_pipelines.testing import InProcessLifecycle, failure_message

from .steps import MODEL, decide, to_staging


def listed(instance) -> str:
    """The list Dagster shows now (the latest materialization's markdown)."""
    event = instance.get_latest_materialization_event(AWAITING_DECISION)
    assert event is not None, "awaiting_decision was never materialized"
    return event.asset_materialization.metadata[LISTED].value


def materializations(instance) -> int:
    return len(instance.fetch_materializations(AWAITING_DECISION, limit=100).records)


def test_nothing_awaits_on_a_fresh_catalog(lifecycle, instance):
    lifecycle.tick(REVIEW_SENSOR)
    assert listed(instance) == "_nothing awaits a decision_"


def test_a_shadow_evaluated_version_is_listed_with_its_checks_and_a_link_to_its_card(lifecycle, pipeline, instance):
    to_staging(lifecycle, pipeline)
    lifecycle.tick(REVIEW_SENSOR)
    shown = listed(instance)
    assert f"**{MODEL}** version 1, in Staging since " in shown
    assert "checks: 4 passed" in shown  # data quality, two metric gates, shadow evaluation
    assert "[Open version 1](/assets/fraud_detector/model_version?view=partitions&partition=1)" in shown
    # Built in process, the sensor knows no code location: no Launchpad links it could not make right.
    assert "Approve version 1" not in shown


@pytest.mark.parametrize("decision", [Decision.APPROVE, Decision.REJECT])
def test_a_decision_takes_the_version_off_the_list_at_the_next_tick(lifecycle, pipeline, instance, decision):
    to_staging(lifecycle, pipeline)
    lifecycle.tick(REVIEW_SENSOR)
    assert "version 1" in listed(instance)
    result = decide(lifecycle, 1, decision=decision, pipeline=pipeline)
    assert result.success, failure_message(result)
    lifecycle.tick(REVIEW_SENSOR)
    assert listed(instance) == "_nothing awaits a decision_"


def test_a_refused_decision_leaves_the_version_listed(lifecycle, pipeline, instance):
    """The registrant approving its own version records nothing: the version still awaits a decision."""
    to_staging(lifecycle, pipeline)
    lifecycle.tick(REVIEW_SENSOR)
    assert not decide(lifecycle, 1, approver="dagster", pipeline=pipeline).success
    outcome = lifecycle.tick(REVIEW_SENSOR)
    assert "version 1" in listed(instance)
    assert outcome.skip_reason is not None


def test_an_idle_tick_writes_nothing(lifecycle, pipeline, instance):
    to_staging(lifecycle, pipeline)
    lifecycle.tick(REVIEW_SENSOR)
    written = materializations(instance)
    outcome = lifecycle.tick(REVIEW_SENSOR)
    assert materializations(instance) == written
    assert "latest event" in (outcome.skip_reason or "")


def test_a_list_reported_by_anyone_else_is_replaced_at_the_next_tick(lifecycle, pipeline, instance):
    """Whoever reports a materialization of the list by hand (a phishing link, a version that does not await) is
    overwritten with what the catalog says, although the catalog has not changed."""
    to_staging(lifecycle, pipeline)
    lifecycle.tick(REVIEW_SENSOR)
    truth = listed(instance)
    forged = "- **fraud-detector** version 7\n  - [Approve version 7](https://attacker.example/launchpad)"
    instance.report_runless_asset_event(
        AssetMaterialization(asset_key=AWAITING_DECISION, metadata={LISTED: MetadataValue.md(forged)})
    )
    assert listed(instance) == forged
    lifecycle.tick(REVIEW_SENSOR)
    assert listed(instance) == truth


def test_versions_of_every_model_are_listed(make_pipeline, registry_resource, instance):
    """Two models in one code location: one list, each version under its own model's name."""
    fraud, churn = make_pipeline(), make_pipeline(name="churn-model")
    lifecycle = InProcessLifecycle(
        build_registry_definitions(fraud, churn, registry=registry_resource), instance, log_level="CRITICAL"
    )
    to_staging(lifecycle, fraud)
    to_staging(lifecycle, churn)
    lifecycle.tick(REVIEW_SENSOR)
    shown = listed(instance)
    assert f"**{MODEL}** version 1" in shown and "**churn-model** version 1" in shown
    assert "/assets/churn_model/model_version?view=partitions&partition=1" in shown


def test_only_staging_versions_are_read(lifecycle, pipeline, catalog):
    """Candidates, Archived and Production versions are never judged: the list reads Staging by its index."""
    to_staging(lifecycle, pipeline)
    assert [p.number for p in pending_versions(catalog, [MODEL, "never-registered"])] == [1]
    catalog.transition(MODEL, 1, "Archived")
    assert pending_versions(catalog, [MODEL]) == []


def test_the_staging_versions_are_found_by_index_not_by_a_scan(lifecycle, pipeline, catalog):
    """SQLite's plan for the list's read of each model's Staging versions uses the (model, stage, version) index."""
    from sqlalchemy import event

    to_staging(lifecycle, pipeline)
    sent: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        sent.append((statement, parameters))

    event.listen(catalog.db.engine, "before_cursor_execute", record)
    try:
        pending_versions(catalog, [MODEL])
    finally:
        event.remove(catalog.db.engine, "before_cursor_execute", record)
    [(statement, parameters)] = [(s, p) for s, p in sent if "model_versions.stage =" in s]
    with catalog.db.engine.connect() as connection:
        plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
    assert "ix_model_versions_model_id_stage_version" in plan, plan

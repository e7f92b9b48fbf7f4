"""Each catalog-driven sensor, scenario by scenario, on a real catalog (SQLite and PostgreSQL) and a real Dagster instance."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, SensorDefinition, SensorResult, build_sensor_context
from sqlalchemy import event

from registry_core import AuditAction, Registry
from registry_pipelines import ModelPipeline, RegistryResource
from registry_pipelines.fraud import fraud_detector_pipeline
from registry_pipelines.jobs import build_promotion_job, build_redeploy_job, build_shadow_job, build_validation_job
from registry_pipelines.model_pipeline import SHADOW_CHECK
from registry_pipelines.sensors import (
    build_approval_sensor,
    build_candidate_sensor,
    build_production_sensor,
    build_staging_sensor,
    catalog_event_sensor,
    lifecycle_run,
)

MODEL = "fraud-detector"


@pytest.fixture
def resource(database_url: str, artifact_root: Path) -> RegistryResource:
    return RegistryResource(database_url=database_url, artifact_root=str(artifact_root), actor="dagster")


@pytest.fixture
def catalog(resource: RegistryResource) -> Iterator[Registry]:
    """The catalog, acting as the pipeline that registers versions."""
    with resource.open() as opened:
        yield opened


@pytest.fixture
def pipeline() -> ModelPipeline:
    return fraud_detector_pipeline(deploy_targets=())


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def tick(sensor: SensorDefinition, resource: RegistryResource, instance: DagsterInstance, cursor: str | None) -> SensorResult:
    result = sensor(build_sensor_context(cursor=cursor, resources={"registry": resource}, instance=instance))
    assert isinstance(result, SensorResult)
    return result


@contextlib.contextmanager
def statement_counter(resource: RegistryResource) -> Iterator[Callable[[], int]]:
    """Count the SQL statements sent on the resource's (process-wide) catalog engine."""
    engine = resource.open().db.engine
    count = [0]

    def on_execute(*_args: object) -> None:
        count[0] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield lambda: count[0]
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def head(catalog: Registry) -> str:
    return str(catalog.audit_events(limit=1)[-1].seq)


def staged(catalog: Registry, model_file: Path) -> int:
    """A version in Staging (the default policy has no staging checks)."""
    version = catalog.register(MODEL, model_file).version
    catalog.transition(MODEL, version, "Staging")
    return version


# --- new candidate -> validation ------------------------------------------------------------


def test_candidate_sensor_nothing_new(pipeline, resource, instance, catalog, model_file):
    """With the cursor at the newest event, a tick launches nothing and keeps its cursor."""
    catalog.register(MODEL, model_file)
    sensor = build_candidate_sensor(pipeline, build_validation_job(pipeline))
    result = tick(sensor, resource, instance, head(catalog))
    assert not result.run_requests
    assert result.cursor is None
    assert "no new fraud-detector events" in result.skip_reason.skip_message


def test_candidate_sensor_empty_catalog(pipeline, resource, instance):
    """Before any model exists, a first tick just waits."""
    sensor = build_candidate_sensor(pipeline, build_validation_job(pipeline))
    result = tick(sensor, resource, instance, None)
    assert not result.run_requests


def test_candidate_sensor_requests_validation_of_new_version(pipeline, resource, instance, catalog, model_file):
    """A registration launches one validation run keyed by its audit sequence number; the cursor moves past it."""
    version = catalog.register(MODEL, model_file).version
    register_seq = catalog.audit_events(MODEL, limit=1)[-1].seq
    sensor = build_candidate_sensor(pipeline, build_validation_job(pipeline))
    result = tick(sensor, resource, instance, None)
    [request] = result.run_requests
    assert request.run_key == f"fraud_detector-validate-{register_seq}"
    assert request.job_name == "fraud_detector_validate"
    assert request.run_config == {"ops": {"fraud_detector__validate_candidate": {"config": {"version": version}}}}
    assert request.tags["registry/version"] == str(version)
    assert result.cursor == str(register_seq)


def test_candidate_sensor_validates_a_reference_once_its_bytes_are_attached(
    pipeline, resource, instance, catalog, model_file
):
    """A reference has nothing to validate: its registration is skipped, saying why; its attach launches the run."""
    from registry_core import ArtifactReference

    catalog.register(MODEL, ArtifactReference("s3://bucket/model"))
    sensor = build_candidate_sensor(pipeline, build_validation_job(pipeline))
    waiting = tick(sensor, resource, instance, None)
    assert not waiting.run_requests
    assert "version 1 is a reference with no bytes yet" in waiting.skip_reason.skip_message
    catalog.attach(MODEL, 1, model_file)
    attach_seq = catalog.audit_events(MODEL, limit=1)[-1].seq
    [request] = tick(sensor, resource, instance, waiting.cursor).run_requests
    assert request.run_key == f"fraud_detector-validate-{attach_seq}"
    assert request.tags["registry/version"] == "1"


def test_candidate_sensor_skips_a_version_deleted_before_its_tick(pipeline, resource, instance, catalog, model_file):
    """A registration whose version is gone by the tick launches nothing and says so; the cursor moves on."""
    catalog.register(MODEL, model_file)
    catalog.register(MODEL, model_file)
    catalog.delete_version(MODEL, 1)
    sensor = build_candidate_sensor(pipeline, build_validation_job(pipeline))
    result = tick(sensor, resource, instance, None)
    assert [r.tags["registry/version"] for r in result.run_requests] == ["2"]
    assert result.cursor == head(catalog)


def test_candidate_sensor_both_new(pipeline, resource, instance, catalog, model_file):
    """Two registrations since the last tick: two validation runs, one per version."""
    catalog.register(MODEL, model_file)
    catalog.register(MODEL, model_file)
    sensor = build_candidate_sensor(pipeline, build_validation_job(pipeline))
    result = tick(sensor, resource, instance, None)
    assert sorted(r.tags["registry/version"] for r in result.run_requests) == ["1", "2"]


def test_candidate_sensor_same_cursor_same_run_keys(pipeline, resource, instance, catalog, model_file):
    """Evaluating a tick twice from one cursor asks for the same run keys, so the daemon launches each run once."""
    catalog.register(MODEL, model_file)
    sensor = build_candidate_sensor(pipeline, build_validation_job(pipeline))
    first = tick(sensor, resource, instance, None)
    second = tick(sensor, resource, instance, None)
    assert [r.run_key for r in first.run_requests] == [r.run_key for r in second.run_requests]


def test_candidate_sensor_skips_version_that_moved_on(pipeline, resource, instance, catalog, model_file):
    """A version already staged by someone else is not validated again."""
    staged(catalog, model_file)
    sensor = build_candidate_sensor(pipeline, build_validation_job(pipeline))
    result = tick(sensor, resource, instance, None)
    assert not result.run_requests
    assert "already in Staging" in result.skip_reason.skip_message


def test_candidate_sensor_ignores_other_models(pipeline, resource, instance, catalog, model_file):
    """Another model's registration is not this pipeline's business."""
    catalog.register("churn-model", model_file)
    sensor = build_candidate_sensor(pipeline, build_validation_job(pipeline))
    assert not tick(sensor, resource, instance, None).run_requests


def test_sensor_refuses_a_cursor_that_is_not_a_sequence_number(pipeline, resource, instance):
    """A corrupted cursor fails the tick visibly instead of replaying or skipping history."""
    sensor = build_candidate_sensor(pipeline, build_validation_job(pipeline))
    with pytest.raises(ValueError, match="not an audit sequence number"):
        tick(sensor, resource, instance, "yesterday")


def test_sensor_works_off_a_backlog_in_batches(pipeline, resource, instance, catalog, model_file):
    """More events than one batch: each tick takes the next batch, and together they miss nothing."""
    for _ in range(5):
        catalog.register(MODEL, model_file)
    job = build_validation_job(pipeline)

    def react(snapshot, event, _instance):
        assert snapshot[event.version].version.version == event.version
        return lifecycle_run(pipeline, "validate", job.name, "op", event, {"version": event.version})

    sensor = catalog_event_sensor(
        name="batched", model=MODEL, job=job, react=react, actions=frozenset({AuditAction.VERSION_REGISTER}),
        description="", minimum_interval_seconds=1, batch_size=2,
    )
    cursor, versions = None, []
    for _ in range(4):
        result = tick(sensor, resource, instance, cursor)
        versions += [int(r.tags["registry/version"]) for r in result.run_requests]
        cursor = result.cursor or cursor
    assert versions == [1, 2, 3, 4, 5]


def _registered(catalog: Registry, model_file: Path) -> None:
    catalog.register(MODEL, model_file, tags={"team": "risk", "tier": "1"})


def _approved_in_staging(catalog: Registry, model_file: Path) -> None:
    number = catalog.register(MODEL, model_file, tags={"team": "risk", "tier": "1"}).version
    catalog.record_check(MODEL, number, "smoke", passed=True)
    catalog.transition(MODEL, number, "Staging")
    catalog.as_actor("bob").approve(MODEL, number)


@pytest.mark.parametrize(
    ("build", "job_of", "prepare"),
    [
        (build_candidate_sensor, build_validation_job, _registered),
        (build_approval_sensor, build_promotion_job, _approved_in_staging),
    ],
    ids=["candidate", "approval"],
)
def test_a_tick_runs_the_same_statements_for_a_short_and_a_long_backlog(
    build, job_of, prepare, pipeline, resource, instance, catalog, model_file
):
    """A tick reads its events and the versions they name in a bounded number of statements (no query per event)."""
    sensor = build(pipeline, job_of(pipeline))
    catalog.create_model(MODEL)
    counted = []
    for backlog in (3, 30):
        cursor = head(catalog)
        for _ in range(backlog):
            prepare(catalog, model_file)
        with statement_counter(resource) as statements:
            result = tick(sensor, resource, instance, cursor)
        assert len(result.run_requests) == backlog
        counted.append(statements())
    assert 0 < counted[0] == counted[1], f"statements per tick grew with the backlog (or were not seen): {counted}"


# --- Staging -> shadow evaluation -----------------------------------------------------------


def test_staging_sensor_requests_shadow_evaluation(pipeline, resource, instance, catalog, model_file):
    """A version entering Staging launches its shadow evaluation."""
    version = staged(catalog, model_file)
    transition_seq = catalog.audit_events(MODEL, limit=1)[-1].seq
    sensor = build_staging_sensor(pipeline, build_shadow_job(pipeline))
    [request] = tick(sensor, resource, instance, None).run_requests
    assert request.run_key == f"fraud_detector-shadow-{transition_seq}"
    assert request.run_config["ops"]["fraud_detector__shadow_evaluate"]["config"] == {"version": version}


def test_staging_sensor_nothing_new(pipeline, resource, instance, catalog, model_file):
    """A registration alone is not a reason to shadow-evaluate."""
    catalog.register(MODEL, model_file)
    sensor = build_staging_sensor(pipeline, build_shadow_job(pipeline))
    assert not tick(sensor, resource, instance, None).run_requests


def test_staging_sensor_skips_version_already_shadow_evaluated(pipeline, resource, instance, catalog, model_file):
    """A version that already has a shadow result (say, the sensor's history replayed) is not evaluated again."""
    version = staged(catalog, model_file)
    catalog.record_check(MODEL, version, SHADOW_CHECK, passed=True)
    sensor = build_staging_sensor(pipeline, build_shadow_job(pipeline))
    result = tick(sensor, resource, instance, None)
    assert not result.run_requests
    assert "already has a shadow_evaluation result" in result.skip_reason.skip_message


# --- approval -> promotion ------------------------------------------------------------------


def test_approval_sensor_waits_while_gates_are_unmet(pipeline, resource, instance, catalog, model_file):
    """An approval before the shadow evaluation passed launches nothing and says what is missing."""
    version = staged(catalog, model_file)
    catalog.set_policy(MODEL, production_checks=[SHADOW_CHECK])
    catalog.as_actor("bob").approve(MODEL, version)
    sensor = build_approval_sensor(pipeline, build_promotion_job(pipeline))
    result = tick(sensor, resource, instance, None)
    assert not result.run_requests
    assert f"version {version} awaits: required check '{SHADOW_CHECK}' has not been recorded" in (
        result.skip_reason.skip_message
    )


def test_approval_sensor_requests_promotion_once_every_gate_holds(pipeline, resource, instance, catalog, model_file):
    """The approval that completes the gates launches the promotion, keyed by the approval's event."""
    version = staged(catalog, model_file)
    catalog.set_policy(MODEL, production_checks=[SHADOW_CHECK])
    catalog.record_check(MODEL, version, SHADOW_CHECK, passed=True)
    sensor = build_approval_sensor(pipeline, build_promotion_job(pipeline))
    first = tick(sensor, resource, instance, None)
    assert not first.run_requests
    catalog.as_actor("bob").approve(MODEL, version, comment="looks good")
    approval_seq = catalog.audit_events(MODEL, limit=1)[-1].seq
    [request] = tick(sensor, resource, instance, first.cursor).run_requests
    assert request.run_key == f"fraud_detector-promote-{approval_seq}"
    assert request.run_config["ops"]["fraud_detector__promote"]["config"]["version"] == version
    assert "approved by bob" in request.run_config["ops"]["fraud_detector__promote"]["config"]["reason"]


def test_approval_sensor_promotes_when_last_check_arrives_after_approval(pipeline, resource, instance, catalog, model_file):
    """Approved early, shadow-evaluated later: the passing check completes the gates and launches the promotion."""
    version = staged(catalog, model_file)
    catalog.set_policy(MODEL, production_checks=[SHADOW_CHECK])
    catalog.as_actor("bob").approve(MODEL, version)
    sensor = build_approval_sensor(pipeline, build_promotion_job(pipeline))
    cursor = tick(sensor, resource, instance, None).cursor
    catalog.record_check(MODEL, version, SHADOW_CHECK, passed=True)
    [request] = tick(sensor, resource, instance, cursor).run_requests
    assert request.tags["registry/trigger"] == "check.record"


def test_approval_sensor_ignores_rejection(pipeline, resource, instance, catalog, model_file):
    """A rejection never launches a promotion."""
    version = staged(catalog, model_file)
    catalog.set_policy(MODEL, approvals_required=0)
    catalog.as_actor("bob").reject(MODEL, version, comment="not yet")
    cursor = head(catalog)
    catalog.as_actor("carol").reject(MODEL, version)
    sensor = build_approval_sensor(pipeline, build_promotion_job(pipeline))
    assert not tick(sensor, resource, instance, cursor).run_requests


def test_approval_sensor_ignores_approval_of_version_not_in_staging(pipeline, resource, instance, catalog, model_file):
    """An approval of a version still a candidate waits for validation; nothing is launched yet."""
    version = catalog.register(MODEL, model_file).version
    catalog.as_actor("bob").approve(MODEL, version)
    sensor = build_approval_sensor(pipeline, build_promotion_job(pipeline))
    result = tick(sensor, resource, instance, None)
    assert not result.run_requests
    assert "approved while in None" in result.skip_reason.skip_message


# --- Production changed -> redeploy ---------------------------------------------------------


def promoted(catalog: Registry, model_file: Path) -> int:
    version = staged(catalog, model_file)
    catalog.as_actor("bob").approve(MODEL, version)
    catalog.promote(MODEL, version)
    return version


def test_production_sensor_requests_redeploy_on_promotion(pipeline, resource, instance, catalog, model_file):
    """A promotion (from Dagster or the CLI alike) launches a redeploy of that version."""
    version = promoted(catalog, model_file)
    promote_seq = catalog.audit_events(MODEL, limit=1)[-1].seq
    sensor = build_production_sensor(pipeline, build_redeploy_job(pipeline))
    [request] = tick(sensor, resource, instance, None).run_requests
    assert request.run_key == f"fraud_detector-redeploy-{promote_seq}"
    assert request.run_config["ops"]["fraud_detector__record_production_change"]["config"] == {
        "version": version, "audit_seq": promote_seq,
    }


def test_production_sensor_requests_redeploy_on_rollback(pipeline, resource, instance, catalog, model_file):
    """A rollback is a Production change too."""
    promoted(catalog, model_file)
    promoted(catalog, model_file)
    cursor = head(catalog)
    catalog.rollback(MODEL, reason="incident 42")
    sensor = build_production_sensor(pipeline, build_redeploy_job(pipeline))
    [request] = tick(sensor, resource, instance, cursor).run_requests
    assert request.tags["registry/trigger"] == "version.rollback"
    assert request.tags["registry/version"] == "1"


def test_production_sensor_nothing_new(pipeline, resource, instance, catalog, model_file):
    """Checks, approvals and Staging moves do not redeploy anything."""
    version = staged(catalog, model_file)
    catalog.as_actor("bob").approve(MODEL, version)
    sensor = build_production_sensor(pipeline, build_redeploy_job(pipeline))
    result = tick(sensor, resource, instance, None)
    assert not result.run_requests
    assert result.cursor == head(catalog)


@pytest.mark.parametrize("cursor", ["１", "١", "²", "-1", "1.0"])
def test_a_cursor_that_is_not_an_ascii_sequence_number_is_refused(cursor: str):
    """A sensor cursor is ASCII digits: '１' is not event 1."""
    from registry_pipelines.sensors.catalog_sensor import read_cursor

    with pytest.raises(ValueError, match="not an audit sequence number"):
        read_cursor(cursor)
    assert read_cursor("12") == 12


def test_production_sensor_started_on_a_deployed_history_launches_nothing(pipeline, resource, instance, catalog, model_file):
    """Promotions, a rollback, each deployed: a sensor started afterwards has nothing to redeploy."""
    for _ in range(2):
        version = promoted(catalog, model_file)
        catalog.record_deployment(MODEL, version, target="serving", succeeded=True)
    catalog.rollback(MODEL, reason="incident 42")
    catalog.record_deployment(MODEL, 1, target="serving", succeeded=True)
    sensor = build_production_sensor(pipeline, build_redeploy_job(pipeline))
    result = tick(sensor, resource, instance, None)
    assert not result.run_requests
    assert "superseded" in result.skip_reason.skip_message and "was deployed" in result.skip_reason.skip_message


def test_production_sensor_redeploys_a_change_whose_deployment_failed(pipeline, resource, instance, catalog, model_file):
    """A failed deployment settles nothing: the latest change is redeployed."""
    version = promoted(catalog, model_file)
    catalog.record_deployment(MODEL, version, target="serving", succeeded=False)
    sensor = build_production_sensor(pipeline, build_redeploy_job(pipeline))
    [request] = tick(sensor, resource, instance, None).run_requests
    assert request.tags["registry/version"] == str(version)

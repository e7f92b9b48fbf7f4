"""Random lifecycles, then one edit around the registry: a gate refuses what the edit opened, and --verify names it.

Each example builds a catalog of its own, runs a random sequence of registry
operations (registrations, checks, decisions, stage moves, promotions,
rollbacks, alias moves), checks that the catalog agrees with its audit log,
then edits one reconciled column with plain SQL, as a database administrator
could, and tries one gated operation on top of it. Whatever that operation
does, ``registry audit --verify`` must name a row of the edited table.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import copy_sqlite_catalog, require_postgres
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text
from tampering import sql

from registry_core import Registry, RegistryError

MODEL = "fraud"
REGISTRANT, REVIEWERS = "alice", ("bob", "carol")
#: ``champion`` is protected (it needs what Production needs); ``challenger`` is a free label.
ALIASES = ("champion", "challenger")
SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"

#: One registry operation: its name and a number that picks its target among the versions.
STEPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["register", "pass", "fail", "approve", "reject", "stage", "archive", "promote", "rollback", "alias"]
        ),
        st.integers(min_value=0, max_value=7),
    ),
    min_size=3,
    max_size=14,
)


@dataclass(frozen=True)
class Edit:
    """One change made around the registry, and the table whose divergence --verify must report."""

    table: str
    what: str
    statement: str
    params: dict[str, Any]


def _run_step(registry: Registry, folder: Path, step: str, pick: int) -> None:
    numbers = [v.version for v in registry.list_versions(MODEL)]
    if step == "register" or not numbers:
        registry.register(MODEL, _artifact(folder, len(numbers) + 1), run_id=f"run-{len(numbers) + 1}",
                          dataset_digest=f"sha256:{len(numbers):064x}", params={"depth": str(pick)},
                          metrics={"auc": 0.5 + pick / 20})
        return
    number = numbers[pick % len(numbers)]
    reviewer = registry.as_actor(REVIEWERS[pick % 2])
    actions: dict[str, Callable[[], object]] = {
        "pass": lambda: registry.record_check(MODEL, number, "qa", passed=True, details={"rows": pick}),
        "fail": lambda: registry.record_check(MODEL, number, "qa", passed=False),
        "approve": lambda: reviewer.approve(MODEL, number, comment=f"ok {pick}"),
        "reject": lambda: reviewer.reject(MODEL, number, comment="no"),
        "stage": lambda: registry.transition(MODEL, number, "Staging"),
        "archive": lambda: registry.transition(MODEL, number, "Archived"),
        "promote": lambda: registry.promote(MODEL, number),
        "rollback": lambda: registry.rollback(MODEL, reason="property test"),
        "alias": lambda: registry.set_alias(MODEL, ALIASES[pick % 2], number),
    }
    # A refusal changes nothing: the catalog must still agree with its log afterwards.
    with suppress(RegistryError):
        actions[step]()


def _artifact(folder: Path, number: int) -> Path:
    """A file of new bytes (new bytes make a new version)."""
    path = folder / f"model-{number}.bin"
    path.write_bytes(f"weights {number}".encode())
    return path


def _rows(engine: Engine, statement: str) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text(statement)).all())


def _edits(engine: Engine) -> list[Edit]:
    """Every edit of a reconciled column that the catalog's current rows allow, each changing a value."""
    edits: list[Edit] = []
    (model_id, policy_text), = _rows(engine, f"SELECT id, policy FROM registered_models WHERE name = '{MODEL}'")
    policy = policy_text if isinstance(policy_text, dict) else json.loads(policy_text)
    for field_name, value in (("approvals_required", 0), ("production_checks", []), ("allow_self_approval", True),
                              ("approvers", ["mallory"]), ("allow_pickle", True), ("protected_aliases", [])):
        if policy.get(field_name) != value:
            edits.append(Edit("registered_models", f"policy {field_name}", "UPDATE registered_models SET policy = :p",
                              {"p": json.dumps({**policy, field_name: value})}))
    versions = _rows(engine, "SELECT id, version, stage, artifact_sha256, artifact_size, left_production_seq, "
                             "registered_by FROM model_versions ORDER BY version")
    seqs = [seq for (seq,) in _rows(engine, "SELECT seq FROM audit_events ORDER BY seq")]
    in_production = any(v.stage == "Production" for v in versions)
    for v in versions:
        by_id = "WHERE id = :id"
        edits += [
            Edit("model_versions", f"v{v.version} digest", f"UPDATE model_versions SET artifact_sha256 = :x {by_id}",
                 {"x": ("0" if v.artifact_sha256[0] != "0" else "1") + v.artifact_sha256[1:], "id": v.id}),
            Edit("model_versions", f"v{v.version} size", f"UPDATE model_versions SET artifact_size = :x {by_id}",
                 {"x": v.artifact_size + 1, "id": v.id}),
            Edit("model_versions", f"v{v.version} registrant", f"UPDATE model_versions SET registered_by = :x {by_id}",
                 {"x": "bob", "id": v.id}),
            Edit("model_versions", f"v{v.version} run", f"UPDATE model_versions SET run_id = :x {by_id}",
                 {"x": "run-forged", "id": v.id}),
            Edit("model_versions", f"v{v.version} dataset", f"UPDATE model_versions SET dataset_digest = :x {by_id}",
                 {"x": "sha256:forged", "id": v.id}),
            Edit("model_versions", f"v{v.version} params", f"UPDATE model_versions SET params = :x {by_id}",
                 {"x": json.dumps({"depth": "99"}), "id": v.id}),
            Edit("model_versions", f"v{v.version} metrics", f"UPDATE model_versions SET metrics = :x {by_id}",
                 {"x": json.dumps({"auc": 0.999}), "id": v.id}),
            Edit("model_versions", f"v{v.version} signature", f"UPDATE model_versions SET signature = :x {by_id}",
                 {"x": json.dumps({"inputs": [{"name": "b"}, {"name": "a"}]}), "id": v.id}),
            Edit("model_versions", f"v{v.version} kind", f"UPDATE model_versions SET artifact_kind = :x {by_id}",
                 {"x": "directory", "id": v.id}),
            Edit("model_versions", f"v{v.version} format", f"UPDATE model_versions SET artifact_format = :x {by_id}",
                 {"x": json.dumps({"serializer": "pickle", "pickle_opt_in": True}), "id": v.id}),
        ]
        for stage in ("None", "Staging", "Archived", "Production"):
            if stage != v.stage and not (stage == "Production" and in_production):
                edits.append(Edit("model_versions", f"v{v.version} stage {stage}",
                                  f"UPDATE model_versions SET stage = :x {by_id}", {"x": stage, "id": v.id}))
        forged_left = next((seq for seq in reversed(seqs) if seq != v.left_production_seq), None)
        if forged_left is not None:
            edits.append(Edit("model_versions", f"v{v.version} rollback eligibility",
                              f"UPDATE model_versions SET left_production_seq = :x {by_id}",
                              {"x": forged_left, "id": v.id}))
        if v.left_production_seq is not None:
            edits.append(Edit("model_versions", f"v{v.version} rollback eligibility cleared",
                              f"UPDATE model_versions SET left_production_seq = NULL {by_id}", {"id": v.id}))
    for alias, version_id in _rows(engine, "SELECT alias, version_id FROM aliases"):
        edits.append(Edit("aliases", f"delete @{alias}", "DELETE FROM aliases WHERE alias = :a", {"a": alias}))
        for v in versions:
            if v.id != version_id:
                edits.append(Edit("aliases", f"move @{alias} to v{v.version}",
                                  "UPDATE aliases SET version_id = :v WHERE alias = :a", {"v": v.id, "a": alias}))
    for v in versions:
        edits.append(Edit("aliases", f"insert @forged on v{v.version}",
                          "INSERT INTO aliases (model_id, alias, version_id) VALUES (:m, 'forged', :v)",
                          {"m": model_id, "v": v.id}))
        edits.append(Edit("approvals", f"forged approval of v{v.version}",
                          "INSERT INTO approvals (version_id, approver, decision, comment, recorded_at) "
                          "VALUES (:v, 'bob', 'approve', NULL, CURRENT_TIMESTAMP)", {"v": v.id}))
        edits.append(Edit("check_results", f"forged check of v{v.version}",
                          "INSERT INTO check_results (version_id, name, passed, details, recorded_by, recorded_at) "
                          "VALUES (:v, 'qa', TRUE, NULL, 'alice', CURRENT_TIMESTAMP)", {"v": v.id}))
    for table, columns, flips in (
        ("approvals", "version_id, approver, decision, comment, recorded_at, audit_seq",
         (("decision", "CASE WHEN decision = 'approve' THEN 'reject' ELSE 'approve' END"), ("approver", "'mallory'"))),
        ("check_results", "version_id, name, passed, details, recorded_by, recorded_at, audit_seq",
         (("passed", "NOT passed"), ("name", "'other'"))),
    ):
        for (row_id,) in _rows(engine, f"SELECT id FROM {table}"):
            edits.append(Edit(table, f"delete {table} {row_id}", f"DELETE FROM {table} WHERE id = :id", {"id": row_id}))
            edits.append(Edit(table, f"copy {table} {row_id}",
                              f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} WHERE id = :id",
                              {"id": row_id}))
            for column, expression in flips:
                edits.append(Edit(table, f"{column} of {table} {row_id}",
                                  f"UPDATE {table} SET {column} = {expression} WHERE id = :id", {"id": row_id}))
    for (row_id,) in _rows(engine, "SELECT id FROM webhook_subscriptions"):
        edits += [
            Edit("webhook_subscriptions", "subscription URL", "UPDATE webhook_subscriptions SET url = :u WHERE id = :id",
                 {"u": "https://attacker.example/hook", "id": row_id}),
            Edit("webhook_subscriptions", "subscription secret",
                 "UPDATE webhook_subscriptions SET secret = :s WHERE id = :id", {"s": SECRET + "Zg", "id": row_id}),
            Edit("webhook_subscriptions", "subscription events",
                 "UPDATE webhook_subscriptions SET events = :e WHERE id = :id",
                 {"e": json.dumps(["promoted"]), "id": row_id}),
            Edit("webhook_subscriptions", "subscription model", "UPDATE webhook_subscriptions SET model = NULL WHERE id = :id",
                 {"id": row_id}),
            Edit("webhook_subscriptions", "subscription removed",
                 "UPDATE webhook_subscriptions SET removed_at = CURRENT_TIMESTAMP, removed_by = 'mallory' WHERE id = :id",
                 {"id": row_id}),
        ]
    for (row_id,) in _rows(engine, "SELECT id FROM webhook_outbox"):
        edits.append(Edit("webhook_outbox", f"delete outbox {row_id}", "DELETE FROM webhook_outbox WHERE id = :id",
                          {"id": row_id}))
        edits.append(Edit("webhook_outbox", f"rewrite outbox {row_id}",
                          "UPDATE webhook_outbox SET body = :b WHERE id = :id",
                          {"b": json.dumps({"type": "version.promoted", "data": {"version": 99}}), "id": row_id}))
    return edits


def _gated_step(registry: Registry, step: str, pick: int) -> None:
    """An operation that a gate guards, tried on the edited catalog; a refusal is as good as an answer."""
    numbers = [v.version for v in registry.list_versions(MODEL)]
    number = numbers[pick % len(numbers)]
    with suppress(RegistryError):
        {
            "promote": lambda: registry.promote(MODEL, number),
            "rollback": lambda: registry.rollback(MODEL, reason="after the edit"),
            "alias": lambda: registry.set_alias(MODEL, "champion", number),
            "approve": lambda: registry.as_actor("bob").approve(MODEL, number),
        }[step]()


@contextmanager
def _fresh_catalog(dialect: str, request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    with tempfile.TemporaryDirectory(prefix="governance-property-") as tmp:
        folder = Path(tmp)
        if dialect == "sqlite":
            yield copy_sqlite_catalog(request.getfixturevalue("sqlite_template"), folder), folder / "artifacts"
            return
        schemas = request.getfixturevalue("postgres_schemas")
        name = schemas.create_migrated()
        try:
            yield schemas.url_of(name), folder / "artifacts"
        finally:
            schemas.release(name)


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_an_edit_around_the_registry_is_refused_by_a_gate_or_named_by_verify(dialect, request):
    """Whatever lifecycle came before, one edit of a reconciled column never goes unnoticed."""
    if dialect == "postgresql":
        require_postgres()

    @settings(max_examples=60 if dialect == "sqlite" else 20, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(steps=STEPS, data=st.data(),
           gated=st.tuples(st.sampled_from(["promote", "rollback", "alias", "approve"]), st.integers(0, 7)))
    def run(steps: list[tuple[str, int]], data: st.DataObject, gated: tuple[str, int]) -> None:
        with _fresh_catalog(dialect, request) as (url, artifacts), Registry(url, artifacts, actor=REGISTRANT) as registry:
            registry.register(MODEL, _artifact(artifacts.parent, 0))
            registry.set_policy(MODEL, production_checks=["qa"], approvers=list(REVIEWERS), protect_aliases=["champion"])
            registry.add_webhook("https://hooks.example/registry", events=["all"], secret=SECRET, model=MODEL)
            for step, pick in steps:
                _run_step(registry, artifacts.parent, step, pick)
            report = registry.verify_audit()
            assert report.intact, report.divergences
            engine = create_engine(url)
            try:
                edit = data.draw(st.sampled_from(_edits(engine)), label="edit")
                sql(engine, edit.statement, **edit.params)
            finally:
                engine.dispose()
            _gated_step(registry, *gated)
            report = registry.verify_audit()
            assert not report.intact, f"{edit.what} went unnoticed"
            assert any(line.startswith(edit.table) for line in report.divergences), (edit.what, report.divergences)

    run()

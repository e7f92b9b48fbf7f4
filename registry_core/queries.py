"""Read-only questions to the catalog: models, versions, what a URI points at, a version in full, the audit log.

Each question is a bounded number of statements, whatever the number of
models, versions, tags or events: related rows arrive aggregated in the same
statement or in one more, never one query per row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, tuple_

from .actions import STAGE_ACTIONS, AuditAction
from .audit import AuditReport, verify_chain
from .errors import InvalidInput
from .governance import GATE_ACTIONS, gate_inputs, protected_alias_gates, unmet_gates
from .lookups import MODEL_ID, model_row, no_such_model, resolved_row, version_row
from .policy import GatePolicy
from .reconcile import MAX_REPORTED, reconcile
from .records import AuditEntry, ModelInfo, VersionDetails, VersionInfo
from .rows import (
    ALIASES,
    APPROVALS,
    AUDIT,
    CHECKS,
    MODELS,
    VERSIONS,
    approval_record,
    audit_entry,
    check_record,
    json_object_agg,
    model_info,
    model_tags_json,
    parse_tags,
    version_info,
    version_tags_json,
)
from .stages import Stage, parse_stage
from .unit_of_work import Catalog
from .uris import parse_model_uri
from .validation import validate_name, validate_version_number

__all__ = [
    "MAX_LIST",
    "audit_events",
    "get_model",
    "get_version",
    "list_models",
    "list_versions",
    "model_record",
    "models_select",
    "parse_actions",
    "resolve",
    "resolve_with_policy",
    "show",
    "show_versions",
    "show_versions_of",
    "verify_audit",
]

MAX_LIST = 10_000
_NEXT_STAGE = {Stage.NONE: Stage.STAGING, Stage.STAGING: Stage.PRODUCTION}
_DETAIL_ACTIONS = sorted({a.value for a in STAGE_ACTIONS} | set(GATE_ACTIONS) | {AuditAction.ALIAS_SET.value})


def models_select(dialect: str) -> Any:
    """Models with their tags, aliases and Production version, one row each (add WHERE and ORDER BY)."""
    production = (
        select(VERSIONS.c.version)
        .where(VERSIONS.c.model_id == MODELS.c.id, VERSIONS.c.stage == Stage.PRODUCTION)
        .limit(1)
        .scalar_subquery()
        .label("production_version")
    )
    aliases = (
        select(json_object_agg(dialect, ALIASES.c.alias, VERSIONS.c.version))
        .select_from(ALIASES.join(VERSIONS, VERSIONS.c.id == ALIASES.c.version_id))
        .where(ALIASES.c.model_id == MODELS.c.id)
        .scalar_subquery()
        .label("aliases_json")
    )
    return select(*MODELS.c, model_tags_json(dialect), production, aliases)


def model_record(row: Any) -> ModelInfo:
    """A record from a row of :func:`models_select`."""
    aliases = parse_tags(row.aliases_json)
    return model_info(row, production=row.production_version, aliases={k: int(v) for k, v in aliases.items()})


def get_model(catalog: Catalog, name: str) -> ModelInfo:
    """A model, its policy and where its stages and aliases point: one statement."""
    validate_name(name)
    with catalog.read() as connection:
        row = connection.execute(models_select(catalog.dialect).where(MODELS.c.name == name)).first()
        if row is None:
            raise no_such_model(connection, name)
        return model_record(row)


def list_models(catalog: Catalog) -> list[ModelInfo]:
    """Every registered model, by name: one statement."""
    with catalog.read() as connection:
        rows = connection.execute(models_select(catalog.dialect).order_by(MODELS.c.name)).all()
        return [model_record(row) for row in rows]


def get_version(catalog: Catalog, name: str, version: int | str) -> VersionInfo:
    """One version of a model: one statement."""
    number = validate_version_number(version)
    validate_name(name)
    with catalog.read() as connection:
        return version_info(name, version_row(connection, catalog.dialect, name, number))


def list_versions(
    catalog: Catalog, name: str, *, stage: str | Stage | None, limit: int, before: int | None
) -> list[VersionInfo]:
    """Versions of a model, newest first, optionally in one stage; ``before`` pages further back."""
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}")
    target = parse_stage(stage) if stage is not None else None
    bound = validate_version_number(before) if before is not None else None
    validate_name(name)
    query = select(*VERSIONS.c, version_tags_json(catalog.dialect)).where(VERSIONS.c.model_id == MODEL_ID)
    if target is not None:
        query = query.where(VERSIONS.c.stage == target)
    if bound is not None:
        query = query.where(VERSIONS.c.version < bound)
    with catalog.read() as connection:
        rows = connection.execute(query.order_by(VERSIONS.c.version.desc()).limit(limit), {"name": name}).all()
        if not rows and model_row(connection, name) is None:
            raise no_such_model(connection, name)
        return [version_info(name, row) for row in rows]


def resolve(catalog: Catalog, uri: str) -> VersionInfo:
    """The version a model URI points at now: one indexed statement on the hot path of serving and deploys."""
    ref = parse_model_uri(uri)
    with catalog.read() as connection:
        return version_info(ref.name, resolved_row(connection, catalog.dialect, ref))


def resolve_with_policy(catalog: Catalog, uri: str) -> tuple[VersionInfo, GatePolicy]:
    """The version a model URI points at and its model's policy now, from the same statement (what a load is judged by)."""
    ref = parse_model_uri(uri)
    with catalog.read() as connection:
        row = resolved_row(connection, catalog.dialect, ref)
        return version_info(ref.name, row), GatePolicy.from_dict(row.model_policy)


def show(catalog: Catalog, uri: str) -> VersionDetails:
    """A version with its checks, decisions, aliases, stage history and the gates before its next stage."""
    ref = parse_model_uri(uri)
    with catalog.read() as connection:
        row = resolved_row(connection, catalog.dialect, ref)
        return _details(connection, ref.name, [row])[row.version]


def show_versions(catalog: Catalog, name: str, versions: Iterable[int | str]) -> dict[int, VersionDetails]:
    """Several versions of one model in full, by number, in five statements however many there are.

    Numbers without a version are left out of the result.
    """
    validate_name(name)
    numbers = sorted({validate_version_number(v) for v in versions})
    if len(numbers) > MAX_LIST:
        raise InvalidInput(f"at most {MAX_LIST} versions at once")
    if not numbers:
        return {}
    query = (
        select(*VERSIONS.c, version_tags_json(catalog.dialect), MODELS.c.policy.label("model_policy"))
        .select_from(VERSIONS.join(MODELS, MODELS.c.id == VERSIONS.c.model_id))
        .where(MODELS.c.name == name, VERSIONS.c.version.in_(numbers))
    )
    with catalog.read() as connection:
        rows = connection.execute(query).all()
        return _details(connection, name, rows) if rows else {}


def show_versions_of(catalog: Catalog, wanted: Mapping[str, Iterable[int | str]]) -> dict[str, dict[int, VersionDetails]]:
    """Versions of several models in full (name -> numbers), in five statements however many models and versions.

    Models and numbers without a version are left out of the result.
    """
    pairs = sorted({(validate_name(name), validate_version_number(v)) for name, numbers in wanted.items() for v in numbers})
    if len(pairs) > MAX_LIST:
        raise InvalidInput(f"at most {MAX_LIST} versions at once")
    if not pairs:
        return {}
    query = (
        select(*VERSIONS.c, version_tags_json(catalog.dialect), MODELS.c.policy.label("model_policy"),
               MODELS.c.name.label("model_name"))
        .select_from(VERSIONS.join(MODELS, MODELS.c.id == VERSIONS.c.model_id))
        .where(tuple_(MODELS.c.name, VERSIONS.c.version).in_(pairs))
    )
    with catalog.read() as connection:
        rows = connection.execute(query).all()
        details = _details_of(connection, [(row.model_name, row) for row in rows]) if rows else {}
    result: dict[str, dict[int, VersionDetails]] = {}
    for (name, number), detail in details.items():
        result.setdefault(name, {})[number] = detail
    return result


def _details(connection: Connection, name: str, rows: list[Any]) -> dict[int, VersionDetails]:
    """:func:`_details_of` for version rows of one model, by number."""
    return {number: detail for (_, number), detail in _details_of(connection, [(name, row) for row in rows]).items()}


def _details_of(connection: Connection, named_rows: list[tuple[str, Any]]) -> dict[tuple[str, int], VersionDetails]:
    """Checks, decisions, aliases, stage history and gates of version rows (each with its model's name), by
    (name, number): four statements for any number of rows and models.

    Every recorded row is shown; the gates count what the audit events say.
    """
    ids = [row.id for _, row in named_rows]
    keys = [(name, row.version) for name, row in named_rows]
    names = sorted({name for name, _ in named_rows})
    checks: dict[int, dict[str, Any]] = {i: {} for i in ids}
    # In the order of their events, not of their row ids: a row copied under an older event's number
    # (or written with none) never shows as the latest.
    for check in connection.execute(
        select(CHECKS)
        .where(CHECKS.c.version_id.in_(ids))
        .order_by(CHECKS.c.version_id, CHECKS.c.name, CHECKS.c.audit_seq.asc().nulls_first(), CHECKS.c.id)
    ):
        checks[check.version_id][check.name] = check  # the result of the latest event per name wins
    decisions: dict[int, list[Any]] = {i: [] for i in ids}
    for decision in connection.execute(
        select(APPROVALS)
        .where(APPROVALS.c.version_id.in_(ids))
        .order_by(APPROVALS.c.version_id, APPROVALS.c.audit_seq.asc().nulls_first(), APPROVALS.c.id)
    ):
        decisions[decision.version_id].append(decision)
    aliases: dict[int, list[str]] = {i: [] for i in ids}
    for version_id, alias in connection.execute(
        select(ALIASES.c.version_id, ALIASES.c.alias).where(ALIASES.c.version_id.in_(ids)).order_by(ALIASES.c.alias)
    ):
        aliases[version_id].append(alias)
    # One query for the stage history and for what the gates count.
    history: dict[tuple[str, int], list[Any]] = {key: [] for key in keys}
    gate_rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in names}
    alias_set: dict[tuple[str, int, str], Any] = {}
    # One model: its (model, version, seq) index by name and numbers; several: by (name, number) pairs.
    which = (
        (AUDIT.c.model == names[0]) & AUDIT.c.version.in_([number for _, number in keys]) if len(names) == 1
        else tuple_(AUDIT.c.model, AUDIT.c.version).in_(keys)
    )
    for event in connection.execute(
        select(AUDIT).where(which, AUDIT.c.action.in_(_DETAIL_ACTIONS)).order_by(AUDIT.c.seq)
    ):
        if (event.model, event.version) not in history:
            continue
        if event.action in GATE_ACTIONS:
            gate_rows[event.model].append((event.version, event.action, event.actor, event.after))
        elif event.action == AuditAction.ALIAS_SET:
            alias = json.loads(event.after)["alias"]
            alias_set[(event.model, event.version, alias)] = event  # the latest move here wins
        else:
            history[(event.model, event.version)].append(event)
    numbers: dict[str, list[int]] = {name: [] for name in names}
    for name, number in keys:
        numbers[name].append(number)
    inputs = {name: gate_inputs(gate_rows[name], numbers[name]) for name in names}
    result: dict[tuple[str, int], VersionDetails] = {}
    for name, row in named_rows:
        info = version_info(name, row)
        next_stage = _NEXT_STAGE.get(info.stage)
        policy = GatePolicy.from_dict(row.model_policy)
        unmet = (
            unmet_gates(connection, name, policy, row, next_stage, inputs[name][row.version])
            if next_stage
            else []
        )
        protected = [alias for alias in aliases[row.id] if policy.protects(alias)]
        result[(name, row.version)] = VersionDetails(
            version=info,
            checks=[check_record(name, row.version, check) for check in checks[row.id].values()],
            decisions=[approval_record(name, row.version, d) for d in decisions[row.id]],
            aliases=aliases[row.id],
            next_stage=next_stage,
            unmet_gates=unmet,
            stage_history=[audit_entry(event) for event in history[(name, row.version)]],
            protected_aliases=protected,
            alias_events={
                alias: audit_entry(alias_set[(name, row.version, alias)])
                for alias in aliases[row.id] if (name, row.version, alias) in alias_set
            },
            alias_unmet_gates=(
                protected_alias_gates(connection, name, policy, row, inputs[name][row.version]) if protected else []
            ),
        )
    return result


def audit_events(
    catalog: Catalog,
    name: str | None,
    *,
    version: int | str | None,
    limit: int,
    after_seq: int | None,
    actions: Iterable[str | AuditAction] | None = None,
) -> list[AuditEntry]:
    """Audit events in order: the newest ``limit``, or with ``after_seq`` the first ``limit`` after it.

    ``actions`` keeps only events of those actions (filtered by the database, on its index of action and sequence).
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be a whole number between 1 and {MAX_LIST}")
    if after_seq is not None and (isinstance(after_seq, bool) or not isinstance(after_seq, int)):
        raise InvalidInput("after_seq must be a whole number")
    if version is not None and name is None:
        raise InvalidInput("a version filter needs a model name")
    if name is not None:
        validate_name(name)
    number = validate_version_number(version) if version is not None else None
    wanted = parse_actions(actions) if actions is not None else None
    query = select(AUDIT)
    if name is not None:
        query = query.where(AUDIT.c.model == name)
    if number is not None:
        query = query.where(AUDIT.c.version == number)
    if wanted is not None:
        query = query.where(AUDIT.c.action.in_(wanted))
    with catalog.read() as connection:
        if after_seq is not None:
            rows = connection.execute(query.where(AUDIT.c.seq > after_seq).order_by(AUDIT.c.seq).limit(limit)).all()
        else:
            rows = list(reversed(connection.execute(query.order_by(AUDIT.c.seq.desc()).limit(limit)).all()))
        return [audit_entry(row) for row in rows]


def parse_actions(actions: Iterable[str | AuditAction]) -> list[str]:
    """Audit action names, each checked against :class:`AuditAction`; at least one."""
    if isinstance(actions, str):
        actions = [actions]
    result: list[str] = []
    for action in actions:
        try:
            result.append(AuditAction(action.lower() if isinstance(action, str) else action).value)
        except ValueError:
            known = ", ".join(a.value for a in AuditAction)
            raise InvalidInput(f"unknown audit action {action!r}: use one of {known}") from None
    if not result:
        raise InvalidInput("no audit actions given")
    return sorted(set(result))


def verify_audit(
    catalog: Catalog, *, checkpoint: str | Path | None = None, trusted_key: str | None = None
) -> AuditReport:
    """Walk the whole audit chain, then check every catalog row the gates, URIs and loads read against it.

    Both see one snapshot of the catalog. A broken chain is reported first,
    then a history that differs from the signed ``checkpoint``; an intact chain
    with rows that differ from it, or with a stored proof that does not verify
    (see :mod:`.proof_audit`), is reported as not intact, with the first
    divergences named.
    """
    from .checkpoints import checkpoint_problem
    from .proof_audit import proof_divergences

    with catalog.read(snapshot=True) as connection:
        report = verify_chain(connection)
        if not report.intact:
            return report
        rewritten = checkpoint_problem(connection, checkpoint, trusted_key) if checkpoint is not None else None
        if rewritten is not None:
            return replace(report, intact=False, problem=rewritten[0], first_bad_seq=rewritten[1])
        count, found = reconcile(connection)
        unproven = proof_divergences(connection)
    count += len(unproven)
    found = [*found, *unproven][:MAX_REPORTED]
    if not count:
        return report
    return replace(
        report,
        intact=False,
        problem=f"{count} catalog row(s) differ from the audit log; the first: {found[0]}",
        first_bad_seq=found[0].seq,
        divergence_count=count,
        divergences=tuple(str(d) for d in found),
    )

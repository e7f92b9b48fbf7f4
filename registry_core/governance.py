"""Governance: check results, approvals and rejections, the model's policy, and the gates they make.

Every function here is one unit of work: it validates its input, changes the
catalog and appends its audit event in one transaction, or changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from .actions import AuditAction
from .errors import GateUnmet, InvalidInput, NotPermitted
from .gates import GateKind
from .identities import shown_actor
from .lookups import lock_model, lock_version, model_row, no_such_model, version_row
from .policy import Decision, GatePolicy, RecordedDecision, UnmetGate, approval_gate, check_gates, counted_approvers
from .proofs import Proof, decision_subject, policy_subject
from .proving import prove
from .records import ApprovalRecord, CheckRecord, VersionDetails
from .references import missing_bytes_gate
from .rows import ALIASES, APPROVALS, AUDIT, CHECKS, MODELS, VERSIONS
from .stages import Stage
from .unit_of_work import Catalog
from .validation import (
    MAX_DESCRIPTION,
    validate_alias,
    validate_json_object,
    validate_name,
    validate_text,
    validate_version_number,
)

__all__ = [
    "GATE_ACTIONS",
    "decide",
    "get_policy",
    "proposed_policy",
    "gates_unmet_by",
    "protected_alias_facts",
    "protected_alias_gates",
    "protected_alias_gates_unmet_by",
    "require_alias_still_gated",
    "GateInputs",
    "GATE_EVENTS",
    "gate_inputs",
    "read_gate_inputs",
    "record_check",
    "require_gates",
    "set_policy",
    "unmet_gates",
]


#: The audit actions whose events the gates read.
GATE_ACTIONS = (AuditAction.CHECK_RECORD.value, AuditAction.APPROVAL_RECORD.value)


@dataclass
class GateInputs:
    """What the gates of one version count, read from its audit events (never from rows that can be edited)."""

    #: Whether the latest result of each named check passed.
    latest: dict[str, bool] = field(default_factory=dict)
    decisions: list[RecordedDecision] = field(default_factory=list)


#: The check and decision events of some versions of a model (``name``, ``numbers``), oldest first.
GATE_EVENTS = (
    select(AUDIT.c.version, AUDIT.c.action, AUDIT.c.actor, AUDIT.c.after)
    .where(
        AUDIT.c.model == bindparam("name"),
        AUDIT.c.version.in_(bindparam("numbers", expanding=True)),
        AUDIT.c.action.in_(GATE_ACTIONS),
    )
    .order_by(AUDIT.c.seq)
)
_PREVIOUS_RESULT = (
    select(CHECKS.c.passed)
    .where(CHECKS.c.version_id == bindparam("version_id"), CHECKS.c.name == bindparam("check"))
    .order_by(CHECKS.c.id.desc())
    .limit(1)
)
_INSERT_CHECK = insert(CHECKS)
_INSERT_DECISION = insert(APPROVALS)


def gate_inputs(rows: Iterable[Any], numbers: Iterable[int]) -> dict[int, GateInputs]:
    """Fold check and decision events (rows of :data:`GATE_EVENTS`) into each version's :class:`GateInputs`."""
    inputs = {number: GateInputs() for number in numbers}
    for version, action, actor, after_text in rows:
        after = json.loads(after_text)
        if action == AuditAction.CHECK_RECORD:
            inputs[version].latest[after["check"]] = bool(after["passed"])
        else:
            inputs[version].decisions.append(
                RecordedDecision(actor, Decision(after["decision"]), after.get("comment"), "proof" in after)
            )
    return inputs


def read_gate_inputs(connection: Connection, name: str, number: int) -> GateInputs:
    """One version's :class:`GateInputs`, from its audit events."""
    rows = connection.execute(GATE_EVENTS, {"name": name, "numbers": [number]})
    return gate_inputs(rows, [number])[number]


def unmet_gates(
    connection: Connection, name: str, policy: GatePolicy, version: Any, target: Stage,
    inputs: GateInputs | None = None,
) -> list[UnmetGate]:
    """What still stands between ``version`` (a row of model ``name``) and ``target`` (Staging or Production).

    The check results and decisions counted are those of the version's audit
    events (``inputs``, read when not given): a row written around the
    registry is never counted.
    """
    if target is Stage.STAGING and not policy.staging_checks:
        return []
    if inputs is None:
        inputs = read_gate_inputs(connection, name, version.version)
    return gates_unmet_by(policy, version, target, inputs)


def gates_unmet_by(policy: GatePolicy, version: Any, target: Stage, inputs: GateInputs) -> list[UnmetGate]:
    """:func:`unmet_gates` on given inputs (no catalog read): what the audit replay checks a recorded move against."""
    latest = inputs.latest
    if target is Stage.STAGING:
        return check_gates(policy.staging_checks, latest, all_recorded=False)
    no_bytes = missing_bytes_gate(version)
    unmet = [no_bytes] if no_bytes is not None else []
    unmet += check_gates(policy.production_checks, latest, all_recorded=True)
    return unmet + approval_gate(policy, inputs.decisions, registrant=version.registered_by)


def require_gates(
    connection: Connection, name: str, policy: GatePolicy, version: Any, target: Stage, label: str,
    inputs: GateInputs | None = None,
) -> None:
    """Raise :class:`GateUnmet` listing every unmet gate before ``target``."""
    unmet = unmet_gates(connection, name, policy, version, target, inputs)
    if unmet:
        raise GateUnmet(
            f"cannot move {label} to {target}: {len(unmet)} gate(s) unmet: " + "; ".join(g.message for g in unmet),
            unmet,
        )


def record_check(
    catalog: Catalog, actor: str, name: str, version: int | str, check: str, *,
    passed: bool, details: Mapping[str, Any] | str | None,
) -> CheckRecord:
    """Record one result of a named check; the latest result per name is the one that counts."""
    number = validate_version_number(version)
    validate_name(check, what="check name")
    if not isinstance(passed, bool):
        raise InvalidInput("a check result is passed or failed")
    clean_details = validate_json_object(details, what="check details")
    validate_name(name)
    with catalog.write(actor) as work:
        row = lock_version(work.connection, work.dialect, name, number)
        previous = work.connection.execute(_PREVIOUS_RESULT, {"version_id": row.id, "check": check}).first()
        event = work.record(
            AuditAction.CHECK_RECORD, name, number,
            {"check": check, "passed": previous.passed} if previous else {},
            {"check": check, "passed": passed, "details": clean_details},
        )
        work.connection.execute(
            _INSERT_CHECK,
            {"version_id": row.id, "name": check, "passed": passed, "details": clean_details,
             "recorded_by": actor, "recorded_at": work.now, "audit_seq": event.seq},
        )
        return CheckRecord(
            model=name, version=number, name=check, passed=passed, details=clean_details,
            recorded_by=actor, recorded_at=work.now,
        )


def decide(
    catalog: Catalog, actor: str, name: str, version: int | str, decision: Decision, comment: str | None,
    proof: Proof | None = None,
) -> ApprovalRecord:
    """Record ``actor``'s approval or rejection of a version on its way to Production.

    Under a policy that requires proof, ``proof`` must verify (:class:`ProofRefused` otherwise); a proof
    given under another policy is checked and kept too.
    """
    number = validate_version_number(version)
    decision = Decision(decision)
    comment = validate_text(comment, what="comment", limit=MAX_DESCRIPTION)
    validate_name(name)
    with catalog.write(actor) as work:
        row = lock_version(work.connection, work.dialect, name, number)
        label = f"{name} version {number}"
        if row.stage not in (Stage.NONE, Stage.STAGING):
            raise InvalidInput(f"{label} is {row.stage}: approvals are for versions on their way to Production")
        policy = GatePolicy.from_dict(row.model_policy)
        policy.check_may_decide(actor, registrant=row.registered_by, decision=decision, label=label)
        after: dict[str, Any] = {"decision": decision.value, "comment": comment}
        if policy.require_proof or proof is not None:
            subject = decision_subject(name, number, row.artifact_sha256, decision.value, comment)
            after["proof"] = prove(work, actor, subject, proof)
        event = work.record(AuditAction.APPROVAL_RECORD, name, number, {}, after)
        work.connection.execute(
            _INSERT_DECISION,
            {"version_id": row.id, "approver": actor, "decision": decision, "comment": comment,
             "recorded_at": work.now, "audit_seq": event.seq},
        )
        return ApprovalRecord(
            model=name, version=number, approver=actor, decision=decision, comment=comment, recorded_at=work.now
        )


def get_policy(catalog: Catalog, name: str) -> GatePolicy:
    """The model's governance policy."""
    validate_name(name)
    with catalog.read() as connection:
        row = model_row(connection, name)
        if row is None:
            raise no_such_model(connection, name)
        return GatePolicy.from_dict(row.policy)


def set_policy(
    catalog: Catalog, actor: str, name: str, *, protect_aliases: Iterable[str] = (),
    unprotect_aliases: Iterable[str] = (), proof: Proof | None = None, **fields: Any,
) -> GatePolicy:
    """Change the policy fields given (``None`` keeps a field); audited when anything changed.

    ``protect_aliases`` and ``unprotect_aliases`` add to and remove from the
    protected aliases of the policy as it is when the change is made. A policy
    that requires proof changes only by one of its owners with a ``proof`` over
    the new policy (see :func:`~registry_core.proofs.policy_subject`).
    """
    changes, protect, unprotect = _policy_changes(fields, protect_aliases, unprotect_aliases)
    validate_name(name)
    with catalog.write(actor) as work:
        model = lock_model(work.connection, name)
        old = GatePolicy.from_dict(model.policy)
        new = _changed_policy(old, changes, protect, unprotect)
        for alias in new.protected_aliases:
            if not old.protects(alias):
                _require_gated_target(work, name, model.id, new, alias)
        if new != old:
            after: dict[str, Any] = new.to_dict()
            if old.require_proof:
                if not old.owned_by(actor):
                    raise NotPermitted(
                        f"{shown_actor(actor)} may not change the policy of {name}: it requires proof, and only its "
                        f"owners ({', '.join(old.owners)}) change it"
                    )
                after = {"policy": new.to_dict(), "proof": prove(work, actor, policy_subject(name, new.to_dict()), proof)}
            work.connection.execute(
                update(MODELS).where(MODELS.c.id == model.id).values(policy=new.to_dict(), updated_at=work.now)
            )
            work.record(AuditAction.POLICY_SET, name, None, old.to_dict(), after)
        return new


def proposed_policy(
    catalog: Catalog, name: str, *, protect_aliases: Iterable[str] = (), unprotect_aliases: Iterable[str] = (),
    **fields: Any,
) -> GatePolicy:
    """The policy :func:`set_policy` would make now from these changes: what an owner signs before making them."""
    changes, protect, unprotect = _policy_changes(fields, protect_aliases, unprotect_aliases)
    return _changed_policy(get_policy(catalog, name), changes, protect, unprotect)


def _policy_changes(
    fields: dict[str, Any], protect_aliases: Iterable[str], unprotect_aliases: Iterable[str]
) -> tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]:
    unknown = sorted(set(fields) - {f.name for f in dataclass_fields(GatePolicy)})
    if unknown:
        raise InvalidInput(f"unknown policy field(s): {', '.join(unknown)}")
    changes = {
        key: _listed(value, key.replace("_", " ")) if key in _LISTS else value
        for key, value in fields.items()
    }
    protect = _listed(protect_aliases, "aliases to protect") or ()
    unprotect = _listed(unprotect_aliases, "aliases to unprotect") or ()
    for alias in (*protect, *unprotect):
        validate_alias(alias)
    if set(protect) & set(unprotect):
        raise InvalidInput("an alias cannot be protected and unprotected in one change")
    return changes, protect, unprotect


def _changed_policy(
    old: GatePolicy, changes: dict[str, Any], protect: tuple[str, ...], unprotect: tuple[str, ...]
) -> GatePolicy:
    new = old.updated(**changes)
    if protect or unprotect:
        kept = [alias for alias in new.protected_aliases if alias not in unprotect]
        new = new.updated(protected_aliases=(*kept, *protect))
    return new


_LISTS = (
    "staging_checks", "production_checks", "approvers", "trusted_types", "protected_aliases", "allow_io_parameters",
    "owners",
)

_ALIAS_TARGET = (
    select(VERSIONS.c.version)
    .select_from(ALIASES.join(VERSIONS, VERSIONS.c.id == ALIASES.c.version_id))
    .where(ALIASES.c.model_id == bindparam("model_id"), ALIASES.c.alias == bindparam("alias"))
)


def _require_gated_target(work: Any, name: str, model_id: int, policy: GatePolicy, alias: str) -> None:
    """An alias becomes protected only while it points at a version that meets the gates, or at none."""
    number = work.connection.execute(_ALIAS_TARGET, {"model_id": model_id, "alias": alias}).scalar()
    if number is None:
        return
    target = version_row(work.connection, work.dialect, name, number)
    unmet = protected_alias_gates(work.connection, name, policy, target)
    if unmet:
        raise GateUnmet(
            f"cannot protect alias {name}@{alias} while it points at version {number}: {len(unmet)} gate(s) unmet: "
            + "; ".join(gate.message for gate in unmet) + "; move or delete the alias first",
            unmet,
        )


def _listed(names: Iterable[str] | None, what: str) -> tuple[str, ...] | None:
    # A lone string is iterable too, and would silently become one name per character.
    if isinstance(names, str):
        raise InvalidInput(f"{what} must be a list of names, not the single string {names!r}")
    if names is None:
        return None
    if not isinstance(names, Iterable):
        raise InvalidInput(f"{what} must be a list of names")
    listed = tuple(names)
    for entry in listed:
        if not isinstance(entry, str):
            raise InvalidInput(f"{what} must be names (text), not {type(entry).__name__}")
    return listed


def protected_alias_gates(
    connection: Connection, name: str, policy: GatePolicy, row: Any, inputs: GateInputs | None = None
) -> list[UnmetGate]:
    """What stands between version ``row`` and a protected alias: Production's gates, and not being Archived.

    An Archived version was taken out of service; the approvals it once earned
    do not bring it back behind an alias (a rollback does, through Production).
    """
    if inputs is None:
        inputs = read_gate_inputs(connection, name, row.version)
    return protected_alias_gates_unmet_by(policy, row, inputs)


def protected_alias_gates_unmet_by(policy: GatePolicy, row: Any, inputs: GateInputs) -> list[UnmetGate]:
    """:func:`protected_alias_gates` on given inputs (no catalog read); ``row`` needs version, registered_by, stage."""
    unmet = gates_unmet_by(policy, row, Stage.PRODUCTION, inputs)
    if row.stage == Stage.ARCHIVED:
        unmet.insert(0, UnmetGate(
            GateKind.ARCHIVED, "stage", f"version {row.version} is Archived (roll it back to serve it again)"
        ))
    return unmet


def protected_alias_facts(connection: Connection, name: str, policy: GatePolicy, alias: str, row: Any) -> dict[str, Any]:
    """What pointing protected ``alias`` at version ``row`` is gated on; :class:`GateUnmet` when a gate fails.

    The gates are Production's, counted from the version's audit events, exactly
    as a promotion counts them; an Archived version is refused.
    """
    inputs = read_gate_inputs(connection, name, row.version)
    unmet = protected_alias_gates(connection, name, policy, row, inputs)
    if unmet:
        raise GateUnmet(
            f"cannot point protected alias {name}@{alias} at version {row.version}: {len(unmet)} gate(s) unmet: "
            + "; ".join(gate.message for gate in unmet),
            unmet,
        )
    return {
        "protected": True,
        "approved_by": counted_approvers(policy, inputs.decisions, registrant=row.registered_by),
        "checks": dict(sorted(inputs.latest.items())),
    }


def require_alias_still_gated(details: VersionDetails, alias: str) -> None:
    """Raise :class:`NotPermitted` when protected ``alias`` points at ``details``' version and that version no
    longer meets the gates: serving and MLflow's alias resolution then refuse to follow it (by number, it reads)."""
    if alias in details.protected_aliases and details.alias_unmet_gates:
        raise NotPermitted(
            f"the protected alias {details.version.model}@{alias} points at version {details.version.version}, "
            "which no longer meets the gates: " + "; ".join(gate.message for gate in details.alias_unmet_gates)
        )

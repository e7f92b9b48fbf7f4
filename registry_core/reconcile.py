"""The catalog checked against its audit log: every fact a gate, a URI or a load depends on.

The chain proves the events were not changed; this module proves the tables
say what the events say. Replaying the events gives, for every model and
version, the policy, the artifact digest, the stage, the aliases, every
decision and check result and every rendition with the event that recorded it. Any row that
differs, is missing, or has no event is reported, naming the row and the event.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, select

from .actions import AuditAction
from .audit import canonical_json, format_timestamp
from .divergence import Divergence
from .governance import GateInputs, protected_alias_gates_unmet_by
from .identities import shown_actor
from .policy import Decision, GatePolicy, RecordedDecision, counted_approvers
from .references import REFERENCE
from .renditions import rendition_divergences
from .rows import ALIASES, APPROVALS, AUDIT, CHECKS, MODELS, VERSIONS
from .stages import Stage
from .webhooks.ledger import WebhookLedger

__all__ = ["MAX_REPORTED", "Divergence", "reconcile"]

#: Divergences listed at most (the count is always exact).
MAX_REPORTED = 50

#: What a version's registration event records of its lineage and inputs, compared with the row. A
#: registration recorded before ``signature`` was part of the event has no signature to compare.
LINEAGE = ("run_id", "dataset_digest", "params", "metrics", "signature")

#: The events that change a version's own record, and so its ``updated_at``.
_UPDATES = frozenset({
    AuditAction.VERSION_REGISTER, AuditAction.VERSION_ATTACH, AuditAction.VERSION_TRANSITION,
    AuditAction.VERSION_PROMOTE, AuditAction.VERSION_ROLLBACK, AuditAction.VERSION_DESCRIPTION,
})


@dataclass
class _Version:
    seq: int
    actor: str
    sha256: str | None
    kind: str | None
    size: int | None
    format: dict[str, Any] | None
    #: Canonical JSON of each lineage field the registration recorded (see :data:`LINEAGE`).
    lineage: dict[str, str] = field(default_factory=dict)
    stage: str = Stage.NONE.value
    stage_seq: int = 0
    #: The event that last took the version out of Production: what makes it a rollback target.
    left_seq: int | None = None
    #: The latest event in :data:`_UPDATES`: its seq and time.
    updated: tuple[int, str] = (0, "")


@dataclass
class _Expected:
    policies: dict[str, tuple[dict[str, Any], int]] = field(default_factory=dict)
    versions: dict[tuple[str, int], _Version] = field(default_factory=dict)
    aliases: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    #: seq -> (model, version, actor, after) of every decision and check event.
    decisions: dict[int, tuple[str, int, str, dict[str, Any]]] = field(default_factory=dict)
    checks: dict[int, tuple[str, int, str, dict[str, Any]]] = field(default_factory=dict)
    #: Events that are themselves wrong in what they claim (the chain only proves they were not changed since).
    events: list[Divergence] = field(default_factory=list)
    webhooks: WebhookLedger = field(default_factory=WebhookLedger)
    #: What each version's gates count so far in the replay (for protected alias moves).
    gates: dict[tuple[str, int], GateInputs] = field(default_factory=dict)
    #: seq -> (model, version, actor, after) of every rendition event.
    renditions: dict[int, tuple[str, int, str, dict[str, Any]]] = field(default_factory=dict)


def _replay(events: Iterator[Any]) -> _Expected:
    expected = _Expected()
    for seq, actor, action, model, version, before_text, after_text, recorded_at in events:
        after = json.loads(after_text)
        expected.webhooks.see(seq, recorded_at, actor, action, model, version, before_text, after)
        if action in (AuditAction.MODEL_CREATE, AuditAction.POLICY_SET):
            expected.policies[model] = (GatePolicy.from_dict(after.get("policy", after)).to_dict(), seq)
        elif action == AuditAction.VERSION_REGISTER:
            expected.versions[(model, version)] = _Version(
                seq, actor, after.get("artifact_sha256"), after.get("artifact_kind"), after.get("artifact_size"),
                after.get("artifact_format"), {key: canonical_json(after[key]) for key in LINEAGE if key in after},
                stage_seq=seq,
            )
        elif action in (AuditAction.VERSION_DELETE, AuditAction.MODEL_DELETE):
            expected.events.extend(_deleted(expected, seq, model, version if action == AuditAction.VERSION_DELETE else None))
        elif action == AuditAction.VERSION_ATTACH:
            expected.events.extend(_attached(expected, seq, model, version, after))
        elif action in (AuditAction.VERSION_TRANSITION, AuditAction.VERSION_PROMOTE, AuditAction.VERSION_ROLLBACK):
            known = expected.versions.get((model, version))
            if action == AuditAction.VERSION_ROLLBACK and (known is None or known.left_seq is None):
                expected.events.append(_unearned_rollback(seq, model, version))
            if known is not None:
                stage = after.get("stage", known.stage)
                if known.stage == Stage.PRODUCTION.value and stage != Stage.PRODUCTION.value:
                    known.left_seq = seq
                known.stage, known.stage_seq = stage, seq
        elif action == AuditAction.ALIAS_SET:
            expected.aliases[(model, after["alias"])] = (after["version"], seq)
            policy = GatePolicy.from_dict(expected.policies.get(model, ({}, 0))[0])
            if policy.protects(after["alias"]):
                expected.events.extend(_ungated_alias(expected, seq, model, after, policy))
        elif action == AuditAction.ALIAS_DELETE:
            expected.aliases.pop((model, json.loads(before_text).get("alias")), None)
        elif action == AuditAction.APPROVAL_RECORD:
            expected.decisions[seq] = (model, version, actor, after)
            expected.gates.setdefault((model, version), GateInputs()).decisions.append(
                RecordedDecision(actor, Decision(after["decision"]), after.get("comment"), "proof" in after)
            )
        elif action == AuditAction.VERSION_RENDER:
            expected.renditions[seq] = (model, version, actor, after)
        elif action == AuditAction.CHECK_RECORD:
            expected.checks[seq] = (model, version, actor, after)
            expected.gates.setdefault((model, version), GateInputs()).latest[after["check"]] = bool(after["passed"])
        if action in _UPDATES and (model, version) in expected.versions:
            expected.versions[(model, version)].updated = (seq, recorded_at)
    return expected


def _ungated_alias(
    expected: _Expected, seq: int, model: str, after: dict[str, Any], policy: GatePolicy
) -> Iterator[Divergence]:
    """A protected alias moved to a version the gates did not admit then, as the log replays them, or whose
    event records other approvals or checks than the log held (``show`` answers "who approved that?" from it)."""
    label = f"event {seq}"
    known = expected.versions.get((model, after["version"]))
    if not after.get("protected") or known is None:
        yield Divergence("audit_events", label, f"moved protected alias {model}@{after['alias']} without its gates", seq)
        return
    inputs = expected.gates.get((model, after["version"]), GateInputs())
    # The registry's own gates, on the version as the replay knows it at this event.
    version = SimpleNamespace(version=after["version"], registered_by=known.actor, stage=known.stage,
                              artifact_kind=known.kind, artifact_format=known.format)
    unmet = protected_alias_gates_unmet_by(policy, version, inputs)
    if unmet:
        yield Divergence(
            "audit_events", label,
            f"moved protected alias {model}@{after['alias']} to version {after['version']}, which the gates did not "
            "admit: " + "; ".join(gate.message for gate in unmet),
            seq,
        )
        return
    facts = {"approved_by": counted_approvers(policy, inputs.decisions, registrant=known.actor),
             "checks": dict(sorted(inputs.latest.items()))}
    recorded = {"approved_by": after.get("approved_by"), "checks": after.get("checks")}
    if recorded != facts:
        yield Divergence(
            "audit_events", label,
            f"moved protected alias {model}@{after['alias']} to version {after['version']} recording "
            f"{_gated_on(recorded)}, but the log counts {_gated_on(facts)}",
            seq,
        )


def _deleted(expected: _Expected, seq: int, model: str, version: int | None) -> Iterator[Divergence]:
    """Forget a deleted version (``version``) or model (None) and all attached; wrong if one was in service."""
    def gone(key_model: str, key_version: int | None) -> bool:
        return key_model == model and (version is None or key_version == version)

    for key in [key for key in expected.versions if gone(*key)]:
        known = expected.versions.pop(key)
        if known.stage in (Stage.PRODUCTION.value, Stage.STAGING.value):
            yield Divergence("audit_events", f"event {seq}",
                             f"deleted {model} version {key[1]} while it was in {known.stage}", seq)
    for key in [key for key, (number, _seq) in expected.aliases.items() if gone(key[0], number)]:
        del expected.aliases[key]
    for recorded in (expected.decisions, expected.checks, expected.renditions):
        for event_seq in [s for s, (m, v, _actor, _after) in recorded.items() if gone(m, v)]:
            del recorded[event_seq]
    for key in [key for key in expected.gates if gone(*key)]:
        del expected.gates[key]
    if version is None:
        expected.policies.pop(model, None)


def _attached(expected: _Expected, seq: int, model: str, version: int, after: dict[str, Any]) -> Iterator[Divergence]:
    """Take an attach event: the version's bytes from now on; wrong when it was no reference without gates then."""
    known = expected.versions.get((model, version))
    if known is None or known.kind != REFERENCE:
        yield Divergence("audit_events", f"event {seq}",
                         f"attached bytes to {model} version {version}, which was not a reference", seq)
        return
    inputs = expected.gates.get((model, version))
    if inputs is not None and (inputs.latest or inputs.decisions):
        yield Divergence("audit_events", f"event {seq}",
                         f"attached bytes to {model} version {version} after checks or decisions were recorded", seq)
    known.sha256, known.kind = after.get("artifact_sha256"), after.get("artifact_kind")
    known.size, known.format, known.seq = after.get("artifact_size"), after.get("artifact_format"), seq


def _gated_on(facts: dict[str, Any]) -> str:
    approvers = ", ".join(shown_actor(str(name)) for name in facts.get("approved_by") or ()) or "nobody"
    checks = ", ".join(f"{name} {'passed' if ok else 'failed'}" for name, ok in (facts.get("checks") or {}).items())
    return f"approvals by {approvers} and checks {checks or 'none'}"


def _unearned_rollback(seq: int, model: str, version: int) -> Divergence:
    return Divergence(
        "audit_events", f"event {seq}",
        f"rolled {model} version {version} back into Production, but the log never took it out of Production: "
        "it was never promoted, so no rollback could reach it",
        seq,
    )


def reconcile(connection: Connection, *, batch: int = 5000) -> tuple[int, list[Divergence]]:
    """Compare the catalog's tables with a replay of the audit log: (divergences found, the first ones)."""
    expected = _replay(_events(connection, batch))
    count = 0
    found: list[Divergence] = []
    for divergence in itertools.chain(
        expected.events, _diverging(connection, expected), rendition_divergences(connection, expected.renditions),
        expected.webhooks.diverging(connection, batch=batch),
    ):
        count += 1
        if len(found) < MAX_REPORTED:
            found.append(divergence)
    return count, found


def _events(connection: Connection, batch: int) -> Iterator[tuple[Any, ...]]:
    after = 0
    columns = (
        AUDIT.c.seq, AUDIT.c.actor, AUDIT.c.action, AUDIT.c.model, AUDIT.c.version, AUDIT.c.before, AUDIT.c.after,
        AUDIT.c.recorded_at,
    )
    while True:
        rows = connection.execute(select(*columns).where(AUDIT.c.seq > after).order_by(AUDIT.c.seq).limit(batch)).all()
        if not rows:
            return
        yield from (tuple(row) for row in rows)
        after = rows[-1][0]


def _diverging(connection: Connection, expected: _Expected) -> Iterator[Divergence]:
    names = dict(connection.execute(select(MODELS.c.id, MODELS.c.name)).all())
    for name, policy in connection.execute(select(MODELS.c.name, MODELS.c.policy)):
        wanted = expected.policies.get(name)
        if wanted is None:
            yield Divergence("registered_models", repr(name), "no audit event created this model")
        elif GatePolicy.from_dict(policy).to_dict() != wanted[0]:
            yield Divergence("registered_models", repr(name), "its policy differs from the one last recorded", wanted[1])
    seen: set[tuple[str, int]] = set()
    numbers: dict[int, tuple[str, int]] = {}
    for row in connection.execute(
        select(
            VERSIONS.c.id, VERSIONS.c.model_id, VERSIONS.c.version, VERSIONS.c.stage, VERSIONS.c.artifact_sha256,
            VERSIONS.c.artifact_kind, VERSIONS.c.artifact_size, VERSIONS.c.artifact_format, VERSIONS.c.registered_by,
            VERSIONS.c.left_production_seq, VERSIONS.c.updated_at, *(VERSIONS.c[key] for key in LINEAGE),
        )
    ):
        key = (names[row.model_id], row.version)
        numbers[row.id] = key
        seen.add(key)
        label = f"{key[0]} version {key[1]}"
        wanted_version = expected.versions.get(key)
        if wanted_version is None:
            yield Divergence("model_versions", label, "no audit event registered this version")
            continue
        if row.artifact_sha256 != wanted_version.sha256 or row.artifact_kind != wanted_version.kind:
            yield Divergence(
                "model_versions", label,
                f"artifact {row.artifact_kind} {row.artifact_sha256} differs from the registered "
                f"{wanted_version.kind} {wanted_version.sha256 or '(no digest)'}",
                wanted_version.seq,
            )
        if not _same_format(row.artifact_format, wanted_version.format):
            yield Divergence(
                "model_versions", label, "its artifact format (how it is loaded) differs from the registered one",
                wanted_version.seq,
            )
        if row.artifact_size != wanted_version.size:
            yield Divergence("model_versions", label, "its artifact size differs from the registered one", wanted_version.seq)
        if row.registered_by != wanted_version.actor:
            yield Divergence(
                "model_versions", label,
                f"registered_by is {row.registered_by!r}, the event says {wanted_version.actor!r}", wanted_version.seq,
            )
        if row.stage.value != wanted_version.stage:
            yield Divergence(
                "model_versions", label, f"stage is {row.stage}, the audit log says {wanted_version.stage}",
                wanted_version.stage_seq,
            )
        if row.left_production_seq != wanted_version.left_seq:
            yield Divergence(
                "model_versions", label,
                f"left_production_seq (what makes it a rollback target) is {row.left_production_seq}, "
                f"the audit log says {wanted_version.left_seq}",
                wanted_version.left_seq or wanted_version.seq,
            )
        updated_seq, updated_at = wanted_version.updated
        if format_timestamp(row.updated_at) != updated_at:
            yield Divergence(
                "model_versions", label,
                f"updated_at is {format_timestamp(row.updated_at)}, the audit log's latest change of it is {updated_at}",
                updated_seq,
            )
        for key, registered in wanted_version.lineage.items():
            if canonical_json(row._mapping[key]) != registered:
                yield Divergence("model_versions", label, f"its {key} differs from the registered one", wanted_version.seq)
    for key in sorted(expected.versions.keys() - seen):
        yield Divergence("model_versions", f"{key[0]} version {key[1]}", "registered but missing", expected.versions[key].seq)
    aliases = {
        (names[model_id], alias): numbers.get(version_id)
        for model_id, alias, version_id in connection.execute(select(ALIASES.c.model_id, ALIASES.c.alias, ALIASES.c.version_id))
    }
    for (name, alias), target in sorted(aliases.items()):
        wanted_alias = expected.aliases.get((name, alias))
        if wanted_alias is None:
            yield Divergence("aliases", f"{name}@{alias}", "no audit event set this alias")
        elif target is None or target[1] != wanted_alias[0]:
            yield Divergence(
                "aliases", f"{name}@{alias}",
                f"points at version {target[1] if target else '?'}, the audit log says {wanted_alias[0]}", wanted_alias[1],
            )
    for (name, alias), (version, seq) in sorted(expected.aliases.items()):
        if (name, alias) not in aliases:
            yield Divergence("aliases", f"{name}@{alias}", f"set to version {version} but missing", seq)
    yield from _recorded(
        connection, "approvals", APPROVALS, expected.decisions, numbers,
        lambda row, after: after.get("decision") == row.decision and after.get("comment") == row.comment,
        actor_column="approver",
    )
    yield from _recorded(
        connection, "check_results", CHECKS, expected.checks, numbers,
        lambda row, after: (
            after.get("check") == row.name and after.get("passed") == row.passed
            and canonical_json(after.get("details")) == canonical_json(row.details)
        ),
        actor_column="recorded_by",
    )


def _same_format(recorded: dict[str, Any] | None, registered: dict[str, Any] | None) -> bool:
    """Whether a version's format is the one its registration recorded.

    The one change allowed is migration 0006's ``legacy_pickle`` mark, and only on
    a version whose registration recorded a pickle made before pickle was opt-in
    (every pickle registered since records ``pickle_opt_in``). A row without a
    format (revision 0003 added the column empty) is not compared: nothing loads
    from it.
    """
    if recorded is None:
        return True
    recorded, registered = dict(recorded), dict(registered or {})
    if "legacy_pickle" in recorded and "legacy_pickle" not in registered:
        marked = recorded.pop("legacy_pickle")
        pickled_before_opt_in = registered.get("serializer") == "pickle" and "pickle_opt_in" not in registered
        if marked is not True or not pickled_before_opt_in:
            return False
    return canonical_json(recorded) == canonical_json(registered)


def _recorded(
    connection: Connection, table_name: str, table: Any, events: dict[int, tuple[str, int, str, dict[str, Any]]],
    numbers: dict[int, tuple[str, int]], same: Any, *, actor_column: str,
) -> Iterator[Divergence]:
    claimed: set[int] = set()
    for row in connection.execute(select(table).order_by(table.c.id)):
        key = numbers.get(row.version_id)
        label = f"row {row.id}" + (f" ({key[0]} version {key[1]}, by {getattr(row, actor_column)!r})" if key else "")
        if row.audit_seq is None:
            yield Divergence(table_name, label, "has no audit event: it is not counted by any gate")
            continue
        event = events.get(row.audit_seq)
        if event is None:
            yield Divergence(
                table_name, label, "points at an event that recorded something else: it is not counted by any gate",
                row.audit_seq,
            )
            continue
        if row.audit_seq in claimed:
            yield Divergence(
                table_name, label, "is a second row tied to the same event (a copy): it is not counted by any gate",
                row.audit_seq,
            )
            continue
        claimed.add(row.audit_seq)
        model, version, actor, after = event
        if key != (model, version) or getattr(row, actor_column) != actor or not same(row, after):
            yield Divergence(table_name, label, "differs from its audit event: it is not counted by any gate", row.audit_seq)
    for seq in sorted(events.keys() - claimed):
        model, version, actor, _after = events[seq]
        yield Divergence(table_name, f"of {model} version {version} by {actor!r}", "recorded but missing", seq)

"""The human-readable output of the commands: tables and multi-line views of the registry's records.

Every function takes records and returns lines; none prints. Enum-valued
fields (stages, decisions, audit actions) are compared with their string
values and shown with ``str()``, so plain strings and ``StrEnum`` members
render alike.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..identities import shown_actor

if TYPE_CHECKING:
    from ..audit import AuditReport
    from ..policy import GatePolicy
    from ..records import AuditEntry, GarbageReport, ModelInfo, StageChange, VersionDetails, VersionInfo
    from ..webhooks import WebhookDeliveryRecord, WebhookInfo

#: How a decision reads after the fact: "approved by bob". Matched by equality, which
#: a plain string and a str-valued enum member both pass (``str()`` of a
#: ``(str, Enum)`` member would give its name, not its value).
_DECISIONS_DONE = (("approve", "approved"), ("reject", "rejected"))


#: Every timestamp in the human-readable output: UTC, to the second, zone spelled out.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
#: The widest line of a table of audit events (the summary column gives way).
ROW_WIDTH = 100


def when(moment: Any) -> str:
    """A timestamp as ``2026-11-29 13:05:01 UTC``, or ``-`` for none.

    Takes a datetime (one without a zone is UTC, as the catalog stores it) or
    the ISO 8601 text of an audit event (``2026-11-29T13:05:01.123456Z``).
    """
    if not moment:
        return "-"
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(TIME_FORMAT)


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in ``…`` when cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def summary(value: Any, *, keys: int = 3, width: int = 80) -> str:
    """The first ``keys`` entries of a JSON object on one line, values shortened; ``--json`` has it all."""
    if not isinstance(value, dict):
        return shorten(compact(value), width)
    items = sorted(value.items())
    shown = ", ".join(f"{k}={shorten(_scalar(v), 24)}" for k, v in items[:keys])
    if len(items) > keys:
        shown += f", … ({len(items) - keys} more)"
    return shorten(shown, width)


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def compact(value: Any) -> str:
    """A JSON value on one short line; ``{}`` for an empty or missing one."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")) if value else "{}"


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Left-aligned columns as wide as their widest cell, two spaces apart."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


def _pairs(mapping: dict[str, Any], joiner: str) -> str:
    return ", ".join(f"{k}{joiner}{v}" for k, v in mapping.items())


# --- models and versions --------------------------------------------------------------------


def model_table(models: Iterable[ModelInfo], empty: str = "no models registered") -> list[str]:
    rows = [
        (m.name, str(m.latest_version), str(m.production_version or "-"),
         ",".join(f"{a}->{v}" for a, v in m.aliases.items()) or "-", m.description or "")
        for m in models
    ]
    return table(("MODEL", "LATEST", "PRODUCTION", "ALIASES", "DESCRIPTION"), rows) if rows else [empty]


def version_table(versions: Iterable[VersionInfo], *, with_model: bool = False) -> list[str]:
    header = ("VERSION", "STAGE", "REGISTERED_BY", "CREATED", "RUN_ID", "SHA256")
    rows = [
        (str(v.version), str(v.stage), shown_actor(v.registered_by), when(v.created_at), v.run_id or "-",
         v.artifact_sha256[:12] or "-")
        for v in versions
    ]
    if with_model:
        header, rows = ("MODEL", *header), [(v.model, *row) for v, row in zip(versions, rows, strict=True)]
    return table(header, rows) if rows else ["no versions"]


def model_lines(m: ModelInfo) -> list[str]:
    return [
        f"models:/{m.name}",
        f"  description:   {m.description or '-'}",
        f"  latest:        {m.latest_version or '-'}",
        f"  production:    {m.production_version or '-'}",
        f"  aliases:       {_pairs(m.aliases, '->') or '-'}",
        f"  tags:          {_pairs(m.tags, '=') or '-'}",
        f"  created by:    {shown_actor(m.created_by)} at {when(m.created_at)}",
        f"  policy:        {compact(m.policy.to_dict())}",
    ]


def registered(v: VersionInfo) -> str:
    """The line ``registry register`` prints."""
    if not v.artifact_sha256:
        return (f"Registered {v.uri} (stage {v.stage}) as a reference to {v.artifact_uri}: no bytes until "
                f"'registry attach {shlex.quote(v.model)} {v.version} PATH'")
    return (f"Registered {v.uri} (stage {v.stage}, {v.artifact_kind}, sha256 {v.artifact_sha256}, "
            f"{v.artifact_size} bytes)")


def version_lines(v: VersionInfo) -> list[str]:
    lines = [
        f"{v.uri}",
        f"  stage:          {v.stage} (since {when(v.stage_changed_at)})",
        f"  registered by:  {shown_actor(v.registered_by)} at {when(v.created_at)}",
        f"  artifact:       {v.artifact_kind} at {v.artifact_uri}",
        f"  sha256:         {v.artifact_sha256} ({v.artifact_size} bytes)" if v.artifact_sha256 else
        "  sha256:         - (no bytes: not loadable, servable or promotable until 'registry attach')",
        f"  run id:         {v.run_id or '-'}",
        f"  dataset digest: {v.dataset_digest or '-'}",
    ]
    if v.artifact_kind == "sklearn":
        # Imported here: the estimators module pulls in the blob stores, which `registry --help` must not load.
        from ..estimators import describe_serialization

        lines.insert(4, f"  serialized as:  {describe_serialization(v.artifact_format) or 'unknown'}")
    if v.description:
        lines.append(f"  description:    {v.description}")
    for label, mapping in (("params", v.params), ("metrics", v.metrics), ("tags", v.tags)):
        if mapping:
            lines.append(f"  {label + ':':<15} " + ", ".join(f"{k}={val}" for k, val in sorted(mapping.items())))
    if v.signature:
        lines.append(f"  signature:      {compact(v.signature)}")
    return lines


def details_lines(d: VersionDetails) -> list[str]:
    """A version with its aliases, checks, decisions, stage history and the gates before its next stage."""
    lines = version_lines(d.version)
    if d.aliases:
        lines.append(f"  aliases:        {', '.join(d.aliases)}")
        lines.extend(f"    {alias_line(alias, d)}" for alias in d.aliases
                     if alias in d.alias_events or alias in d.protected_aliases)
    lines.append("  checks:" + ("" if d.checks else "         (none)"))
    lines.extend(
        f"    {c.name}: {'passed' if c.passed else 'FAILED'} by {c.recorded_by} at {when(c.recorded_at)}"
        + (f" ({summary(c.details)})" if c.details else "")
        for c in d.checks
    )
    lines.append("  decisions:" + ("" if d.decisions else "      (none)"))
    lines.extend(
        f"    {decided(a.decision)} by {shown_actor(a.approver)} at {when(a.recorded_at)}"
        + (f": {a.comment}" if a.comment else "")
        for a in d.decisions
    )
    lines.append("  stage history:")
    lines.extend(f"    #{e.seq} {when(e.recorded_at)} {shown_actor(e.actor)}: {stage_change(e)}" for e in d.stage_history)
    if d.next_stage is not None:
        if d.unmet_gates:
            lines.append(f"  before {d.next_stage}:")
            lines.extend(f"    - {str(gate)}" for gate in d.unmet_gates)
        else:
            lines.append(f"  before {d.next_stage}: every gate met")
    return lines


def alias_line(alias: str, d: VersionDetails) -> str:
    """Who pointed an alias at this version and when; for a protected alias, what that move was gated on."""
    protected = alias in d.protected_aliases
    text = f"@{alias}{' (protected)' if protected else ''}"
    event = d.alias_events.get(alias)
    if event is not None:
        text += f" set by {shown_actor(event.actor)} at {when(event.recorded_at)}"
        if event.after.get("protected"):
            approvers = ", ".join(map(shown_actor, event.after.get("approved_by") or ())) or "nobody (none required)"
            text += f", gated on approvals by {approvers}"
            checks = event.after.get("checks") or {}
            if checks:
                text += "; checks " + ", ".join(f"{name} {'passed' if ok else 'FAILED'}" for name, ok in checks.items())
        elif protected:
            text += ", before the alias was protected"
    if protected and d.alias_unmet_gates:
        text += "; no longer meets the gates: " + "; ".join(gate.message for gate in d.alias_unmet_gates)
    return text


def decided(decision: str) -> str:
    """A decision in the past tense: "approved", "rejected"."""
    return next((done for value, done in _DECISIONS_DONE if decision == value), str(decision))


def stage_change(event: AuditEntry) -> str:
    """What one registration or stage-change event of the audit log did."""
    if event.action == "version.register":
        return f"registered in {event.after.get('stage')}"
    text = f"{event.before.get('stage')} -> {event.after.get('stage')}"
    if event.after.get("reason"):
        text += f" ({event.after['reason']})"
    if event.after.get("approved_by"):
        text += f", approved by {', '.join(map(shown_actor, event.after['approved_by']))}"
    return text


def garbage_lines(report: GarbageReport, min_age: float) -> list[str]:
    verb = "deleted" if report.deleted else "unreferenced (dry run; --delete removes them)"
    lines = [f"{len(report.blobs)} blob(s), {report.bytes} bytes, {verb}"]
    lines.extend(f"  {sha256}" for sha256 in report.blobs)
    if report.skipped_recent:
        lines.append(f"{report.skipped_recent} unreferenced blob(s) younger than {min_age:g} s left alone")
    if report.partials:
        verb = "deleted" if report.deleted else "stale (dry run; --delete removes them)"
        lines.append(
            f"{len(report.partials)} interrupted upload(s) under incoming/, {report.partial_bytes} bytes, {verb}"
        )
        lines.extend(f"  incoming/{name}" for name in report.partials)
    if report.skipped_recent_partials:
        lines.append(
            f"{report.skipped_recent_partials} upload(s) in incoming/ younger than {min_age:g} s left alone"
        )
    return lines


# --- workflow and governance ------------------------------------------------------------------


def change_lines(change: StageChange) -> list[str]:
    """A stage change, and the Production version it archived if any."""
    v = change.version
    lines = [f"{v.model} version {v.version}: {change.previous_stage} -> {v.stage}"]
    if change.archived is not None:
        lines.append(f"{v.model} version {change.archived.version}: Production -> Archived")
    return lines


def policy_lines(policy: GatePolicy) -> list[str]:
    return [
        f"staging checks:     {', '.join(policy.staging_checks) or '(none)'}",
        f"production checks:  {', '.join(policy.production_checks) or '(none)'}",
        f"approvals required: {policy.approvals_required}",
        f"approvers:          {', '.join(map(shown_actor, policy.approvers)) or '(anyone)'}",
        f"self-approval:      {'allowed' if policy.allow_self_approval else 'not allowed'}",
        f"trusted types:      {', '.join(policy.trusted_types) or '(scikit-learn only)'}",
        f"pickle:             {'allowed' if policy.allow_pickle else 'not allowed'}",
        f"protected aliases:  {', '.join(policy.protected_aliases) or '(none)'}",
        f"I/O parameters:     {', '.join(policy.allow_io_parameters) or '(none allowed)'}",
        f"load limits:        {policy.max_load_bytes // (1024 * 1024)} MiB, {policy.max_load_objects:,} objects",
        f"proof:              {'required' if policy.require_proof else 'not required'}"
        + (f" (owners: {', '.join(map(shown_actor, policy.owners))})" if policy.owners else ""),
        "ONNX parity:        " + ("none (renditions are not served)" if policy.onnx_parity is None
                                  else f"{policy.onnx_parity:g} (a rendition within it is served)"),
    ]


# --- audit ------------------------------------------------------------------------------------


def audit_lines(events: Sequence[AuditEntry]) -> list[str]:
    """Audit events as a table, one row each of at most :data:`ROW_WIDTH` characters; ``--json`` has them whole."""
    if not events:
        return ["no audit events"]
    rows = [
        (f"#{e.seq}", when(e.recorded_at), shorten(shown_actor(e.actor), 16), str(e.action),
         shorten((e.model or "-") + (f" v{e.version}" if e.version is not None else ""), 28))
        for e in events
    ]
    header = ("SEQ", "TIME", "ACTOR", "ACTION", "VERSION")
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    room = max(ROW_WIDTH - sum(widths) - 2 * len(widths), 12)
    return table(
        (*header, "CHANGE"),
        [(*row, shorten(audit_change(e), room)) for row, e in zip(rows, events, strict=True)],
    )


def audit_change(event: AuditEntry) -> str:
    """What an audit event changed, before -> after, key by key: ``stage: Staging -> Production``."""
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    if not isinstance(event.before, dict) or not isinstance(event.after, dict):
        return f"{compact(event.before)} -> {compact(event.after)}"
    if before and not after:
        return "removed " + ", ".join(f"{key}={_short(value)}" for key, value in before.items())
    parts = []
    # The stage first; keys only in ``before`` are context (the replaced Production version), not changes.
    for key in sorted(after, key=lambda k: k != "stage"):
        old, new = before.get(key), after[key]
        if key in before and old != new:
            parts.append(f"{key}: {_short(old)} -> {_short(new)}")
        elif key not in before and new not in (None, "", [], {}):
            parts.append(f"{key}={_short(new)}")
    return ", ".join(parts) or "-"


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_short(v) for v in value) or "[]"
    return shorten(_scalar(value), 40) if value is not None else "-"


def history_table(events: Sequence[AuditEntry]) -> list[str]:
    """How Production changed: each promotion and rollback, who approved it, who did it and why."""
    if not events:
        return ["Production never changed"]
    rows = []
    for e in events:
        before = e.before if isinstance(e.before, dict) else {}
        after = e.after if isinstance(e.after, dict) else {}
        change = "rollback" if e.action == "version.rollback" else "promote"
        previous = before.get("production")
        rows.append((
            when(e.recorded_at),
            str(e.version),
            change,
            str(previous) if previous is not None else "-",
            shorten(", ".join(map(shown_actor, after.get("approved_by") or [])) or "-", 30),
            shorten(shown_actor(e.actor), 20),
            shorten(after.get("reason") or "-", 40),
        ))
    return table(("WHEN", "VERSION", "CHANGE", "REPLACED", "APPROVED_BY", "BY", "REASON"), rows)


def audit_report_lines(report: AuditReport) -> list[str]:
    if report.intact:
        return [
            f"audit log intact: {report.events} events, head #{report.head_seq} {report.head_hash}; "
            "the catalog agrees with it"
        ]
    if report.divergence_count:
        shown = len(report.divergences)
        more = f" (the first {shown} shown)" if report.divergence_count > shown else ""
        return [
            f"catalog DIFFERS from its audit log: {report.divergence_count} row(s){more}; "
            f"the chain itself is intact ({report.events} events)",
            *(f"  {line}" for line in report.divergences),
        ]
    return [f"audit log BROKEN at event {report.first_bad_seq}: {report.problem}"]


# --- webhooks ---------------------------------------------------------------------------------


def webhook_table(webhooks: Iterable[WebhookInfo]) -> list[str]:
    rows = [
        (str(w.id), w.url, ",".join(w.events), w.model or "*", str(w.pending), str(w.delivered),
         "removed" if w.removed_at else "active")
        for w in webhooks
    ]
    return table(("ID", "URL", "EVENTS", "MODEL", "PENDING", "DELIVERED", "STATE"), rows) if rows else ["no webhooks"]


def delivery_lines(deliveries: Sequence[WebhookDeliveryRecord]) -> list[str]:
    """Each event with its state, then every attempt to deliver it."""
    if not deliveries:
        return ["no events"]
    lines = []
    for d in deliveries:
        state = f"delivered {when(d.delivered_at)}" if d.delivered_at else f"pending, next try {when(d.next_attempt_at)}"
        lines.append(f"{d.event_id} {d.event_type} (audit #{d.audit_seq}): {state}, {d.attempts} attempt(s)")
        lines.extend(
            f"  #{a.number} {when(a.attempted_at)} "
            + (f"HTTP {a.status_code}" if a.status_code is not None else "no response")
            + f" in {a.duration_ms:.0f} ms" + (f": {a.error}" if a.error else "")
            for a in d.attempt_log
        )
    return lines

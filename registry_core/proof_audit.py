"""Every stored proof checked again, against the credential enrolled when it was made; credentials against their events.

Replaying the identity events gives, at each point of the log, which keys and
TOTP secrets each identity held. Each decision, policy change or enrolment that
carries a proof is then checked: its statement must say what the event
records (for a decision: the model, version, the registered artifact digest,
the decision, the comment and the approver), the credential must have been
enrolled for that person at that point, and the SSH signature must verify with
its key. A TOTP proof's HMAC is checked when ``REGISTRY_SECRET_KEY`` is set.
The ``credentials`` rows must match the events that enrolled and revoked them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select

from .actions import AuditAction
from .credential_table import Credential
from .divergence import Divergence
from .enrolment import enrolment_subject
from .errors import ProofRefused
from .identities import same_person, shown_actor
from .proofs import decision_subject, decrypt_secret, parse_statement, policy_subject, ssh_signer_key, totp_mac
from .rows import AUDIT

__all__ = ["proof_divergences"]

_IDENTITY = (AuditAction.IDENTITY_ENROL, AuditAction.IDENTITY_ROTATE, AuditAction.IDENTITY_REVOKE)
_PROVABLE = (AuditAction.APPROVAL_RECORD, AuditAction.POLICY_SET)
#: Every identity event, decision and policy change. (Not only those whose text mentions a proof: a forger
#: need not write canonical JSON, and the gates count whatever parses as one.)
_READ = select(
    AUDIT.c.seq, AUDIT.c.actor, AUDIT.c.action, AUDIT.c.model, AUDIT.c.version, AUDIT.c.before, AUDIT.c.after
).where(AUDIT.c.action.in_([action.value for action in (*_IDENTITY, *_PROVABLE)])).order_by(AUDIT.c.seq)
#: The event that last gave a version its bytes before a decision: its registration, or the attach of a reference.
_REGISTERED = select(AUDIT.c.after).where(
    AUDIT.c.model == bindparam("model"), AUDIT.c.version == bindparam("version"),
    AUDIT.c.action.in_([AuditAction.VERSION_REGISTER.value, AuditAction.VERSION_ATTACH.value]),
    AUDIT.c.seq < bindparam("seq"),
).order_by(AUDIT.c.seq.desc()).limit(1)


@dataclass
class _Enrolled:
    fingerprint: str
    identity: str
    kind: str
    public_key: str | None
    enrol_seq: int
    revoke_seq: int | None = None


def proof_divergences(connection: Connection) -> list[Divergence]:
    """Every stored proof that does not verify, and every credential row that differs from its events."""
    enrolled: dict[str, _Enrolled] = {}
    history: list[_Enrolled] = []
    found: list[Divergence] = []
    secrets = {row.fingerprint: row.secret for row in connection.execute(
        select(Credential.fingerprint, Credential.secret).where(Credential.kind == "totp"))}
    for seq, actor, action, model, version, before_text, after_text in connection.execute(_READ).all():
        after = json.loads(after_text)
        if "proof" in after:
            person, subject, label = _claim(connection, seq, action, actor, model, version, after)
            problem = _problem(connection, seq, after["proof"], person, subject, enrolled, secrets)
            if problem:
                found.append(Divergence("audit_events", f"event {seq}", f"{label}: its proof does not verify: {problem}", seq))
        if action in _IDENTITY:
            _apply(enrolled, history, seq, action, json.loads(before_text), after)
    found.extend(_credential_rows(connection, history))
    return found


def _claim(
    connection: Connection, seq: int, action: str, actor: str, model: str, version: int, after: dict[str, Any]
) -> tuple[str, dict[str, Any], str]:
    """Who the event says proved it, what the proof must cover, and the event in words."""
    if action == AuditAction.APPROVAL_RECORD:
        registered = connection.execute(_REGISTERED, {"model": model, "version": version, "seq": seq}).scalar()
        digest = json.loads(registered).get("artifact_sha256") if registered else ""
        subject = decision_subject(model, version, digest or "", after["decision"], after.get("comment"))
        return actor, subject, f"the {after['decision']} of {model} version {version} by {shown_actor(actor)}"
    if action == AuditAction.POLICY_SET:
        return actor, policy_subject(model, after.get("policy", after)), f"the policy change of {model} by {shown_actor(actor)}"
    kind = after.get("kind", "")
    subject = enrolment_subject(
        after["identity"], kind, after.get("fingerprint") if kind == "ssh" else None,
        rotate=action == AuditAction.IDENTITY_ROTATE,
    )
    return after["identity"], subject, f"the {kind} enrolment of {shown_actor(after['identity'])}"


def _problem(
    connection: Connection, seq: int, proof: dict[str, Any], person: str, subject: dict[str, Any],
    enrolled: dict[str, _Enrolled], secrets: dict[str, str | None],
) -> str | None:
    if not isinstance(proof, dict):
        return "it is not a proof this registry writes"
    statement = str(proof.get("statement", ""))
    try:
        fields = parse_statement(statement)
    except ProofRefused as error:
        return str(error)
    for key, value in {**subject, "actor": person}.items():
        if fields.get(key) != value:
            return f"its statement names another {key.replace('_', ' ')} ({fields.get(key)!r}, not {value!r})"
    seq_text, _, digest = str(fields.get("chain_head", "")).partition(":")
    if not seq_text.isdigit() or int(seq_text) >= seq or (
        int(seq_text) and connection.execute(select(AUDIT.c.hash).where(AUDIT.c.seq == int(seq_text))).scalar() != digest
    ):
        return f"its statement names chain head {fields.get('chain_head')!r}, which the log before it does not hold"
    credential = enrolled.get(str(proof.get("fingerprint")))
    if credential is None or credential.revoke_seq is not None or not same_person(credential.identity, person):
        return f"it was made with {proof.get('fingerprint')}, which was not enrolled for {shown_actor(person)} then"
    if proof.get("kind") == "ssh":
        try:
            signer = ssh_signer_key(statement, str(proof.get("signature", "")))
        except ProofRefused:
            return "its SSH signature does not match its statement"
        if signer != credential.public_key:
            return f"it is signed by another key than {proof.get('fingerprint')}"
        return None
    sealed = secrets.get(str(proof.get("fingerprint")))
    try:
        secret = decrypt_secret(sealed, required=False) if sealed else None
    except ProofRefused:
        return "its TOTP secret does not decrypt with this REGISTRY_SECRET_KEY: the stored secret was replaced, or the key is another"
    if secret is not None and totp_mac(secret, statement) != proof.get("mac"):
        return "its TOTP HMAC does not match its statement"
    return None


def _apply(
    enrolled: dict[str, _Enrolled], history: list[_Enrolled], seq: int, action: str,
    before: dict[str, Any], after: dict[str, Any],
) -> None:
    ended = before.get("fingerprints", []) if action == AuditAction.IDENTITY_ROTATE else after.get("fingerprints", [])
    for fingerprint in ended if action != AuditAction.IDENTITY_ENROL else ():
        if fingerprint in enrolled and enrolled[fingerprint].revoke_seq is None:
            enrolled[fingerprint].revoke_seq = seq
    if action != AuditAction.IDENTITY_REVOKE:
        entry = _Enrolled(after["fingerprint"], after["identity"], after["kind"], after.get("public_key"), seq)
        enrolled[entry.fingerprint] = entry
        history.append(entry)


def _credential_rows(connection: Connection, history: list[_Enrolled]) -> Iterator[Divergence]:
    """Each row against the enrolment event it names (a key may be enrolled, revoked and enrolled again)."""
    by_event = {(entry.fingerprint, entry.enrol_seq): entry for entry in history}
    fingerprints = {entry.fingerprint for entry in history}
    seen: set[tuple[str, int]] = set()
    for row in connection.execute(select(Credential.__table__).order_by(Credential.id)):
        label = f"{row.fingerprint} of {shown_actor(row.identity)}"
        wanted = by_event.get((row.fingerprint, row.enrol_seq))
        if wanted is None:
            problem = "differs from the event that enrolled it" if row.fingerprint in fingerprints else "no audit event enrolled this credential"
            yield Divergence("credentials", label, problem)
            continue
        seen.add((row.fingerprint, row.enrol_seq))
        if (row.identity, row.kind, row.public_key) != (wanted.identity, wanted.kind, wanted.public_key):
            yield Divergence("credentials", label, "differs from the event that enrolled it", wanted.enrol_seq)
        elif (row.revoked_at is None) != (wanted.revoke_seq is None) or row.revoke_seq != wanted.revoke_seq:
            yield Divergence("credentials", label, "its revocation differs from the audit log", wanted.revoke_seq or wanted.enrol_seq)
    for key in sorted(set(by_event) - seen, key=lambda key: key[1]):
        yield Divergence("credentials", key[0], "enrolled but missing", key[1])

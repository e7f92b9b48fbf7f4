"""Checking a proof inside the unit of work that records what it proves, and making an SSH proof to send.

:func:`prove` runs in the same transaction as the decision (or policy change,
or enrolment) it proves: it finds the person's enrolled credentials, checks the
proof, and marks it used (a TOTP step, an SSH statement's time), so a replayed
code or signature is refused and a refused proof records nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from .audit import GENESIS_HASH, format_timestamp
from .credential_table import Credential
from .errors import ProofRefused
from .identities import same_person, shown_actor
from .proofs import (
    Proof,
    SshProof,
    TotpProof,
    decrypt_secret,
    parse_statement,
    ssh_sign,
    ssh_signer_key,
    statement_text,
    totp_mac,
    totp_step,
)
from .rows import AUDIT
from .schema import AuditHead
from .unit_of_work import Catalog, UnitOfWork

__all__ = ["MAX_CLOCK_SKEW", "active_credentials", "prove", "sign_statement"]

#: How far a signed statement's time may be from the registry's clock.
MAX_CLOCK_SKEW = timedelta(minutes=5)
CREDENTIALS = Credential.__table__


def sign_statement(catalog: Catalog, person: str, subject: dict[str, Any], key: str | Path) -> SshProof:
    """Sign ``subject`` as ``person`` with ``ssh-keygen``, against the catalog's chain head now."""
    with catalog.read() as connection:
        head = connection.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    seq, digest = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    text = statement_text(
        subject, actor=person, time=format_timestamp(datetime.now(UTC)), chain_head=f"{seq}:{digest}"
    )
    return SshProof(statement=text, signature=ssh_sign(key, text))


def active_credentials(work: UnitOfWork, person: str, kind: str) -> list[Any]:
    """The enrolled, unrevoked credentials of ``kind`` whose identity is ``person`` (by :func:`same_person`), locked."""
    rows = work.connection.execute(
        select(CREDENTIALS).where(CREDENTIALS.c.kind == kind, CREDENTIALS.c.revoked_at.is_(None))
        .order_by(CREDENTIALS.c.id).with_for_update()
    ).all()
    return [row for row in rows if same_person(row.identity, person)]


def prove(work: UnitOfWork, person: str, subject: dict[str, Any], proof: Proof | None) -> dict[str, Any]:
    """Check that ``person`` proved ``subject`` and mark the proof used; returns what the audit event keeps of it.

    Raises :class:`ProofRefused` for a missing, wrong, expired or replayed proof, or one by someone else.
    """
    who = shown_actor(person)
    if isinstance(proof, SshProof):
        return _prove_ssh(work, person, who, subject, proof)
    if isinstance(proof, TotpProof):
        return _prove_totp(work, person, who, subject, proof)
    raise ProofRefused(f"a proof by {who} is required: sign with an enrolled SSH key (--sign-with KEY) or give a TOTP code (--totp CODE)")


def _prove_ssh(work: UnitOfWork, person: str, who: str, subject: dict[str, Any], proof: SshProof) -> dict[str, Any]:
    fields = parse_statement(proof.statement)
    wanted = {**subject, "actor": person}
    if set(fields) != {*wanted, "time", "chain_head"}:
        raise ProofRefused("the signed statement does not hold the fields of this change")
    for key, value in wanted.items():
        if fields[key] != value:
            raise ProofRefused(f"the signature is over another {key.replace('_', ' ')} ({fields[key]!r}, not {value!r})")
    made = _statement_time(fields["time"])
    if abs(made - work.now) > MAX_CLOCK_SKEW:
        raise ProofRefused(f"the signed statement was made at {fields['time']}, more than 5 minutes from now")
    _require_chain_head(work, fields["chain_head"])
    signer = ssh_signer_key(proof.statement, proof.signature)
    credentials = [row for row in active_credentials(work, person, "ssh") if row.public_key == signer]
    if not credentials:
        raise ProofRefused(f"the statement was signed by a key that is not enrolled for {who}")
    credential = credentials[0]
    millis = int(made.timestamp() * 1000)
    if millis <= credential.last_counter:
        raise ProofRefused("this signature was already used (or a newer one by the same key was): sign again")
    _consume(work, credential.id, millis)
    return {"kind": "ssh", "fingerprint": credential.fingerprint, "statement": proof.statement,
            "signature": proof.signature}


def _prove_totp(work: UnitOfWork, person: str, who: str, subject: dict[str, Any], proof: TotpProof) -> dict[str, Any]:
    credentials = active_credentials(work, person, "totp")
    if not credentials:
        raise ProofRefused(f"{who} has no TOTP secret enrolled ('registry identity add NAME --totp')")
    credential = credentials[0]
    secret = decrypt_secret(credential.secret) or ""
    step = totp_step(secret, proof.code, at=work.now.timestamp(), after=credential.last_counter)
    _consume(work, credential.id, step)
    seq, digest = work.head()
    text = statement_text(subject, actor=person, time=format_timestamp(work.now), chain_head=f"{seq}:{digest}")
    return {"kind": "totp", "fingerprint": credential.fingerprint, "statement": text, "step": step,
            "mac": totp_mac(secret, text)}


def _consume(work: UnitOfWork, credential_id: int, counter: int) -> None:
    work.connection.execute(update(CREDENTIALS).where(CREDENTIALS.c.id == credential_id).values(last_counter=counter))


def _statement_time(text: Any) -> datetime:
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise ProofRefused(f"the signed statement's time {text!r} is not a UTC timestamp") from None


def _require_chain_head(work: UnitOfWork, text: Any) -> None:
    """The statement must name an event of this chain (``seq:hash``): it was made against this catalog's history."""
    seq_text, _, digest = str(text).partition(":")
    if not seq_text.isdigit():
        raise ProofRefused(f"the signed statement's chain head {text!r} is not 'seq:hash'")
    seq = int(seq_text)
    if seq == 0 and digest == GENESIS_HASH:
        return
    found = work.connection.execute(select(AUDIT.c.hash).where(AUDIT.c.seq == seq)).scalar()
    if found != digest:
        raise ProofRefused(f"the signed statement was made against chain head {seq}, which this catalog's log does not hold")

"""Enrolling, rotating and revoking the credentials with which identities prove their decisions.

Each change is one unit of work with its audit event: ``identity.enrol`` adds a
credential, ``identity.rotate`` replaces an identity's credentials of one kind
with a new one, ``identity.revoke`` ends them. The events keep the SSH public
key and every fingerprint (never a TOTP secret), so ``registry audit --verify``
knows which key was enrolled when each decision was signed.

Trust starts at the first enrolment of an identity (whoever runs it is
recorded). Once an identity holds a credential, enrolling another one or
rotating needs a proof by that identity: nobody adds a key beside someone's
own. Revoking needs none (a lost key must be stoppable), and an identity whose
credentials are all revoked is enrolled again like a new one; both are events
to review (see docs/explanation/proofs-threat-model.md).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import insert, select, update

from .actions import AuditAction
from .credential_table import CREDENTIAL_KINDS, Credential
from .errors import ConflictError, InvalidInput, NotFound
from .extras import requiring_extra
from .identities import same_person, shown_actor, validate_actor
from .proofs import Proof, encrypt_secret, parse_public_key
from .proving import active_credentials, prove
from .unit_of_work import Catalog, UnitOfWork

__all__ = [
    "CredentialInfo",
    "TotpEnrolment",
    "enrol_ssh_key",
    "enrol_totp",
    "enrolment_subject",
    "list_credentials",
    "revoke_credentials",
]

CREDENTIALS = Credential.__table__
TOTP_ISSUER = "model-registry"


@dataclass(frozen=True)
class CredentialInfo:
    """One enrolled credential, as ``registry identity list`` shows it (never its secret)."""

    identity: str
    kind: str
    fingerprint: str
    enrolled_by: str
    enrolled_at: datetime
    revoked_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity, "kind": self.kind, "fingerprint": self.fingerprint,
            "enrolled_by": self.enrolled_by, "enrolled_at": self.enrolled_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True)
class TotpEnrolment:
    """A new TOTP credential and what to show its owner once: the secret and its ``otpauth://`` URI."""

    credential: CredentialInfo
    secret: str
    uri: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.credential.to_dict(), "otpauth_uri": self.uri}


def enrolment_subject(identity: str, kind: str, fingerprint: str | None, *, rotate: bool) -> dict[str, Any]:
    """What a proof by ``identity`` covers when it adds a credential (an SSH key's fingerprint is known in advance)."""
    action = AuditAction.IDENTITY_ROTATE if rotate else AuditAction.IDENTITY_ENROL
    subject: dict[str, Any] = {"action": action.value, "identity": identity, "kind": kind}
    if fingerprint is not None:
        subject["fingerprint"] = fingerprint
    return subject


def enrol_ssh_key(
    catalog: Catalog, actor: str, identity: str, public_key: str, *, rotate: bool = False, proof: Proof | None = None
) -> CredentialInfo:
    """Enrol an OpenSSH public key for ``identity``; with ``rotate``, it replaces the identity's SSH keys."""
    identity = validate_actor(identity)
    key, fingerprint = parse_public_key(public_key)
    with catalog.write(actor) as work:
        taken = work.connection.execute(
            select(CREDENTIALS.c.identity).where(
                CREDENTIALS.c.fingerprint == fingerprint, CREDENTIALS.c.revoked_at.is_(None)
            )
        ).first()
        if taken is not None:
            raise ConflictError(f"the key {fingerprint} is already enrolled for {shown_actor(taken.identity)}")
        return _enrol(work, identity, "ssh", fingerprint, key, None, rotate=rotate, proof=proof)


def enrol_totp(
    catalog: Catalog, actor: str, identity: str, *, rotate: bool = False, proof: Proof | None = None
) -> TotpEnrolment:
    """Enrol a new random TOTP secret for ``identity`` (stored encrypted); with ``rotate``, it replaces the old one."""
    with requiring_extra("proofs", "TOTP proofs"):
        import pyotp
    identity = validate_actor(identity)
    secret = pyotp.random_base32()
    sealed = encrypt_secret(secret)
    fingerprint = f"totp:{secrets.token_hex(8)}"
    with catalog.write(actor) as work:
        if active_credentials(work, identity, "totp") and not rotate:
            raise ConflictError(
                f"{shown_actor(identity)} already has a TOTP secret: add --rotate to replace it, or revoke it first"
            )
        info = _enrol(work, identity, "totp", fingerprint, None, sealed, rotate=rotate, proof=proof)
    uri = (f"otpauth://totp/{quote(TOTP_ISSUER)}:{quote(identity)}?secret={secret}"
           f"&issuer={quote(TOTP_ISSUER)}&algorithm=SHA1&digits=6&period=30")
    return TotpEnrolment(info, secret, uri)


def _enrol(
    work: UnitOfWork, identity: str, kind: str, fingerprint: str, public_key: str | None, secret: str | None,
    *, rotate: bool, proof: Proof | None,
) -> CredentialInfo:
    held = [*active_credentials(work, identity, "ssh"), *active_credentials(work, identity, "totp")]
    for row in held:
        if row.identity != identity:
            raise InvalidInput(
                f"{shown_actor(identity)} reads like the enrolled identity {shown_actor(row.identity)}: enrol as that name"
            )
    if rotate and not [row for row in held if row.kind == kind]:
        raise NotFound(f"{shown_actor(identity)} has no {kind} credential to rotate")
    after: dict[str, Any] = {"identity": identity, "kind": kind, "fingerprint": fingerprint}
    if public_key is not None:
        after["public_key"] = public_key
    if held:
        # Only the identity itself adds to or replaces what it proves with.
        subject = enrolment_subject(identity, kind, fingerprint if kind == "ssh" else None, rotate=rotate)
        after["proof"] = prove(work, identity, subject, proof)
    replaced = [row for row in held if rotate and row.kind == kind]
    event = work.record(
        AuditAction.IDENTITY_ROTATE if rotate else AuditAction.IDENTITY_ENROL, None, None,
        {"fingerprints": [row.fingerprint for row in replaced]} if rotate else {}, after,
    )
    if replaced:
        work.connection.execute(
            update(CREDENTIALS).where(CREDENTIALS.c.id.in_([row.id for row in replaced]))
            .values(revoked_at=work.now, revoke_seq=event.seq)
        )
    work.connection.execute(insert(CREDENTIALS).values(
        identity=identity, kind=kind, fingerprint=fingerprint, public_key=public_key, secret=secret, last_counter=0,
        enrolled_by=work.actor, enrolled_at=work.now, enrol_seq=event.seq,
    ))
    return CredentialInfo(identity, kind, fingerprint, work.actor, work.now, None)


def revoke_credentials(
    catalog: Catalog, actor: str, identity: str, *, fingerprint: str | None = None
) -> list[CredentialInfo]:
    """End ``identity``'s credentials (only ``fingerprint`` when given); decisions proven before still verify."""
    identity = validate_actor(identity)
    with catalog.write(actor) as work:
        rows = [
            row for kind in CREDENTIAL_KINDS for row in active_credentials(work, identity, kind)
            if fingerprint is None or row.fingerprint == fingerprint
        ]
        if not rows:
            which = f" {fingerprint}" if fingerprint else ""
            raise NotFound(f"{shown_actor(identity)} has no enrolled credential{which} to revoke")
        event = work.record(
            AuditAction.IDENTITY_REVOKE, None, None, {},
            {"identity": identity, "fingerprints": [row.fingerprint for row in rows]},
        )
        work.connection.execute(
            update(CREDENTIALS).where(CREDENTIALS.c.id.in_([row.id for row in rows]))
            .values(revoked_at=work.now, revoke_seq=event.seq)
        )
        return [
            CredentialInfo(row.identity, row.kind, row.fingerprint, row.enrolled_by, row.enrolled_at, work.now)
            for row in rows
        ]


def list_credentials(catalog: Catalog, *, include_revoked: bool = False, identity: str | None = None) -> list[CredentialInfo]:
    """Who is enrolled with what, by identity then enrolment order."""
    query = select(CREDENTIALS).order_by(CREDENTIALS.c.identity, CREDENTIALS.c.id)
    if not include_revoked:
        query = query.where(CREDENTIALS.c.revoked_at.is_(None))
    with catalog.read() as connection:
        rows = connection.execute(query).all()
    return [
        CredentialInfo(row.identity, row.kind, row.fingerprint, row.enrolled_by, row.enrolled_at, row.revoked_at)
        for row in rows if identity is None or same_person(row.identity, identity)
    ]

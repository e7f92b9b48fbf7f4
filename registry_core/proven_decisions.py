"""The registry's methods for decisions and the proofs behind them: approve, reject, policy, identities, checkpoints.

A part of :class:`~registry_core.registry.Registry` (which inherits it) kept
apart because proofs add a concern of their own: each method takes
``sign_with`` (an SSH key file, or a public key whose private half an ssh-agent
holds) or ``totp`` (a code from an authenticator app), builds what they prove,
and hands it to the module that records it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import governance, queries
from .audit import AuditReport
from .checkpoints import Checkpoint, write_checkpoint
from .enrolment import (
    CredentialInfo,
    TotpEnrolment,
    enrol_ssh_key,
    enrol_totp,
    enrolment_subject,
    list_credentials,
    revoke_credentials,
)
from .errors import InvalidInput
from .identities import validate_actor
from .policy import Decision, GatePolicy
from .proofs import Proof, TotpProof, decision_subject, parse_public_key, policy_subject
from .proving import sign_statement
from .records import ApprovalRecord
from .unit_of_work import Catalog
from .validation import MAX_DESCRIPTION, validate_name, validate_text, validate_version_number

__all__ = ["ProvenDecisions"]

KeyPath = str | Path


class ProvenDecisions:
    """Decisions, policy changes and enrolments, each with an optional proof; audit verification and checkpoints."""

    catalog: Catalog
    actor: str

    def approve(self, name: str, version: int | str, *, comment: str | None = None,
                sign_with: KeyPath | None = None, totp: str | None = None) -> ApprovalRecord:
        """Approve a version for Production, as this registry's actor, proven by ``sign_with`` or ``totp`` if given.

        Under a policy that requires proof, one of them is needed (:class:`ProofRefused` otherwise).
        """
        return self._decide(name, version, Decision.APPROVE, comment, sign_with, totp)

    def reject(self, name: str, version: int | str, *, comment: str | None = None,
               sign_with: KeyPath | None = None, totp: str | None = None) -> ApprovalRecord:
        """Reject a version: it cannot be promoted until approved again after this (proofs as for :meth:`approve`)."""
        return self._decide(name, version, Decision.REJECT, comment, sign_with, totp)

    def _decide(self, name: str, version: int | str, decision: Decision, comment: str | None,
                sign_with: KeyPath | None, totp: str | None) -> ApprovalRecord:
        number = validate_version_number(version)
        comment = validate_text(comment, what="comment", limit=MAX_DESCRIPTION)
        validate_name(name)

        def subject() -> dict[str, Any]:
            digest = queries.get_version(self.catalog, name, number).artifact_sha256
            return decision_subject(name, number, digest, decision.value, comment)

        proof = self._proof(self.actor, subject, sign_with, totp)
        return governance.decide(self.catalog, self.actor, name, number, decision, comment, proof)

    def get_policy(self, name: str) -> GatePolicy:
        """The model's governance policy."""
        return governance.get_policy(self.catalog, name)

    def set_policy(
        self, name: str, *, protect_aliases: Iterable[str] = (), unprotect_aliases: Iterable[str] = (),
        sign_with: KeyPath | None = None, totp: str | None = None, **fields: Any,
    ) -> GatePolicy:
        """Change the :class:`GatePolicy` fields given by name (``None`` keeps a field); returns the new policy.

        ``trusted_types``, ``allow_pickle``, ``allow_io_parameters`` and the load
        limits decide what loading its versions may run and inflate.
        ``protect_aliases`` and ``unprotect_aliases`` add to and remove from
        ``protected_aliases``: aliases that may point only at a version meeting
        the Production gates (an alias is protected only while it does).
        ``require_proof`` makes decisions count only with a proof; a policy that
        requires proof is changed only by one of its ``owners``, proven by
        ``sign_with`` or ``totp``.
        """
        aliases = {"protect_aliases": protect_aliases, "unprotect_aliases": unprotect_aliases}

        def subject() -> dict[str, Any]:
            return policy_subject(name, governance.proposed_policy(self.catalog, name, **aliases, **fields).to_dict())

        proof = self._proof(self.actor, subject, sign_with, totp)
        return governance.set_policy(self.catalog, self.actor, name, proof=proof, **aliases, **fields)

    def enrol_ssh_key(self, identity: str, public_key: str, *, rotate: bool = False,
                      sign_with: KeyPath | None = None, totp: str | None = None) -> CredentialInfo:
        """Enrol an OpenSSH public key (the line of a ``.pub`` file) for ``identity``; audited.

        With ``rotate`` it replaces the identity's SSH keys. An identity that already holds a credential
        adds or rotates only with its own proof (``sign_with`` one of its keys, or ``totp``).
        """
        person = validate_actor(identity)
        _, fingerprint = parse_public_key(public_key)
        proof = self._proof(person, lambda: enrolment_subject(person, "ssh", fingerprint, rotate=rotate), sign_with, totp)
        return enrol_ssh_key(self.catalog, self.actor, person, public_key, rotate=rotate, proof=proof)

    def enrol_totp(self, identity: str, *, rotate: bool = False,
                   sign_with: KeyPath | None = None, totp: str | None = None) -> TotpEnrolment:
        """Enrol a new TOTP secret for ``identity``, encrypted with ``REGISTRY_SECRET_KEY``; audited.

        The result holds the secret and its ``otpauth://`` URI, shown once. Proofs as for :meth:`enrol_ssh_key`.
        """
        person = validate_actor(identity)
        proof = self._proof(person, lambda: enrolment_subject(person, "totp", None, rotate=rotate), sign_with, totp)
        return enrol_totp(self.catalog, self.actor, person, rotate=rotate, proof=proof)

    def revoke_identity(self, identity: str, *, fingerprint: str | None = None) -> list[CredentialInfo]:
        """End an identity's credentials (only ``fingerprint`` if given); decisions proven before still verify."""
        return revoke_credentials(self.catalog, self.actor, identity, fingerprint=fingerprint)

    def list_identities(self, *, include_revoked: bool = False) -> list[CredentialInfo]:
        """Who is enrolled with what (never a secret)."""
        return list_credentials(self.catalog, include_revoked=include_revoked)

    def write_checkpoint(self, destination: str | Path, *, sign_with: KeyPath) -> Checkpoint:
        """Sign the audit chain's head with an SSH key and write it to a new file, to keep outside the catalog."""
        return write_checkpoint(self.catalog, self.actor, sign_with, destination)

    def verify_audit(self, *, checkpoint: str | Path | None = None, trusted_key: str | None = None) -> AuditReport:
        """Walk the whole audit chain, check the catalog and every stored proof against it, and report the first break.

        With ``checkpoint`` (a file :meth:`write_checkpoint` wrote), a history rewritten before it is caught
        even when every hash was recomputed; ``trusted_key`` pins the key that must have signed it.
        """
        return queries.verify_audit(self.catalog, checkpoint=checkpoint, trusted_key=trusted_key)

    def _proof(self, person: str, subject: Callable[[], dict[str, Any]],
               sign_with: KeyPath | None, totp: str | None) -> Proof | None:
        if sign_with is not None and totp is not None:
            raise InvalidInput("give one proof: an SSH key to sign with, or a TOTP code")
        if sign_with is not None:
            return sign_statement(self.catalog, person, subject(), sign_with)
        if totp is not None:
            return TotpProof(totp)
        return None

"""Proofs that a person made a decision: SSH signatures over a canonical statement, and TOTP codes.

A statement is canonical JSON (sorted keys, no spaces) of what is decided
(for an approval: the model, the version, its artifact digest, the decision and
the comment), who decides it, when, and the chain head it was made against. An
SSH proof is an OpenSSH ``SSHSIG`` signature of that text in the namespace
:data:`DECISION_NAMESPACE`, exactly what ``ssh-keygen -Y sign`` writes, checked
with the ``sshsig`` library. A TOTP proof is a code (RFC 6238, ``pyotp``) of the
approver's enrolled secret; the registry then keeps an HMAC of the statement
under that secret, which only a holder of ``REGISTRY_SECRET_KEY`` can check or
make. The secrets are stored encrypted with that key (Fernet), so a copy of the
catalog alone cannot produce codes.

This module holds no catalog logic: :mod:`.proving` checks proofs inside a
unit of work, :mod:`.enrolment` enrols credentials.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audit import canonical_json
from .errors import InvalidInput, ProofRefused
from .extras import requiring_extra

__all__ = [
    "CHECKPOINT_NAMESPACE",
    "DECISION_NAMESPACE",
    "SECRET_KEY_ENV",
    "SshProof",
    "TotpProof",
    "Proof",
    "decision_subject",
    "decrypt_secret",
    "encrypt_secret",
    "parse_public_key",
    "policy_subject",
    "ssh_sign",
    "ssh_signer_key",
    "statement_text",
    "totp_mac",
    "totp_step",
]

DECISION_NAMESPACE = "model-registry-decision"
CHECKPOINT_NAMESPACE = "model-registry-checkpoint"
SECRET_KEY_ENV = "REGISTRY_SECRET_KEY"
#: TOTP parameters: the authenticator-app defaults (RFC 6238: 30 s steps, 6 digits, SHA-1).
TOTP_PERIOD = 30
#: Codes of the step before and after the current one are accepted too (clock drift).
TOTP_DRIFT_STEPS = 1
MAX_SIGNATURE = 16_384
MAX_STATEMENT = 65_536


@dataclass(frozen=True)
class SshProof:
    """An SSH signature (armored ``SSHSIG``) over ``statement`` (see :func:`statement_text`)."""

    statement: str
    signature: str


@dataclass(frozen=True)
class TotpProof:
    """A TOTP code from the approver's authenticator; the registry builds the statement itself."""

    code: str


Proof = SshProof | TotpProof


def decision_subject(model: str, version: int, artifact_sha256: str, decision: str, comment: str | None) -> dict[str, Any]:
    """What a proof of an approval or a rejection covers, besides who, when and the chain head."""
    return {"action": "approval.record", "model": model, "version": version, "artifact_sha256": artifact_sha256,
            "decision": decision, "comment": comment}


def policy_subject(model: str, policy: dict[str, Any]) -> dict[str, Any]:
    """What an owner's proof of a policy change covers: the whole new policy."""
    return {"action": "policy.set", "model": model, "policy": policy}


def statement_text(subject: dict[str, Any], *, actor: str, time: str, chain_head: str) -> str:
    """The canonical text one proof covers: ``subject`` with who, when, and the chain head it was made against."""
    return canonical_json({**subject, "actor": actor, "time": time, "chain_head": chain_head})


def parse_statement(text: str) -> dict[str, Any]:
    """The fields of a statement, or :class:`ProofRefused` when it is not one this registry makes."""
    if not isinstance(text, str) or len(text) > MAX_STATEMENT:
        raise ProofRefused("the signed statement is missing or too long")
    try:
        fields = json.loads(text)
    except ValueError:
        raise ProofRefused("the signed statement is not JSON") from None
    if not isinstance(fields, dict) or canonical_json(fields) != text:
        raise ProofRefused("the signed statement is not in canonical form")
    return fields


def ssh_sign(key: str | Path, message: str, namespace: str = DECISION_NAMESPACE) -> str:
    """Sign ``message`` with ``ssh-keygen -Y sign``: a private key file, or a public key whose private half
    an ssh-agent holds (``SSH_AUTH_SOCK``). Returns the armored signature."""
    path = Path(key).expanduser()
    if not path.is_file():
        raise InvalidInput(f"no key file at {path}")
    program = shutil.which("ssh-keygen")
    if program is None:
        raise InvalidInput("signing needs OpenSSH's ssh-keygen on the PATH")
    done = subprocess.run(
        [program, "-Y", "sign", "-q", "-f", str(path), "-n", namespace],
        input=message.encode("utf-8"), capture_output=True, check=False, timeout=120,
    )
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InvalidInput(f"ssh-keygen could not sign with {path}: {reason[-1] if reason else 'no reason given'}")
    return done.stdout.decode("ascii")


def parse_public_key(line: str) -> tuple[str, str]:
    """An OpenSSH public key line as ``(key without comment, SHA256 fingerprint)``; :class:`InvalidInput` if not one."""
    with requiring_extra("proofs", "SSH proofs"):
        from sshsig.ssh_public_key import PublicKey
    if not isinstance(line, str) or len(line) > MAX_SIGNATURE:
        raise InvalidInput("not an OpenSSH public key")
    try:
        key = PublicKey.from_openssh_str(line.strip())
    except (ValueError, NotImplementedError) as error:
        raise InvalidInput(f"not an OpenSSH public key this registry can verify: {error}") from None
    return key.openssh_str(), key.sha256_str()


def ssh_signer_key(message: str, signature: str, namespace: str = DECISION_NAMESPACE) -> str:
    """The public key (OpenSSH line) whose private half signed ``message``; :class:`ProofRefused` if none did."""
    with requiring_extra("proofs", "SSH proofs"):
        import sshsig
    if not isinstance(signature, str) or len(signature) > MAX_SIGNATURE:
        raise ProofRefused("the signature is missing or too long")
    try:
        key = sshsig.check_signature(message.encode("utf-8"), signature, namespace)
    except (sshsig.InvalidSignature, ValueError, NotImplementedError) as error:
        raise ProofRefused(f"the SSH signature does not verify ({type(error).__name__})") from None
    return key.openssh_str()


def totp_step(secret: str, code: str, *, at: float, after: int) -> int:
    """The time step whose code ``code`` is, near ``at``; :class:`ProofRefused` when none is, or it was used.

    ``after`` is the newest step already used by this credential: a code is good once.
    """
    with requiring_extra("proofs", "TOTP proofs"):
        import pyotp
    if not isinstance(code, str) or not code.strip().isdigit() or len(code.strip()) != 6:
        raise ProofRefused("a TOTP code is 6 digits")
    totp = pyotp.TOTP(secret, interval=TOTP_PERIOD)
    now = int(at) // TOTP_PERIOD
    for step in range(now - TOTP_DRIFT_STEPS, now + TOTP_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * TOTP_PERIOD), code.strip()):
            if step <= after:
                raise ProofRefused("this TOTP code was already used: wait for the next one")
            return step
    raise ProofRefused("the TOTP code is wrong or expired")


def totp_mac(secret: str, statement: str) -> str:
    """The HMAC-SHA256 of ``statement`` under a TOTP secret: what binds a TOTP-proven decision to its statement."""
    return hmac.new(secret.encode("ascii"), statement.encode("utf-8"), hashlib.sha256).hexdigest()


def _fernet(required: bool = True) -> Any:
    with requiring_extra("proofs", "TOTP secrets"):
        from cryptography.fernet import Fernet
    key = os.environ.get(SECRET_KEY_ENV, "")
    if not key:
        if not required:
            return None
        raise InvalidInput(f"TOTP secrets are encrypted with a key kept outside the catalog: set {SECRET_KEY_ENV}")
    # Any passphrase works: it is stretched to the 32 bytes Fernet needs.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode("utf-8")).digest()))


def encrypt_secret(secret: str) -> str:
    """A TOTP secret encrypted with ``REGISTRY_SECRET_KEY``."""
    return _fernet().encrypt(secret.encode("ascii")).decode("ascii")


def decrypt_secret(token: str, *, required: bool = True) -> str | None:
    """A stored TOTP secret; None when ``REGISTRY_SECRET_KEY`` is unset and not ``required``."""
    from cryptography.fernet import InvalidToken

    fernet = _fernet(required)
    if fernet is None:
        return None
    try:
        return fernet.decrypt(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise ProofRefused(f"a TOTP secret does not decrypt with this {SECRET_KEY_ENV}") from None

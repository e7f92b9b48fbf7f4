"""Signed checkpoints of the audit chain: a head kept outside the catalog that a rewrite cannot follow.

The hash chain catches an edit, unless whoever edits also recomputes every
hash after it and the head. A checkpoint is an SSH-signed statement of the
chain head (``seq:hash``) written to a file kept elsewhere; verifying against
it finds the event at that sequence number and compares its hash, so any
rewrite of the history up to the checkpoint is caught however consistent the
rewritten chain is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from .audit import format_timestamp, verify_chain
from .credential_table import Credential
from .errors import AuditLogError, InvalidInput, ProofRefused
from .proofs import CHECKPOINT_NAMESPACE, parse_public_key, parse_statement, ssh_sign, ssh_signer_key, statement_text
from .rows import AUDIT
from .unit_of_work import Catalog

__all__ = ["Checkpoint", "checkpoint_problem", "write_checkpoint"]

FORMAT = "model-registry-checkpoint/1"
MAX_FILE = 65_536


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of the chain head, as written to ``path``."""

    path: str
    head_seq: int
    head_hash: str
    signed_by: str
    time: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "head_seq": self.head_seq, "head_hash": self.head_hash,
                "signed_by": self.signed_by, "time": self.time}


def write_checkpoint(catalog: Catalog, actor: str, key: str | Path, path: str | Path) -> Checkpoint:
    """Verify the chain, sign its head with ``key`` (``ssh-keygen -Y sign``) and write the checkpoint to a new file."""
    target = Path(path).expanduser()
    if target.exists():
        raise InvalidInput(f"{target} exists: a checkpoint is written to a new file")
    with catalog.read(snapshot=True) as connection:
        report = verify_chain(connection)
    if not report.intact:
        raise AuditLogError(f"the audit chain is broken, so its head is not worth signing: {report.problem}")
    time = format_timestamp(datetime.now(UTC))
    statement = statement_text(
        {"action": "audit.checkpoint"}, actor=actor, time=time, chain_head=f"{report.head_seq}:{report.head_hash}"
    )
    signature = ssh_sign(key, statement, CHECKPOINT_NAMESPACE)
    public_key = ssh_signer_key(statement, signature, CHECKPOINT_NAMESPACE)
    body = {"format": FORMAT, "statement": statement, "signature": signature, "public_key": public_key}
    with open(target, "x", encoding="utf-8") as handle:
        handle.write(json.dumps(body, indent=2) + "\n")
    return Checkpoint(str(target), report.head_seq, report.head_hash, actor, time)


def checkpoint_problem(connection: Connection, path: str | Path, trusted_key: str | None = None) -> tuple[str, int] | None:
    """Why the catalog's history does not match the checkpoint at ``path``, with the event named; None if it does.

    The checkpoint's signature must verify, by ``trusted_key`` (an OpenSSH public key line) when given, else by a
    key some identity of this catalog enrolled.
    """
    statement, signature, seq, digest = _read(path)
    try:
        signer = ssh_signer_key(statement, signature, CHECKPOINT_NAMESPACE)
    except ProofRefused:
        return f"the checkpoint {path} does not verify: its signature does not match its statement", seq
    if trusted_key is not None:
        if parse_public_key(trusted_key)[0] != signer:
            return f"the checkpoint {path} was signed by another key than the trusted one", seq
    else:
        known = connection.execute(select(Credential.id).where(Credential.public_key == signer).limit(1)).first()
        if known is None:
            return (f"the checkpoint {path} was signed by {parse_public_key(signer)[1]}, a key no identity of this "
                    "catalog enrolled; give --trusted-key to check it against a key you trust"), seq
    found = connection.execute(select(AUDIT.c.hash).where(AUDIT.c.seq == seq)).scalar()
    if found is None:
        return f"the log no longer holds event {seq}, the head signed in {path}: the history was cut", seq
    if found != digest:
        return (f"the history up to event {seq} was rewritten since the checkpoint {path}: event {seq}'s hash is "
                f"{found[:12]}…, the checkpoint signed {digest[:12]}…"), seq
    return None


def _read(path: str | Path) -> tuple[str, str, int, str]:
    try:
        text = Path(path).expanduser().read_text("utf-8")[:MAX_FILE]
        body = json.loads(text)
        statement, signature = body["statement"], body["signature"]
        fields = parse_statement(statement)
        seq_text, _, digest = str(fields["chain_head"]).partition(":")
        if body.get("format") != FORMAT or fields.get("action") != "audit.checkpoint" or not isinstance(signature, str):
            raise ValueError
        return statement, signature, int(seq_text), digest
    except OSError as error:
        raise InvalidInput(f"cannot read the checkpoint {path}: {error.strerror or error}") from None
    except (ValueError, KeyError, TypeError, ProofRefused):
        raise InvalidInput(f"{path} is not a registry checkpoint") from None

"""Real credentials for proof tests: ed25519 keys made by ssh-keygen, TOTP codes made by pyotp, and a forger
with full rights to the database who rewrites an event and recomputes every hash after it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pyotp
from sqlalchemy import Engine, select, text

from registry_core.audit import event_hash
from registry_core.schema import AuditEvent, AuditHead

EVENTS = AuditEvent.__table__
HEAD = AuditHead.__table__
HASHED = ("recorded_at", "actor", "action", "model", "version", "before", "after")
SECRET_KEY = "a passphrase kept outside the catalog"


def ssh_key(folder: Path, name: str) -> Path:
    """A new ed25519 key pair without passphrase; returns the private key's path (the public one is beside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
    return path


def public_key(private: Path) -> str:
    return private.with_name(private.name + ".pub").read_text()


def totp_code(uri: str, *, seconds_ago: float = 0) -> str:
    """The code an authenticator app enrolled from ``uri`` shows now (or ``seconds_ago``)."""
    import time

    return pyotp.parse_uri(uri).at(time.time() - seconds_ago)


def a_code_that_is_not_current(uri: str) -> str:
    """Six digits that are none of the codes the registry accepts now (this step and one on either side)."""
    accepted = {totp_code(uri, seconds_ago=seconds) for seconds in (-30, 0, 30)}
    return next(code for code in ("000000", "000001", "000002", "000003") if code not in accepted)


def event_after(engine: Engine, seq: int) -> dict[str, Any]:
    with engine.connect() as connection:
        return json.loads(connection.execute(select(EVENTS.c.after).where(EVENTS.c.seq == seq)).scalar_one())


def rewrite_history(engine: Engine, seq: int, after: dict[str, Any]) -> None:
    """Replace event ``seq``'s content and recompute its hash, every later hash and the head, as a careful forger."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        connection.execute(
            EVENTS.update().where(EVENTS.c.seq == seq)
            .values(after=json.dumps(after, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
        )
        rows = connection.execute(select(EVENTS).where(EVENTS.c.seq >= seq).order_by(EVENTS.c.seq)).all()
        prev = connection.execute(select(EVENTS.c.hash).where(EVENTS.c.seq == seq - 1)).scalar() or "0" * 64
        for row in rows:
            digest = event_hash(seq=row.seq, prev_hash=prev, **{key: getattr(row, key) for key in HASHED})
            connection.execute(EVENTS.update().where(EVENTS.c.seq == row.seq).values(prev_hash=prev, hash=digest))
            prev = digest
        connection.execute(HEAD.update().values(hash=prev))

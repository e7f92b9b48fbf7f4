"""The ``credentials`` table: the SSH public keys and TOTP secrets that let an identity prove a decision.

A row is never deleted: a revoked or rotated credential keeps its row (with
``revoked_at``) so that decisions proven with it while it was enrolled still
verify afterwards. TOTP secrets are stored encrypted (see :mod:`.proofs`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .orm_base import Base, UTCDateTime

__all__ = ["Credential", "CREDENTIAL_KINDS"]

#: ``ssh``: an OpenSSH public key; ``totp``: an RFC 6238 secret.
CREDENTIAL_KINDS = ("ssh", "totp")


class Credential(Base):
    """One enrolled credential of one identity."""

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    identity: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(8))
    #: ``SHA256:...`` of an SSH key, as ``ssh-keygen -l`` prints it; ``totp:<hex>`` for a TOTP secret.
    fingerprint: Mapped[str] = mapped_column(String(128))
    #: The OpenSSH public key line (type and base64, no comment); None for TOTP.
    public_key: Mapped[str | None] = mapped_column(Text)
    #: The TOTP secret, encrypted with ``REGISTRY_SECRET_KEY``; None for SSH.
    secret: Mapped[str | None] = mapped_column(Text)
    #: The newest proof used: a TOTP time step, or an SSH statement's time in milliseconds. Older ones are replays.
    last_counter: Mapped[int] = mapped_column(BigInteger, default=0)
    enrolled_by: Mapped[str] = mapped_column(String(256))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    enrol_seq: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoke_seq: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("kind IN ('ssh', 'totp')", name="kind_known"),
        Index("ix_credentials_identity", "identity"),
        Index("ix_credentials_fingerprint", "fingerprint"),
    )

"""Credentials: the SSH public keys and encrypted TOTP secrets with which identities prove their decisions.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("identity", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=True),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("last_counter", sa.BigInteger(), nullable=False),
        sa.Column("enrolled_by", sa.String(length=256), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enrol_seq", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_seq", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("kind IN ('ssh', 'totp')", name=op.f("ck_credentials_kind_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
    )
    op.create_index("ix_credentials_identity", "credentials", ["identity"])
    op.create_index("ix_credentials_fingerprint", "credentials", ["fingerprint"])


def downgrade() -> None:
    op.drop_index("ix_credentials_fingerprint", table_name="credentials")
    op.drop_index("ix_credentials_identity", table_name="credentials")
    op.drop_table("credentials")

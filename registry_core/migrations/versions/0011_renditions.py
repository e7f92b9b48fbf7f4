"""Renditions: artifacts derived from a version (an ONNX rendition of a scikit-learn estimator) with their parity.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "renditions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("artifact_size", sa.BigInteger(), nullable=False),
        sa.Column("artifact_format", sa.JSON(), nullable=False),
        sa.Column("converter", sa.String(length=64), nullable=False),
        sa.Column("converter_version", sa.String(length=64), nullable=False),
        sa.Column("parity", sa.Float(), nullable=False),
        sa.Column("parity_output", sa.String(length=32), nullable=False),
        sa.Column("validation_rows", sa.Integer(), nullable=False),
        sa.Column("validation_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('onnx')", name=op.f("ck_renditions_kind_known")),
        sa.CheckConstraint("parity >= 0", name=op.f("ck_renditions_parity_non_negative")),
        sa.CheckConstraint("validation_rows >= 1", name=op.f("ck_renditions_validation_rows_positive")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name=op.f("fk_renditions_version_id_model_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renditions")),
    )
    op.create_index("uq_renditions_version_id_kind", "renditions", ["version_id", "kind"], unique=True)
    op.create_index("ix_renditions_artifact_sha256", "renditions", ["artifact_sha256"])


def downgrade() -> None:
    op.drop_index("ix_renditions_artifact_sha256", table_name="renditions")
    op.drop_index("uq_renditions_version_id_kind", table_name="renditions")
    op.drop_table("renditions")

"""Record what kind of artifact a version is and how it was serialized.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch_op:
        batch_op.add_column(sa.Column("artifact_kind", sa.String(length=16), nullable=False, server_default="file"))
        batch_op.add_column(sa.Column("artifact_format", sa.JSON(), nullable=True))
        batch_op.create_check_constraint(
            "artifact_kind_known", "artifact_kind IN ('file', 'directory', 'sklearn')"
        )


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch_op:
        batch_op.drop_constraint("artifact_kind_known", type_="check")
        batch_op.drop_column("artifact_format")
        batch_op.drop_column("artifact_kind")

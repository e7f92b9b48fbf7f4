"""Versions registered as a reference to a source the registry could not read: no bytes, no digest.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from registry_core.errors import SchemaMismatch

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_OLD_KINDS = "('file', 'directory', 'sklearn')"
_NEW_KINDS = "('file', 'directory', 'sklearn', 'reference')"
_REFERENCE_HAS_NO_BYTES = (
    "(artifact_kind = 'reference' AND artifact_sha256 = '' AND artifact_size = 0) "
    "OR (artifact_kind <> 'reference' AND artifact_sha256 <> '')"
)


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_constraint(op.f("ck_model_versions_artifact_kind_known"), type_="check")
        batch.create_check_constraint(op.f("ck_model_versions_artifact_kind_known"), f"artifact_kind IN {_NEW_KINDS}")
        batch.create_check_constraint(op.f("ck_model_versions_reference_has_no_bytes"), _REFERENCE_HAS_NO_BYTES)


def downgrade() -> None:
    references = op.get_bind().execute(
        sa.text("SELECT COUNT(*) FROM model_versions WHERE artifact_kind = 'reference'")
    ).scalar_one()
    if references:  # the older schema has no place for a version without bytes
        raise SchemaMismatch(
            f"the catalog holds {references} version{'s' if references > 1 else ''} registered as a reference; "
            "attach their bytes (registry attach) before downgrading below revision 0010"
        )
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_constraint(op.f("ck_model_versions_reference_has_no_bytes"), type_="check")
        batch.drop_constraint(op.f("ck_model_versions_artifact_kind_known"), type_="check")
        batch.create_check_constraint(op.f("ck_model_versions_artifact_kind_known"), f"artifact_kind IN {_OLD_KINDS}")

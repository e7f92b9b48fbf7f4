"""Indexes for searches: tag values by key, and versions by time.

``tags.k = 'v'`` finds its models or versions through ``(key, value
prefix)`` indexes on the tag tables (the first 200 characters: a value may be
longer than a PostgreSQL b-tree entry allows), instead of probing every row.
Versions ordered by their latest change or their creation, across models or
within one, read an index newest first instead of sorting every version.
No data changes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_VERSION_INDEXES = {
    "ix_model_versions_stage_changed_at": ["stage_changed_at"],
    "ix_model_versions_created_at": ["created_at"],
    "ix_model_versions_model_id_stage_changed_at": ["model_id", "stage_changed_at"],
    "ix_model_versions_model_id_created_at": ["model_id", "created_at"],
}
_TAG_INDEXES = {"ix_model_tags_key_value": "model_tags", "ix_version_tags_key_value": "version_tags"}


def upgrade() -> None:
    for name, columns in _VERSION_INDEXES.items():
        op.create_index(name, "model_versions", columns)
    for name, table in _TAG_INDEXES.items():
        op.create_index(name, table, [sa.text("key"), sa.text("substr(value, 1, 200)")])


def downgrade() -> None:
    for name, table in _TAG_INDEXES.items():
        op.drop_index(name, table_name=table)
    for name in _VERSION_INDEXES:
        op.drop_index(name, table_name="model_versions")

"""MLflow webhooks: subscriptions made through MLflow's API, with its name, description and status, and its events.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_OLD_TYPES = (
    "('version_created', 'stage_changed', 'check_recorded', 'approval_recorded', 'promoted', 'rolled_back', 'deployed')"
)
_NEW_TYPES = (
    "('version_created', 'stage_changed', 'check_recorded', 'approval_recorded', 'promoted', 'rolled_back', "
    "'deployed', 'registered_model.created', 'model_version.created', 'model_version_tag.set', "
    "'model_version_tag.deleted', 'model_version_alias.created', 'model_version_alias.deleted')"
)


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("flavor", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("name", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch.add_column(sa.Column("status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("webhook_outbox") as batch:
        batch.drop_constraint(op.f("ck_webhook_outbox_event_type_known"), type_="check")
        batch.create_check_constraint(op.f("ck_webhook_outbox_event_type_known"), f"event_type IN {_NEW_TYPES}")


def downgrade() -> None:
    with op.batch_alter_table("webhook_outbox") as batch:
        batch.drop_constraint(op.f("ck_webhook_outbox_event_type_known"), type_="check")
        batch.create_check_constraint(op.f("ck_webhook_outbox_event_type_known"), f"event_type IN {_OLD_TYPES}")
    with op.batch_alter_table("webhook_subscriptions") as batch:
        for column in ("updated_at", "status", "description", "name", "flavor"):
            batch.drop_column(column)

"""Webhook events for deleted versions and models and for bytes attached to a reference version.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from registry_core.errors import SchemaMismatch

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_OLD_TYPES = (
    "('version_created', 'stage_changed', 'check_recorded', 'approval_recorded', 'promoted', 'rolled_back', "
    "'deployed', 'registered_model.created', 'model_version.created', 'model_version_tag.set', "
    "'model_version_tag.deleted', 'model_version_alias.created', 'model_version_alias.deleted')"
)
_ADDED = ("version_deleted", "model_deleted", "artifact_attached")
_NEW_TYPES = _OLD_TYPES[:-1] + ", " + ", ".join(f"'{name}'" for name in _ADDED) + ")"


def upgrade() -> None:
    with op.batch_alter_table("webhook_outbox") as batch:
        batch.drop_constraint(op.f("ck_webhook_outbox_event_type_known"), type_="check")
        batch.create_check_constraint(op.f("ck_webhook_outbox_event_type_known"), f"event_type IN {_NEW_TYPES}")


def downgrade() -> None:
    queued = op.get_bind().execute(
        sa.text("SELECT COUNT(*) FROM webhook_outbox WHERE event_type IN :added").bindparams(
            sa.bindparam("added", expanding=True)
        ),
        {"added": list(_ADDED)},
    ).scalar_one()
    if queued:  # the older schema has no place for them, and dropping them would lose their delivery history
        raise SchemaMismatch(
            f"the webhook outbox holds {queued} deliver{'ies' if queued > 1 else 'y'} of "
            f"{', '.join(_ADDED)} events, which the schema below revision 0013 cannot hold; "
            "downgrading would lose their delivery history"
        )
    with op.batch_alter_table("webhook_outbox") as batch:
        batch.drop_constraint(op.f("ck_webhook_outbox_event_type_known"), type_="check")
        batch.create_check_constraint(op.f("ck_webhook_outbox_event_type_known"), f"event_type IN {_OLD_TYPES}")

"""A version's last update (MLflow's ``last_updated_timestamp``): registration, stage, description or attached bytes.

Existing versions take the time of their latest such event in the audit log,
which is what ``registry audit --verify`` compares the column with; a version
with no such event (none should exist) keeps its stage's time. Searches ordered
by the last update read the new indexes instead of the stage time's.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

#: The events that change a version's own record, as revision 0012 knows them.
_UPDATES = (
    "version.register", "version.attach", "version.transition", "version.promote", "version.rollback",
    "version.description",
)
_BATCH = 5000


def upgrade() -> None:
    op.drop_index("ix_model_versions_model_id_stage_changed_at", table_name="model_versions")
    op.drop_index("ix_model_versions_stage_changed_at", table_name="model_versions")
    op.add_column("model_versions", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE model_versions SET updated_at = stage_changed_at"))
    _backfill_from_audit_log(bind)
    with op.batch_alter_table("model_versions") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_index("ix_model_versions_updated_at", "model_versions", ["updated_at"])
    op.create_index("ix_model_versions_model_id_updated_at", "model_versions", ["model_id", "updated_at"])


def _backfill_from_audit_log(bind: sa.Connection) -> None:
    """Each version's ``updated_at`` from its latest registration, stage, description or attach event."""
    latest = sa.text(
        "SELECT v.id, e.recorded_at FROM model_versions v"
        " JOIN registered_models m ON m.id = v.model_id"
        " JOIN audit_events e ON e.seq = ("
        "   SELECT MAX(a.seq) FROM audit_events a"
        "   WHERE a.model = m.name AND a.version = v.version AND a.action IN :actions)"
    ).bindparams(sa.bindparam("actions", expanding=True))
    naive = bind.dialect.name == "sqlite"  # SQLite keeps UTC times without their zone, as the catalog's type does
    update = sa.text("UPDATE model_versions SET updated_at = :at WHERE id = :id").bindparams(
        sa.bindparam("at", type_=sa.DateTime(timezone=True))
    )
    rows = bind.execute(latest, {"actions": list(_UPDATES)}).all()  # read whole before the table is written
    for start in range(0, len(rows), _BATCH):
        values = []
        for version_id, recorded_at in rows[start:start + _BATCH]:
            moment = datetime.strptime(recorded_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            values.append({"id": version_id, "at": moment.replace(tzinfo=None) if naive else moment})
        bind.execute(update, values)


def downgrade() -> None:
    op.drop_index("ix_model_versions_model_id_updated_at", table_name="model_versions")
    op.drop_index("ix_model_versions_updated_at", table_name="model_versions")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("updated_at")
    op.create_index("ix_model_versions_stage_changed_at", "model_versions", ["stage_changed_at"])
    op.create_index("ix_model_versions_model_id_stage_changed_at", "model_versions", ["model_id", "stage_changed_at"])

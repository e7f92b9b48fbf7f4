"""Mark the scikit-learn versions pickled before pickle became a per-model opt-in.

From this revision on, a live estimator is stored with skops, and a pickle is
written and loaded only where the model's policy has ``allow_pickle``.
Versions pickled before had no such choice; they are marked
``"legacy_pickle": true`` in their ``artifact_format`` and keep loading, with
a warning, whatever the policy says. No policy is changed and no audit event
is written: ``registry audit --verify`` accepts this mark, and no other change
of a format, on a version whose registration event recorded a pickle made
without the opt-in.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_VERSIONS = sa.table(
    "model_versions",
    sa.column("id", sa.Integer),
    sa.column("artifact_kind", sa.String),
    sa.column("artifact_format", sa.JSON),
)


def upgrade() -> None:
    _rewrite(lambda format: format.get("serializer") == "pickle" and "pickle_opt_in" not in format, mark=True)


def downgrade() -> None:
    _rewrite(lambda format: "legacy_pickle" in format, mark=False)


def _rewrite(selected, *, mark: bool) -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_VERSIONS.c.id, _VERSIONS.c.artifact_format).where(_VERSIONS.c.artifact_kind == "sklearn")
    ).all()
    for version_id, format in rows:
        if not isinstance(format, dict) or not selected(format):
            continue
        changed = {key: value for key, value in format.items() if key != "legacy_pickle"}
        if mark:
            changed["legacy_pickle"] = True
        connection.execute(
            sa.update(_VERSIONS).where(_VERSIONS.c.id == version_id).values(artifact_format=changed)
        )

"""Tie every approval, rejection and check result to the audit event that recorded it.

Promotion counts a decision or a check result only when its event says the
same thing, so a row written around the registry (plain SQL) is never counted;
``registry audit --verify`` reports it. Existing rows are paired with their
events in recording order, per version.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections import defaultdict, deque

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLES = (("approvals", "approval.record"), ("check_results", "check.record"))


def upgrade() -> None:
    for table, _action in _TABLES:
        with op.batch_alter_table(table) as batch_op:
            # No foreign key: the pairing is checked against the event's content (by promotion and
            # by 'registry audit --verify'), which a key alone could not do.
            batch_op.add_column(sa.Column("audit_seq", sa.BigInteger(), nullable=True))
    connection = op.get_bind()
    for table, action in _TABLES:
        # Writers of one version are serialized, so row ids and event sequence numbers rise together.
        events: dict[tuple[str, int], deque[int]] = defaultdict(deque)
        for seq, model, version in connection.execute(
            sa.text("SELECT seq, model, version FROM audit_events WHERE action = :action ORDER BY seq"),
            {"action": action},
        ):
            events[(model, version)].append(seq)
        rows = connection.execute(
            sa.text(
                f"SELECT t.id, m.name, v.version FROM {table} t "
                "JOIN model_versions v ON v.id = t.version_id JOIN registered_models m ON m.id = v.model_id "
                "ORDER BY t.id"
            )
        ).all()
        pairs = [
            {"id": row_id, "seq": events[(name, version)].popleft()}
            for row_id, name, version in rows
            if events[(name, version)]
        ]
        if pairs:
            connection.execute(sa.text(f"UPDATE {table} SET audit_seq = :seq WHERE id = :id"), pairs)


def downgrade() -> None:
    for table, _action in _TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("audit_seq")

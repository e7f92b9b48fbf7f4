"""The catalog: models, versions, tags, aliases, checks, approvals and the audit chain.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: The hash the first audit event links back to.
GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('recorded_at', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=256), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=True),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('before', sa.Text(), nullable=False),
    sa.Column('after', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('seq >= 1', name=op.f('ck_audit_events_seq_positive')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_action_seq', ['action', 'seq'], unique=False)
        batch_op.create_index('ix_audit_events_model_seq', ['model', 'seq'], unique=False)
        batch_op.create_index('ix_audit_events_model_version_seq', ['model', 'version', 'seq'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_audit_head_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.bulk_insert(
        sa.table("audit_head", sa.column("id", sa.Integer), sa.column("seq", sa.BigInteger), sa.column("hash", sa.String)),
        [{"id": 1, "seq": 0, "hash": GENESIS_HASH}],
    )
    op.create_table('registered_models',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('last_version', sa.Integer(), nullable=False),
    sa.Column('policy', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=256), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('last_version >= 0', name=op.f('ck_registered_models_last_version_non_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registered_models')),
    sa.UniqueConstraint('name', name=op.f('uq_registered_models_name'))
    )
    op.create_table('model_tags',
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['registered_models.id'], name=op.f('fk_model_tags_model_id_registered_models')),
    sa.PrimaryKeyConstraint('model_id', 'key', name=op.f('pk_model_tags'))
    )
    op.create_table('model_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('artifact_uri', sa.Text(), nullable=False),
    sa.Column('artifact_sha256', sa.String(length=64), nullable=False),
    sa.Column('artifact_size', sa.BigInteger(), nullable=False),
    sa.Column('run_id', sa.String(length=512), nullable=True),
    sa.Column('dataset_digest', sa.String(length=512), nullable=True),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('signature', sa.JSON(), nullable=True),
    sa.Column('model_card', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('registered_by', sa.String(length=256), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stage_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('left_production_seq', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("stage IN ('None', 'Staging', 'Production', 'Archived')", name=op.f('ck_model_versions_stage_known')),
    sa.CheckConstraint('artifact_size >= 0', name=op.f('ck_model_versions_artifact_size_non_negative')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_model_versions_version_positive')),
    sa.ForeignKeyConstraint(['model_id'], ['registered_models.id'], name=op.f('fk_model_versions_model_id_registered_models')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_versions'))
    )
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.create_index('ix_model_versions_artifact_sha256', ['artifact_sha256'], unique=False)
        batch_op.create_index('ix_model_versions_dataset_digest', ['dataset_digest'], unique=False)
        batch_op.create_index('ix_model_versions_model_id_stage_version', ['model_id', 'stage', 'version'], unique=False)
        batch_op.create_index('ix_model_versions_rollback', ['model_id', 'left_production_seq'], unique=False, sqlite_where=sa.text('left_production_seq IS NOT NULL'), postgresql_where=sa.text('left_production_seq IS NOT NULL'))
        batch_op.create_index('ix_model_versions_run_id', ['run_id'], unique=False)
        batch_op.create_index('uq_model_versions_model_id_version', ['model_id', 'version'], unique=True)
        batch_op.create_index('uq_model_versions_one_production', ['model_id'], unique=True, sqlite_where=sa.text("stage = 'Production'"), postgresql_where=sa.text("stage = 'Production'"))

    op.create_table('aliases',
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('alias', sa.String(length=64), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['registered_models.id'], name=op.f('fk_aliases_model_id_registered_models')),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_aliases_version_id_model_versions')),
    sa.PrimaryKeyConstraint('model_id', 'alias', name=op.f('pk_aliases'))
    )
    with op.batch_alter_table('aliases', schema=None) as batch_op:
        batch_op.create_index('ix_aliases_version_id', ['version_id'], unique=False)

    op.create_table('approvals',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('approver', sa.String(length=256), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("decision IN ('approve', 'reject')", name=op.f('ck_approvals_decision_known')),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_approvals_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approvals'))
    )
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.create_index('ix_approvals_version_id_id', ['version_id', 'id'], unique=False)

    op.create_table('check_results',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('recorded_by', sa.String(length=256), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_check_results_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_results'))
    )
    with op.batch_alter_table('check_results', schema=None) as batch_op:
        batch_op.create_index('ix_check_results_version_id_name_id', ['version_id', 'name', 'id'], unique=False)

    op.create_table('version_tags',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_version_tags_version_id_model_versions')),
    sa.PrimaryKeyConstraint('version_id', 'key', name=op.f('pk_version_tags'))
    )


def downgrade() -> None:
    op.drop_table('version_tags')
    with op.batch_alter_table('check_results', schema=None) as batch_op:
        batch_op.drop_index('ix_check_results_version_id_name_id')

    op.drop_table('check_results')
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index('ix_approvals_version_id_id')

    op.drop_table('approvals')
    with op.batch_alter_table('aliases', schema=None) as batch_op:
        batch_op.drop_index('ix_aliases_version_id')

    op.drop_table('aliases')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index('uq_model_versions_one_production', sqlite_where=sa.text("stage = 'Production'"), postgresql_where=sa.text("stage = 'Production'"))
        batch_op.drop_index('uq_model_versions_model_id_version')
        batch_op.drop_index('ix_model_versions_run_id')
        batch_op.drop_index('ix_model_versions_rollback', sqlite_where=sa.text('left_production_seq IS NOT NULL'), postgresql_where=sa.text('left_production_seq IS NOT NULL'))
        batch_op.drop_index('ix_model_versions_model_id_stage_version')
        batch_op.drop_index('ix_model_versions_dataset_digest')
        batch_op.drop_index('ix_model_versions_artifact_sha256')

    op.drop_table('model_versions')
    op.drop_table('model_tags')
    op.drop_table('registered_models')
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_model_version_seq')
        batch_op.drop_index('ix_audit_events_model_seq')
        batch_op.drop_index('ix_audit_events_action_seq')

    op.drop_table('audit_events')

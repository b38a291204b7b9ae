"""invitations

invitations: a single-use, expiring link for a new account (only the token's SHA-256 is
stored), the role it grants, who made it, who used it (one account per invitation, unique) and
who revoked it. invitation_points: the points the new account gets.

Revision ID: 0ac7b10968e0
Revises: a7d2c4e91b05
Create Date: 2026-12-01 22:25:53.066037
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import library_app.models.base


revision = '0ac7b10968e0'
down_revision = 'a7d2c4e91b05'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', library_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', library_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', library_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('used_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', library_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_invitations_created_by_id_users')),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['users.id'], name=op.f('fk_invitations_revoked_by_id_users')),
    sa.ForeignKeyConstraint(['used_by_id'], ['users.id'], name=op.f('fk_invitations_used_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash')),
    sa.UniqueConstraint('used_by_id', name=op.f('uq_invitations_used_by_id'))
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitations_created_by_id'), ['created_by_id'], unique=False)

    op.create_table('invitation_points',
    sa.Column('invitation_id', sa.Integer(), nullable=False),
    sa.Column('point_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_invitation_points_invitation_id_invitations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['point_id'], ['points.id'], name=op.f('fk_invitation_points_point_id_points'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('invitation_id', 'point_id', name=op.f('pk_invitation_points'))
    )


def downgrade() -> None:
    op.drop_table('invitation_points')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitations_created_by_id'))

    op.drop_table('invitations')

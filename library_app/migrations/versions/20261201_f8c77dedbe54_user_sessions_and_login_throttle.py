"""user_sessions and login_throttle: sessions held on the server, login failures counted in the database

user_sessions: a browser session is a row (the cookie holds only a random id, stored as its
SHA-256), so logout, a password change and disabling end it on the server, with idle and
absolute lifetimes. Sessions signed in before this migration have no row: they are signed out.
login_throttle: failed logins per account and per address, shared by every process.

Revision ID: f8c77dedbe54
Revises: 5d43a0dbe247
Create Date: 2026-12-01 19:19:50.634688
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import library_app.models.base


revision = 'f8c77dedbe54'
down_revision = '5d43a0dbe247'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('started_at', library_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_at', library_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', library_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle'))
    )
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttle_last_at'), ['last_at'], unique=False)

    op.create_table('user_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('sid_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', library_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', library_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    sa.UniqueConstraint('sid_hash', name=op.f('uq_user_sessions_sid_hash'))
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))

    op.drop_table('user_sessions')
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_throttle_last_at'))

    op.drop_table('login_throttle')

"""kiosks for the self-service corner

kiosks: a device enrolled for one point (one-time enrol code and token stored as SHA-256,
revocable, last seen, and its count of unknown cards for slowing down guessing).
borrowers.self_service: may borrow alone at a kiosk (off by default).
loans / circulation_events: channel ('staff' or 'kiosk') and kiosk_id, so every loan records
the kiosk as its channel. On SQLite the new columns are added with ALTER TABLE (their foreign
key written inline) rather than by rebuilding the loans table with all its indexes.

Revision ID: 559cd6f4beee
Revises: 5b8e3c1d2a47
Create Date: 2026-12-01 20:15:59.857567
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import library_app.models.base


revision = '559cd6f4beee'
down_revision = '5b8e3c1d2a47'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kiosks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('point_id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', library_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('enrol_code_hash', sa.String(length=64), nullable=True),
    sa.Column('enrol_expires_at', library_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('enrolled_at', library_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', library_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_seen_at', library_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('card_tries', sa.Integer(), nullable=False),
    sa.Column('card_tries_started_at', library_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('card_blocked_until', library_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_kiosks_created_by_id_users')),
    sa.ForeignKeyConstraint(['point_id'], ['points.id'], name=op.f('fk_kiosks_point_id_points')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kiosks')),
    sa.UniqueConstraint('enrol_code_hash', name=op.f('uq_kiosks_enrol_code_hash')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_kiosks_token_hash'))
    )
    with op.batch_alter_table('kiosks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kiosks_point_id'), ['point_id'], unique=False)

    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column('borrowers', sa.Column('self_service', sa.Boolean(), server_default=sa.false(),
                                         nullable=False))
    for table in ('circulation_events', 'loans'):
        op.add_column(table, sa.Column('channel', sa.String(length=8), server_default='staff',
                                       nullable=False))
        if sqlite:
            op.execute(f"ALTER TABLE {table} ADD COLUMN kiosk_id INTEGER REFERENCES kiosks (id)")
        else:
            op.add_column(table, sa.Column('kiosk_id', sa.Integer(), nullable=True))
            op.create_foreign_key(op.f(f'fk_{table}_kiosk_id_kiosks'), table, 'kiosks', ['kiosk_id'], ['id'])
    op.create_index(op.f('ix_circulation_events_kiosk_id'), 'circulation_events', ['kiosk_id'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_circulation_events_kiosk_id'), table_name='circulation_events')
    for table in ('loans', 'circulation_events'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            if op.get_bind().dialect.name != "sqlite":
                batch_op.drop_constraint(op.f(f'fk_{table}_kiosk_id_kiosks'), type_='foreignkey')
            batch_op.drop_column('kiosk_id')
            batch_op.drop_column('channel')
    with op.batch_alter_table('borrowers', schema=None) as batch_op:
        batch_op.drop_column('self_service')

    with op.batch_alter_table('kiosks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kiosks_point_id'))

    op.drop_table('kiosks')

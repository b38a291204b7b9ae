"""isbn lookup: title record fields and lookup sources

A title catalogued from a record found by ISBN keeps pages, price, 中图法 class, summary, the
source's name and the record as received; lookup_sources holds the settings page's sources.

Revision ID: 5d43a0dbe247
Revises: 4f1c9a2e7b30
Create Date: 2026-12-01 19:18:22.562643
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import library_app.models.base

revision = '5d43a0dbe247'
down_revision = '4f1c9a2e7b30'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lookup_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('database', sa.String(length=100), nullable=False),
    sa.Column('syntax', sa.String(length=16), nullable=False),
    sa.Column('encoding', sa.String(length=16), nullable=False),
    sa.Column('user', sa.String(length=100), nullable=False),
    sa.Column('password', sa.String(length=100), nullable=False),
    sa.Column('url', sa.String(length=200), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', library_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lookup_sources'))
    )
    with op.batch_alter_table('titles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pages', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('price', sa.String(length=32), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('clc', sa.String(length=32), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('summary', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('record_source', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('raw_record', sa.Text(), nullable=False, server_default=''))



def downgrade() -> None:
    with op.batch_alter_table('titles', schema=None) as batch_op:
        batch_op.drop_column('raw_record')
        batch_op.drop_column('record_source')
        batch_op.drop_column('summary')
        batch_op.drop_column('clc')
        batch_op.drop_column('price')
        batch_op.drop_column('pages')

    op.drop_table('lookup_sources')

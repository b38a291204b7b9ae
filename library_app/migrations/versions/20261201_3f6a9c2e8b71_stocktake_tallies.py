"""stocktake_tallies: the found count of a stocktake in a few summed rows (issue 18)

A scan answered with ``count(*)`` of the found items, which grows with every book found (the
last scans of a 5,000-copy stocktake counted 5,000 index entries each). Existing stocktakes get
their count in slot 0.

Revision ID: 3f6a9c2e8b71
Revises: 312cccc3526c
Create Date: 2026-12-01 22:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '3f6a9c2e8b71'
down_revision = '312cccc3526c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stocktake_tallies',
    sa.Column('stocktake_id', sa.Integer(), nullable=False),
    sa.Column('slot', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('found', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['stocktake_id'], ['stocktakes.id'],
                            name=op.f('fk_stocktake_tallies_stocktake_id_stocktakes')),
    sa.PrimaryKeyConstraint('stocktake_id', 'slot', name=op.f('pk_stocktake_tallies'))
    )
    op.execute("INSERT INTO stocktake_tallies (stocktake_id, slot, found) "
               "SELECT stocktake_id, 0, count(*) FROM stocktake_items WHERE found_at IS NOT NULL "
               "GROUP BY stocktake_id")


def downgrade() -> None:
    op.drop_table('stocktake_tallies')

"""stocktakes: a point's count of its shelves, the snapshot expected, every scan (issue 18)

Also the copy status ``missing`` (缺失), a plain value of copies.status (String(16), no
check constraint), so nothing to alter there.

Revision ID: 5b8e3c1d2a47
Revises: 2722eba69719
Create Date: 2026-12-01 20:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import library_app.models.base

revision = '5b8e3c1d2a47'
down_revision = '2722eba69719'
branch_labels = None
depends_on = None

UTC_DATETIME = library_app.models.base.UTCDateTime(timezone=True)
COUNTED = sa.text("status IN ('found', 'elsewhere', 'on_loan')")
OPEN = sa.text("status = 'open'")
FOUND = sa.text("found_at IS NOT NULL")


def upgrade() -> None:
    op.create_table('stocktakes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('point_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('opened_by_id', sa.Integer(), nullable=True),
    sa.Column('opened_at', UTC_DATETIME, nullable=False),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', UTC_DATETIME, nullable=True),
    sa.Column('expected', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_stocktakes_closed_by_id_users')),
    sa.ForeignKeyConstraint(['opened_by_id'], ['users.id'], name=op.f('fk_stocktakes_opened_by_id_users')),
    sa.ForeignKeyConstraint(['point_id'], ['points.id'], name=op.f('fk_stocktakes_point_id_points')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stocktakes'))
    )
    with op.batch_alter_table('stocktakes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stocktakes_point_id'), ['point_id'], unique=False)
        batch_op.create_index('uq_stocktakes_open_point', ['point_id'], unique=True,
                              sqlite_where=OPEN, postgresql_where=OPEN)

    op.create_table('stocktake_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stocktake_id', sa.Integer(), nullable=False),
    sa.Column('copy_id', sa.Integer(), nullable=False),
    sa.Column('status_at_open', sa.String(length=16), nullable=False),
    sa.Column('found_at', UTC_DATETIME, nullable=True),
    sa.Column('missing_at', UTC_DATETIME, nullable=True),
    sa.ForeignKeyConstraint(['copy_id'], ['copies.id'], name=op.f('fk_stocktake_items_copy_id_copies')),
    sa.ForeignKeyConstraint(['stocktake_id'], ['stocktakes.id'], name=op.f('fk_stocktake_items_stocktake_id_stocktakes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stocktake_items')),
    sa.UniqueConstraint('stocktake_id', 'copy_id', name='uq_stocktake_items_copy')
    )
    with op.batch_alter_table('stocktake_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stocktake_items_copy_id'), ['copy_id'], unique=False)
        batch_op.create_index('ix_stocktake_items_found', ['stocktake_id'], unique=False,
                              sqlite_where=FOUND, postgresql_where=FOUND)

    op.create_table('stocktake_scans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scan_id', sa.String(length=36), nullable=False),
    sa.Column('stocktake_id', sa.Integer(), nullable=False),
    sa.Column('copy_code', sa.String(length=64), nullable=False),
    sa.Column('copy_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('where', sa.String(length=80), nullable=False),
    sa.Column('scanned_at', UTC_DATETIME, nullable=False),
    sa.Column('received_at', UTC_DATETIME, nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_stocktake_scans_actor_id_users')),
    sa.ForeignKeyConstraint(['copy_id'], ['copies.id'], name=op.f('fk_stocktake_scans_copy_id_copies')),
    sa.ForeignKeyConstraint(['stocktake_id'], ['stocktakes.id'], name=op.f('fk_stocktake_scans_stocktake_id_stocktakes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stocktake_scans')),
    sa.UniqueConstraint('scan_id', name=op.f('uq_stocktake_scans_scan_id'))
    )
    with op.batch_alter_table('stocktake_scans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stocktake_scans_stocktake_id'), ['stocktake_id'], unique=False)
        batch_op.create_index('uq_stocktake_scans_counted', ['stocktake_id', 'copy_id'], unique=True,
                              sqlite_where=COUNTED, postgresql_where=COUNTED)


def downgrade() -> None:
    # Copies a stocktake marked missing go back to available: the status would mean nothing
    # to the code of the older revision.
    op.execute("UPDATE copies SET status = 'available' WHERE status = 'missing'")
    with op.batch_alter_table('stocktake_scans', schema=None) as batch_op:
        batch_op.drop_index('uq_stocktake_scans_counted')
        batch_op.drop_index(batch_op.f('ix_stocktake_scans_stocktake_id'))
    op.drop_table('stocktake_scans')
    with op.batch_alter_table('stocktake_items', schema=None) as batch_op:
        batch_op.drop_index('ix_stocktake_items_found')
        batch_op.drop_index(batch_op.f('ix_stocktake_items_copy_id'))
    op.drop_table('stocktake_items')
    with op.batch_alter_table('stocktakes', schema=None) as batch_op:
        batch_op.drop_index('uq_stocktakes_open_point')
        batch_op.drop_index(batch_op.f('ix_stocktakes_point_id'))
    op.drop_table('stocktakes')

"""loan_renewals: each renewal with the due date before and after it

"Overdue at the end of a month" needs the due date in force at that moment; loans.due_at holds
only the latest, so renewing an overdue book in November took it out of October's overdue count.
Renewals recorded before this table existed are taken from the audit log
(action circulation.renew, which kept the old and new due dates), timed when they were recorded.

Revision ID: 9ea17f0f0de4
Revises: b7e3d91f4a2c
Create Date: 2026-12-01 14:55:20.359869
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

import library_app.models.base

revision = '9ea17f0f0de4'
down_revision = 'b7e3d91f4a2c'
branch_labels = None
depends_on = None

UTC_DATETIME = library_app.models.base.UTCDateTime(timezone=True)


def _backfill(conn: sa.Connection) -> None:
    audit = sa.table("audit_log", sa.column("id", sa.Integer), sa.column("at", UTC_DATETIME),
                     sa.column("actor_id", sa.Integer), sa.column("action", sa.String),
                     sa.column("target_id", sa.String), sa.column("details", sa.JSON))
    loans = sa.table("loans", sa.column("id", sa.Integer))
    renewals = sa.table("loan_renewals", sa.column("loan_id", sa.Integer),
                        sa.column("renewed_at", UTC_DATETIME), sa.column("due_before", UTC_DATETIME),
                        sa.column("due_after", UTC_DATETIME), sa.column("renewed_by_id", sa.Integer),
                        sa.column("event_id", sa.String))
    known = {row[0] for row in conn.execute(sa.select(loans.c.id).where(loans.c.id.in_(
        sa.select(sa.cast(audit.c.target_id, sa.Integer)).where(audit.c.action == "circulation.renew"))))}
    rows = []
    for _id, at, actor_id, target_id, details in conn.execute(
            sa.select(audit.c.id, audit.c.at, audit.c.actor_id, audit.c.target_id, audit.c.details)
            .where(audit.c.action == "circulation.renew").order_by(audit.c.id)):
        details = details or {}
        if not str(target_id).isdigit() or int(target_id) not in known or not details.get("new_due"):
            continue
        old = details.get("old_due")
        rows.append({"loan_id": int(target_id), "renewed_at": at,
                     "due_before": datetime.fromisoformat(old) if old else None,
                     "due_after": datetime.fromisoformat(details["new_due"]),
                     "renewed_by_id": actor_id, "event_id": details.get("event")})
    if rows:
        conn.execute(sa.insert(renewals), rows)


def upgrade() -> None:
    op.create_table('loan_renewals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('renewed_at', UTC_DATETIME, nullable=False),
    sa.Column('due_before', UTC_DATETIME, nullable=True),
    sa.Column('due_after', UTC_DATETIME, nullable=False),
    sa.Column('renewed_by_id', sa.Integer(), nullable=True),
    sa.Column('event_id', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_loan_renewals_loan_id_loans')),
    sa.ForeignKeyConstraint(['renewed_by_id'], ['users.id'], name=op.f('fk_loan_renewals_renewed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_renewals'))
    )
    with op.batch_alter_table('loan_renewals', schema=None) as batch_op:
        batch_op.create_index('ix_loan_renewals_late', ['renewed_at', 'due_before', 'loan_id'], unique=False,
                              sqlite_where=sa.text('due_before < renewed_at'),
                              postgresql_where=sa.text('due_before < renewed_at'))
        batch_op.create_index(batch_op.f('ix_loan_renewals_loan_id'), ['loan_id'], unique=False)
    _backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('loan_renewals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loan_renewals_loan_id'))
        batch_op.drop_index('ix_loan_renewals_late')
    op.drop_table('loan_renewals')

"""late returns by due date, on PostgreSQL only

"Overdue at the end" of a month years back counts late loans due before that moment and
returned after it; ix_loans_late (by return time) walks every late return since. PostgreSQL's
planner chooses between the two indexes by their statistics; SQLite's would take the new one
for recent months too, where it is slower, so SQLite does not get it.

Revision ID: 8a4f2b6c1d0e
Revises: 5d1e0c7a9b3f
Create Date: 2026-11-29 05:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "8a4f2b6c1d0e"
down_revision = "5d1e0c7a9b3f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index("ix_loans_late_by_due", "loans", ["due_at", "returned_at", "point_id", "undone_at"],
                    unique=False, postgresql_where=sa.text("undone_at IS NULL AND returned_at > due_at"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_loans_late_by_due", table_name="loans")

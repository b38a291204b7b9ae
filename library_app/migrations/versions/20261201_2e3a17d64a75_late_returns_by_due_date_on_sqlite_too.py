"""late returns by due date on SQLite too

"Overdue at the end" of a month years back walked every late return since that month on SQLite
(4 ms a month at a million loans, three months a report). SQLite now gets the index PostgreSQL
has had since 8a4f2b6c1d0e; the report tells SQLite's planner which of the two to use.

Revision ID: 2e3a17d64a75
Revises: 9ea17f0f0de4
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '2e3a17d64a75'
down_revision = '9ea17f0f0de4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL has it already
    op.create_index("ix_loans_late_by_due", "loans", ["due_at", "returned_at", "point_id", "undone_at"],
                    unique=False, sqlite_where=sa.text("undone_at IS NULL AND returned_at > due_at"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index("ix_loans_late_by_due", table_name="loans")

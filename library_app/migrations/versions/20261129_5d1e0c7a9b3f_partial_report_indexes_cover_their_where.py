"""partial report indexes carry the columns of their own WHERE

SQLite checks a query's terms that a partial index's WHERE already implies, and reads the
table row for them unless the index holds those columns: the returns, late-returns and
open-loans counts of the month report read the table instead of the index alone.

Revision ID: 5d1e0c7a9b3f
Revises: 0eb8d8b7c5a4
Create Date: 2026-11-29 05:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5d1e0c7a9b3f"
down_revision = "0eb8d8b7c5a4"
branch_labels = None
depends_on = None

RETURNED_WHERE = "undone_at IS NULL AND source != 'import'"
LATE_WHERE = "undone_at IS NULL AND returned_at > due_at"
OPEN_WHERE = "returned_at IS NULL"


def _create(name: str, columns: list[str], where: str) -> None:
    op.create_index(name, "loans", columns, unique=False,
                    sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def upgrade() -> None:
    for name in ("ix_loans_returned_cover", "ix_loans_late", "ix_loans_open_due"):
        op.drop_index(name, table_name="loans")
    _create("ix_loans_returned_cover",
            ["returned_at", "point_id", "return_point_id", "returned_by_id", "undone_at", "source"],
            RETURNED_WHERE)
    _create("ix_loans_late", ["returned_at", "due_at", "point_id", "undone_at"], LATE_WHERE)
    _create("ix_loans_open_due", ["due_at", "point_id", "returned_at"], OPEN_WHERE)


def downgrade() -> None:
    for name in ("ix_loans_returned_cover", "ix_loans_late", "ix_loans_open_due"):
        op.drop_index(name, table_name="loans")
    _create("ix_loans_returned_cover", ["returned_at", "point_id", "return_point_id", "returned_by_id"],
            RETURNED_WHERE)
    _create("ix_loans_late", ["returned_at", "due_at", "point_id"], LATE_WHERE)
    _create("ix_loans_open_due", ["due_at", "point_id"], OPEN_WHERE)

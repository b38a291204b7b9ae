"""loans.lent_year and three indexes for the annual report

loans.lent_year: the year of lent_day (the loan's local day), filled from it on insert. With
ix_loans_year_served (lent_year, borrower_id, point_id) the annual report counts a year's
distinct children per point and overall as ordered runs of one index instead of sorting the
year's loans (ix_loans_visits is in day order). Existing loans get the year of their lent_day.
ix_activity_cards_children (activity_id, borrower_id) and ix_activity_volunteers_service
(activity_id, volunteer_id, minutes): a year's cards and volunteer minutes from the index alone.

Revision ID: 312cccc3526c
Revises: 0ac7b10968e0
Create Date: 2026-12-01 22:45:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '312cccc3526c'
down_revision = '0ac7b10968e0'
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite adds a NOT NULL column only with a default (rebuilding loans instead fails on the
    # foreign keys of loan_renewals): 0 until the backfill below; every insert of the app
    # writes lent_year (the model's default from lent_day).
    op.add_column("loans", sa.Column("lent_year", sa.Integer(), nullable=not sqlite,
                                     server_default="0" if sqlite else None))
    loans = sa.table("loans", sa.column("lent_day", sa.Date()), sa.column("lent_year", sa.Integer()))
    op.execute(loans.update().values(lent_year=sa.cast(sa.extract("year", loans.c.lent_day), sa.Integer())))
    if not sqlite:
        op.alter_column("loans", "lent_year", existing_type=sa.Integer(), nullable=False)
    op.create_index("ix_loans_year_served", "loans", ["lent_year", "borrower_id", "point_id", "undone_at"],
                    unique=False, sqlite_where=sa.text("undone_at IS NULL"),
                    postgresql_where=sa.text("undone_at IS NULL"))
    op.create_index("ix_activity_cards_children", "activity_cards", ["activity_id", "borrower_id"])
    op.create_index("ix_activity_volunteers_service", "activity_volunteers",
                    ["activity_id", "volunteer_id", "minutes"])


def downgrade() -> None:
    op.drop_index("ix_activity_volunteers_service", table_name="activity_volunteers")
    op.drop_index("ix_activity_cards_children", table_name="activity_cards")
    op.drop_index("ix_loans_year_served", table_name="loans")
    op.execute("ALTER TABLE loans DROP COLUMN lent_year")  # SQLite too, without a rebuild

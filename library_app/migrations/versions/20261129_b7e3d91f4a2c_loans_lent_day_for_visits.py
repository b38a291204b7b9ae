"""loans.lent_day: the local date of each loan, for counting visits

Visits (one child, one point, one local day) were counted by sorting a year's loans by an
expression of lent_at: 450 ms on SQLite for the year report at a million loans. With the local
date stored and indexed with the point and the child, a visit is a run of one index.

The backfill uses the organisation's time zone as the app would: the settings page's value,
else LIBRARY_TIMEZONE, else Asia/Shanghai.

Revision ID: b7e3d91f4a2c
Revises: 8a4f2b6c1d0e
Create Date: 2026-11-29 05:40:00
"""
from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "b7e3d91f4a2c"
down_revision = "8a4f2b6c1d0e"
branch_labels = None
depends_on = None

CHUNK = 20000


def _zone(conn: sa.Connection) -> ZoneInfo:
    row = conn.execute(sa.text("SELECT value FROM settings WHERE key = 'timezone'")).first()
    stored = None
    if row is not None:
        value = row[0] if not isinstance(row[0], str) else json.loads(row[0])
        stored = (value or {}).get("v")
    return ZoneInfo(stored or os.environ.get("LIBRARY_TIMEZONE") or "Asia/Shanghai")


def _backfill(conn: sa.Connection) -> None:
    tz = _zone(conn)
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("UPDATE loans SET lent_day = (lent_at AT TIME ZONE :tz)::date"), {"tz": tz.key})
        return
    last = 0
    while True:
        rows = conn.execute(sa.text("SELECT id, lent_at FROM loans WHERE id > :last ORDER BY id LIMIT :n"),
                            {"last": last, "n": CHUNK}).all()
        if not rows:
            return
        days = []
        for loan_id, lent_at in rows:
            at = datetime.fromisoformat(lent_at) if isinstance(lent_at, str) else lent_at
            days.append({"i": loan_id, "d": at.replace(tzinfo=UTC).astimezone(tz).date().isoformat()})
        conn.execute(sa.text("UPDATE loans SET lent_day = :d WHERE id = :i"), days)
        last = rows[-1][0]


def upgrade() -> None:
    with op.batch_alter_table("loans") as batch_op:
        batch_op.add_column(sa.Column("lent_day", sa.Date(), nullable=True))
    _backfill(op.get_bind())
    with op.batch_alter_table("loans") as batch_op:
        batch_op.alter_column("lent_day", existing_type=sa.Date(), nullable=False)
    op.create_index("ix_loans_visits", "loans",
                    ["lent_day", "point_id", "borrower_id", "lent_at", "undone_at"], unique=False,
                    sqlite_where=sa.text("undone_at IS NULL"), postgresql_where=sa.text("undone_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_loans_visits", table_name="loans")
    with op.batch_alter_table("loans") as batch_op:
        batch_op.drop_column("lent_day")

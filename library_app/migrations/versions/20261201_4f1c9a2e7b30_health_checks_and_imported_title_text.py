"""health_checks (the write probe of /healthz) and loans.title_text (imported titles as written)

``/healthz`` answered ok on a full disk while every write failed: it now rewrites one row of
``health_checks`` now and then. A loan log row whose title is not in the catalog is imported
with its title as written (``loans.title_text``) instead of being refused.

Revision ID: 4f1c9a2e7b30
Revises: 2e3a17d64a75
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import library_app.models.base

revision = '4f1c9a2e7b30'
down_revision = '2e3a17d64a75'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_checks",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", library_app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_checks")),
    )
    op.add_column("loans", sa.Column("title_text", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("loans") as batch:
        batch.drop_column("title_text")
    op.drop_table("health_checks")

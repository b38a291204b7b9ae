"""titles.added_by_id: who added a title (a point lead edits only the titles she added)

Existing titles keep NULL: they were added by staff or imported, and stay the librarians'.
On SQLite the column is added with ALTER TABLE, its foreign key written inline, rather than
by rebuilding the titles table.

Revision ID: a7d2c4e91b05
Revises: 559cd6f4beee
Create Date: 2026-12-01 22:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'a7d2c4e91b05'
down_revision = '559cd6f4beee'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE titles ADD COLUMN added_by_id INTEGER REFERENCES users (id)")
    else:
        op.add_column("titles", sa.Column("added_by_id", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_titles_added_by_id_users", "titles", "users", ["added_by_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("titles") as batch:
        batch.drop_column("added_by_id")

"""Columns named for what they hold: ``publications.publication_id`` (the publication's id
in its campaign) and ``comments.publication_key`` (the full key of the publication a reply
answers), both once called ``publication``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# A plain RENAME COLUMN (SQLite 3.25+, PostgreSQL), never a batch copy of the table: that
# would drop the full-text index's triggers on comments.
_RENAMED = (("publications", "publication", "publication_id"), ("comments", "publication", "publication_key"))


def upgrade() -> None:
    for table, old, new in _RENAMED:
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")


def downgrade() -> None:
    for table, old, new in _RENAMED:
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {new} TO {old}")

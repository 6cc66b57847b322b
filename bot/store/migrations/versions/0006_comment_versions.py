"""Comments: a version, counted up by each decision and each edit.

A moderator's decision carries the version they saw; the moderation service refuses it if
someone decided (or the author edited) the reply meanwhile. Rows stored before this
revision start at 1.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite takes it with a default), never a batch copy of the table:
    # that would drop the full-text index's triggers with it.
    op.add_column("comments", sa.Column("version", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    op.execute("ALTER TABLE comments DROP COLUMN version")  # SQLite 3.35+, PostgreSQL

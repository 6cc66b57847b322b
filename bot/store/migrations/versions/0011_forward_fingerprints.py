"""Remote links: what the copy of a channel post says (a fingerprint) and when it was posted.

A Telegram send in doubt is settled by looking for the automatic forward of the post into
the channel's discussion group; with the result of the send lost, its message id is not
known, so the copy is matched by its text and time. Rows stored before this revision have
neither (they name posts already settled).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("remote_links", sa.Column("fingerprint", sa.String(64)))
    op.add_column("remote_links", sa.Column("posted_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.execute("ALTER TABLE remote_links DROP COLUMN posted_at")  # SQLite 3.35+, PostgreSQL
    op.execute("ALTER TABLE remote_links DROP COLUMN fingerprint")

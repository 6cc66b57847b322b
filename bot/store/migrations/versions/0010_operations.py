"""Operations: the running bot's heartbeat, and the settlements people make.

``heartbeats``: one row per ``relais run`` process (its owner id), beaten every few
seconds, so that ``relais status`` and ``relais check --alive`` can tell whether the bot
runs, and a starting bot how long it was down.

``resolutions``: each decision a person made about a publication in doubt, failed or
missed (``relais resolve``): who, when, why, what it was and what it became.

``publications.resend``: a person asked for this publication to be sent again: it is sent
past its grace period (never twice: it goes through the ledger's claim like any other).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("owner", name="pk_heartbeats"),
    )
    op.create_index("ix_heartbeats_seen_at", "heartbeats", ["seen_at"])
    op.create_table(
        "resolutions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("previous_state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("url", sa.String(1000)),
        sa.PrimaryKeyConstraint("id", name="pk_resolutions"),
    )
    op.create_index("ix_resolutions_key", "resolutions", ["key"])
    # A plain ADD COLUMN, never a batch copy of the table.
    op.add_column("publications", sa.Column("resend", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.execute("ALTER TABLE publications DROP COLUMN resend")  # SQLite 3.35+, PostgreSQL
    op.drop_index("ix_resolutions_key", "resolutions")
    op.drop_table("resolutions")
    op.drop_index("ix_heartbeats_seen_at", "heartbeats")
    op.drop_table("heartbeats")

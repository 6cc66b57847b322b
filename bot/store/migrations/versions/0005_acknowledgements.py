"""The acknowledgement queue: a favourite or a 👍 owed to each approved reply.

Replies approved before this revision are not queued: the collector of that time had
already acknowledged them as it collected them (``comments.acknowledged_at``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "acknowledgements",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("comment_id", sa.Integer, nullable=False),
        sa.Column("network", sa.String(16), nullable=False),
        sa.Column("remote_id", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("queued_at", TZ, nullable=False),
        sa.Column("next_at", TZ, nullable=False),
        sa.Column("owner", sa.String(64)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", TZ),
        sa.PrimaryKeyConstraint("id", name="pk_acknowledgements"),
        sa.UniqueConstraint("comment_id", name="uq_acknowledgements_comment_id"),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            ondelete="CASCADE",
            name="fk_acknowledgements_comment_id_comments",
        ),
    )
    op.create_index(
        "ix_acknowledgements_network_state_next_at", "acknowledgements", ["network", "state", "next_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_acknowledgements_network_state_next_at", "acknowledgements")
    op.drop_table("acknowledgements")

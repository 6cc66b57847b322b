"""Decisions: each moderator's decision a row, so that it can be undone; reason codes;
indexes for the moderators' queue.

- ``decisions``: one row per decision (on one reply or many), who, when, what; an undo is a
  decision too (``undoes``), and marks the one it undid (``undone_by``, ``undone_at``).
- ``comment_events`` gain the decision they belong to, the reply's moderation before it
  (``previous_*``, what an undo restores) and its version after it (an undo is refused
  when the reply moved on since).
- ``comments.reason_code`` and ``comment_events.reason_code``: why a reply was rejected,
  from a short fixed list (the moderation service's ``ReasonCode``).
- Indexes so that a queue page stays fast at 100,000 replies: by state then id (the
  queue's order), by campaign then id, by network then id, by author's handle (the author view), and
  ``ix_comments_queue``, every column a queue filters on but the text and the author, which
  the counts (the tabs, "N of M") read instead of the rows.

Plain ADD COLUMNs (never a batch copy of ``comments``: that would drop the full-text
index's triggers with it). Existing rows keep NULLs: events written before this revision
belong to no decision and cannot be undone.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
# Every column a queue filters on but the text and the author: counting reads this alone.
QUEUE = ["campaign", "state", "network", "language", "created_at", "decided_by", "reason_code", "reason"]
EVENT_COLUMNS: list[sa.Column[Any]] = [
    sa.Column("decision_id", sa.Integer),
    sa.Column("reason_code", sa.String(32)),
    sa.Column("previous_state", sa.String(16)),
    sa.Column("previous_reason", sa.Text),
    sa.Column("previous_reason_code", sa.String(32)),
    sa.Column("previous_decided_by", sa.String(200)),
    sa.Column("previous_decided_at", TZ),
    sa.Column("version", sa.Integer),
]


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(32)),
        sa.Column("reason", sa.Text),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("undoes", sa.Integer),
        sa.Column("undone_by", sa.Integer),
        sa.Column("undone_at", TZ),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
    )
    op.create_index("ix_decisions_actor_id", "decisions", ["actor", "id"])
    op.add_column("comments", sa.Column("reason_code", sa.String(32)))
    for column in EVENT_COLUMNS:
        op.add_column("comment_events", column)
    op.create_index("ix_comment_events_decision_id", "comment_events", ["decision_id"])
    op.create_index("ix_comments_state_id", "comments", ["state", "id"])
    op.create_index("ix_comments_campaign_id", "comments", ["campaign", "id"])
    op.create_index("ix_comments_network_id", "comments", ["network", "id"])
    op.create_index("ix_comments_author_handle", "comments", ["author_handle"])
    op.create_index("ix_comments_queue", "comments", QUEUE)


def downgrade() -> None:
    op.drop_index("ix_comments_queue", "comments")
    op.drop_index("ix_comments_author_handle", "comments")
    op.drop_index("ix_comments_network_id", "comments")
    op.drop_index("ix_comments_campaign_id", "comments")
    op.drop_index("ix_comments_state_id", "comments")
    op.drop_index("ix_comment_events_decision_id", "comment_events")
    for column in reversed(EVENT_COLUMNS):  # SQLite 3.35+, PostgreSQL
        op.execute(f"ALTER TABLE comment_events DROP COLUMN {column.name}")
    op.execute("ALTER TABLE comments DROP COLUMN reason_code")
    op.drop_index("ix_decisions_actor_id", "decisions")
    op.drop_table("decisions")

"""The comment store: replies, their moderation history, collector positions, search.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("network", sa.String(16), nullable=False),
        sa.Column("remote_id", sa.String(200), nullable=False),
        sa.Column("campaign", sa.String(64)),
        sa.Column("publication", sa.String(400)),
        sa.Column("in_reply_to", sa.String(200)),
        sa.Column("url", sa.Text),
        sa.Column("author_id", sa.String(200), nullable=False),
        sa.Column("author_handle", sa.Text, nullable=False),
        sa.Column("author_name", sa.Text, nullable=False),
        sa.Column("author_nobot", sa.Boolean, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("language", sa.Text),
        sa.Column("hashtags", sa.Text, nullable=False),
        sa.Column("private", sa.Boolean, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("collected_at", TZ, nullable=False),
        sa.Column("edited_at", TZ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", TZ),
        sa.Column("acknowledged_at", TZ),
        sa.Column("checked_at", TZ),
        sa.PrimaryKeyConstraint("id", name="pk_comments"),
        sa.UniqueConstraint("network", "remote_id", name="uq_comments_network_remote_id"),
    )
    op.create_index("ix_comments_state_created_at", "comments", ["state", "created_at"])
    op.create_index("ix_comments_network_author_id", "comments", ["network", "author_id"])
    op.create_index("ix_comments_network_checked_at", "comments", ["network", "checked_at"])
    op.create_table(
        "comment_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("comment_id", sa.Integer, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("previous_text", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_comment_events"),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], ondelete="CASCADE", name="fk_comment_events_comment_id_comments"
        ),
    )
    op.create_index("ix_comment_events_comment_id", "comment_events", ["comment_id"])
    op.create_table(
        "collector_positions",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("position", sa.String(200), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_collector_positions"),
    )
    op.create_table(
        "remote_links",
        sa.Column("network", sa.String(16), nullable=False),
        sa.Column("remote_id", sa.String(200), nullable=False),
        sa.Column("original", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("network", "remote_id", name="pk_remote_links"),
    )
    op.create_index("ix_publications_network_remote_id", "publications", ["network", "remote_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE comments ADD COLUMN search tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED"
        )
        op.execute("CREATE INDEX ix_comments_search ON comments USING gin (search)")
    else:
        # SQLite: an external-content FTS5 index over comments.text, kept by triggers.
        op.execute(
            "CREATE VIRTUAL TABLE comments_fts USING fts5("
            "text, content='comments', content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute(
            "CREATE TRIGGER comments_fts_insert AFTER INSERT ON comments BEGIN "
            "INSERT INTO comments_fts(rowid, text) VALUES (new.id, new.text); END"
        )
        op.execute(
            "CREATE TRIGGER comments_fts_delete AFTER DELETE ON comments BEGIN "
            "INSERT INTO comments_fts(comments_fts, rowid, text) VALUES ('delete', old.id, old.text); END"
        )
        op.execute(
            "CREATE TRIGGER comments_fts_update AFTER UPDATE OF text ON comments BEGIN "
            "INSERT INTO comments_fts(comments_fts, rowid, text) VALUES ('delete', old.id, old.text); "
            "INSERT INTO comments_fts(rowid, text) VALUES (new.id, new.text); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS comments_fts")
    op.drop_index("ix_publications_network_remote_id", "publications")
    op.drop_table("remote_links")
    op.drop_table("collector_positions")
    op.drop_table("comment_events")
    op.drop_table("comments")

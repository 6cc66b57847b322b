"""Tables of the store. Changing one means a new migration in ``bot/store/migrations``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


publications = Table(
    "publications",
    metadata,
    Column("id", Integer, primary_key=True),
    # campaign/publication/channel: the exactly-once key
    Column("key", String(400), nullable=False, unique=True),
    Column("campaign", String(64), nullable=False),
    Column("publication_id", String(200), nullable=False),  # Publication.id
    Column("channel", String(64), nullable=False),
    Column("network", String(16), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("remote_id", String(200)),
    Column("remote_url", String(1000)),
    Column("last_error", Text),
    Column("owner", String(64)),  # the process that claimed it (state "sending")
    Column("claimed_at", UTCDateTime),
    # A request of the current send may have reached the network, its outcome not yet known.
    Column("on_wire", Boolean, nullable=False, default=False, server_default=false()),
    Column("first_wire_at", UTCDateTime),  # when the first request went on the wire
    Column("finished_at", UTCDateTime),
    Column("alerted_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    # A person asked for it to be sent again (``relais resolve --resend``): past its grace.
    Column("resend", Boolean, nullable=False, default=False, server_default=false()),
    Index(None, "state", "due_at"),
    Index(None, "network", "remote_id"),
)


comments = Table(
    "comments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("network", String(16), nullable=False),
    Column("remote_id", String(200), nullable=False),  # one row per (network, remote id), ever
    Column("campaign", String(64)),
    Column("publication_key", String(400)),  # the key of the publication it answers
    Column("in_reply_to", String(200)),
    Column("url", Text),
    Column("author_id", String(200), nullable=False),
    Column("author_handle", Text, nullable=False),
    Column("author_name", Text, nullable=False),
    Column("author_nobot", Boolean, nullable=False),
    Column("text", Text, nullable=False),
    Column("language", Text),
    Column("hashtags", Text, nullable=False),  # " tag1 tag2 ", lowercase
    Column("private", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("collected_at", UTCDateTime, nullable=False),
    Column("edited_at", UTCDateTime),
    Column("state", String(16), nullable=False),
    Column("reason", Text),
    Column("reason_code", String(32)),  # a rejection's: one of the moderation service's ReasonCode
    Column("decided_by", String(200)),
    Column("decided_at", UTCDateTime),
    Column("acknowledged_at", UTCDateTime),
    Column("checked_at", UTCDateTime),  # last looked at again for edits and deletions
    # counted up by each decision and each edit: a decision carries the version it was made on
    Column("version", Integer, nullable=False, server_default="1"),
    UniqueConstraint("network", "remote_id"),
    Index(None, "state", "created_at"),
    Index(None, "network", "author_id"),
    Index(None, "network", "checked_at"),
    Index(None, "state", "id"),  # the queue's order within a tab
    Index(None, "campaign", "id"),  # the queue's order within a campaign
    Index(None, "network", "id"),
    Index(None, "author_handle"),  # the author view
    # Every column a queue filters on but the text and the author: counting reads it alone.
    Index(
        "ix_comments_queue",
        "campaign",
        "state",
        "network",
        "language",
        "created_at",
        "decided_by",
        "reason_code",
        "reason",
    ),
)

comment_events = Table(
    "comment_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("comment_id", Integer, ForeignKey("comments.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False),  # collected, edited, approved, rejected, flagged, pending
    Column("actor", String(200), nullable=False),  # a moderator's name, or "relais"
    Column("reason", Text),
    Column("previous_text", Text),  # for "edited": the text before the edit
    # A moderator's decision (or its undo): which one, and the reply's moderation before it
    # (what an undo restores) and its version after it (an undo is refused once it moved on).
    Column("decision_id", Integer, index=True),
    Column("reason_code", String(32)),
    Column("previous_state", String(16)),
    Column("previous_reason", Text),
    Column("previous_reason_code", String(32)),
    Column("previous_decided_by", String(200)),
    Column("previous_decided_at", UTCDateTime),
    Column("version", Integer),
)

decisions = Table(
    "decisions",
    metadata,
    # One row per moderator's decision, on one reply or many (see bot/store/decisions.py).
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("state", String(16), nullable=False),  # what it made the replies ("undo": restored each)
    Column("reason_code", String(32)),
    Column("reason", Text),
    Column("count", Integer, nullable=False),  # how many replies it decided
    Column("undoes", Integer),  # the decision this one undid
    Column("undone_by", Integer),  # the decision that undid this one
    Column("undone_at", UTCDateTime),
    Index(None, "actor", "id"),
)

collector_positions = Table(
    "collector_positions",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("position", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

remote_links = Table(
    "remote_links",
    metadata,
    # A message that stands for a publication: Telegram's copy of a channel post in the
    # discussion group, which comments answer.
    Column("network", String(16), primary_key=True),
    Column("remote_id", String(200), primary_key=True),
    Column("original", String(200), nullable=False),
    # What the copy says (``bot.networks.telegram.fingerprint``) and when it was posted: how a
    # send in doubt, whose message id was lost with its answer, finds its copy.
    Column("fingerprint", String(64)),
    Column("posted_at", UTCDateTime),
)

acknowledgements = Table(
    "acknowledgements",
    metadata,
    # A favourite or a 👍 owed to an approved reply (see bot/store/acknowledgements.py).
    Column("id", Integer, primary_key=True),
    # one per reply, ever; gone with the reply
    Column("comment_id", Integer, ForeignKey("comments.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("network", String(16), nullable=False),
    Column("remote_id", String(200), nullable=False),
    Column("state", String(16), nullable=False),  # queued, sent, failed, skipped
    Column("queued_at", UTCDateTime, nullable=False),
    Column("next_at", UTCDateTime, nullable=False),  # due, or, once claimed, when the claim lapses
    Column("owner", String(64)),  # the process that claimed it last
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),  # why it failed or was skipped
    Column("sent_at", UTCDateTime),
    Index(None, "network", "state", "next_at"),
)

set_aside = Table(
    "set_aside",
    metadata,
    # An item a collector read that the store refused (one row per item, the latest refusal):
    # what names it and why, never what it says or who said it.
    Column("id", Integer, primary_key=True),
    Column("network", String(16), nullable=False),
    Column("remote_id", String(200), nullable=False),
    Column("source", String(200), nullable=False),  # the collector's position it was read at
    Column("error", String(200), nullable=False),  # the class of the error, never its message
    Column("at", UTCDateTime, nullable=False),
    UniqueConstraint("network", "remote_id"),
)

moderators = Table(
    "moderators",
    metadata,
    # The web desk's accounts (bot/store/moderators.py): an argon2 hash, never a password.
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),  # what decisions record
    Column("password_hash", Text, nullable=False),
    Column("admin", Boolean, nullable=False),
    Column("session_epoch", Integer, nullable=False),  # counted up to end its sessions
    Column("session_key", String(64), nullable=False),  # random, per account: its sessions carry it
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime),
)

web_keys = Table(
    "web_keys",
    metadata,
    # The key the desk signs its cookies with, made once and shared by its processes.
    Column("name", String(32), primary_key=True),
    Column("value", String(200), nullable=False),
)

heartbeats = Table(
    "heartbeats",
    metadata,
    # One row per ``relais run`` process, beaten every few seconds (bot/store/heartbeat.py).
    Column("owner", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False, index=True),
    Column("stopped_at", UTCDateTime),  # set when it stopped cleanly
)

resolutions = Table(
    "resolutions",
    metadata,
    # A person's decision about a publication in doubt, failed or missed (``relais resolve``).
    Column("id", Integer, primary_key=True),
    Column("key", String(400), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(16), nullable=False),  # published, resend, skip
    Column("previous_state", String(16), nullable=False),
    Column("reason", Text),
    Column("url", String(1000)),
)

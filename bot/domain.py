"""The domain: campaigns and the publications they expand into. Plain objects, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo


class Network(StrEnum):
    TELEGRAM = "telegram"
    MASTODON = "mastodon"


class PublicationState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    PUBLISHED = "published"
    FAILED = "failed"
    UNKNOWN = "unknown"
    MISSED = "missed"


@dataclass(frozen=True)
class Channel:
    """A named target of a campaign: a Telegram chat or a Mastodon account."""

    name: str
    network: Network
    chat: str | int | None = None  # Telegram: "@username" or a numeric id
    visibility: str = "public"  # Mastodon
    max_characters: int | None = None  # Mastodon: the limit the campaign assumes
    language: str | None = None  # the one language it takes, or None for every language


@dataclass(frozen=True)
class Media:
    path: Path
    alt: str


@dataclass(frozen=True)
class Moderation:
    banned_words: tuple[str, ...] = ()
    hold_links: bool = True


@dataclass(frozen=True)
class Publication:
    """One message to one channel at one instant: the unit that is sent exactly once."""

    campaign: str
    id: str  # a post id, or "<livestream id>@<offset>"; "<id>.<language>" in a post in several
    channel: Channel
    at: datetime  # aware, UTC
    timezone: ZoneInfo
    text: str  # rendered for the channel's network (Telegram HTML or Mastodon plain text)
    length: int  # as the network counts it
    limit: int
    language: str  # the first one of a message in several languages together
    media: tuple[Media, ...] = ()
    warning: str | None = None
    # A reminder may not go out after this instant (its livestream's start, or its end
    # for the "start" reminder). None for ordinary posts.
    not_after: datetime | None = None

    @property
    def key(self) -> str:
        """The exactly-once key: campaign, publication id and channel."""
        return f"{self.campaign}/{self.id}/{self.channel.name}"

    @property
    def local_at(self) -> datetime:
        return self.at.astimezone(self.timezone)


@dataclass(frozen=True)
class Campaign:
    slug: str
    source: Path
    timezone: ZoneInfo
    language: str
    hashtags: tuple[str, ...]
    channels: dict[str, Channel]
    grace: timedelta
    acknowledge: bool
    moderation: Moderation
    publications: tuple[Publication, ...] = field(default=())


class CommentState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    FLAGGED = "flagged"


@dataclass(frozen=True)
class Reply:
    """A message a follower posted, as a network reports it (new, or edited)."""

    network: Network
    remote_id: str  # Mastodon: the status id; Telegram: "<chat id>:<message id>"
    text: str  # plain text, never HTML
    created_at: datetime  # aware
    author_id: str  # the network's stable id of the author
    author_handle: str  # "@alice@example.org", "@ana_qc", or "" when the network gives none
    author_name: str
    url: str | None = None
    language: str | None = None
    hashtags: tuple[str, ...] = ()  # lowercase, without "#"
    in_reply_to: str | None = None  # the remote id (same network, same form) it answers
    edited_at: datetime | None = None  # set when this is an edit of a reply already seen
    author_nobot: bool = False  # the author's profile asks bots to leave them alone
    private: bool = False  # a direct message or a non-public status


@dataclass(frozen=True)
class Removal:
    """A reply its author deleted."""

    network: Network
    remote_id: str


@dataclass(frozen=True)
class ForwardLink:
    """Telegram: the copy of a channel post in its discussion group, which comments answer."""

    remote_id: str  # "<group id>:<message id>"
    original: str  # "<channel id>:<message id>" (the receipt of the published post)

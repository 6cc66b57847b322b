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
    id: str  # a post id, or "<livestream id>@<offset>"
    channel: Channel
    at: datetime  # aware, UTC
    timezone: ZoneInfo
    text: str  # rendered for the channel's network (Telegram HTML or Mastodon plain text)
    length: int  # as the network counts it
    limit: int
    language: str
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

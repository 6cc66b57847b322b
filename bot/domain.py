"""The domain: campaigns and the publications they expand into, the replies collected and
what selects them for moderation. Plain objects, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo


class PublicationState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    PUBLISHED = "published"
    FAILED = "failed"
    UNKNOWN = "unknown"
    MISSED = "missed"
    SKIPPED = "skipped"  # a person decided to leave it unpublished (``relais resolve --skip``)


@dataclass(frozen=True)
class Channel:
    """A named target of a campaign: a Telegram chat or a Mastodon account."""

    name: str
    network: str  # a registered network's name (``bot.networks``)
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


class PublicationKey(NamedTuple):
    """The parts of the exactly-once key ``<campaign>/<publication id>/<channel>``
    (``Publication.key``); slugs and ids never hold a "/"."""

    campaign: str
    publication_id: str
    channel: str

    @classmethod
    def parse(cls, key: str) -> PublicationKey:
        campaign, _, rest = key.partition("/")
        publication_id, _, channel = rest.partition("/")
        return cls(campaign, publication_id, channel)

    def __str__(self) -> str:
        return f"{self.campaign}/{self.publication_id}/{self.channel}"


@dataclass(frozen=True)
class Publication:
    """One message to one channel at one instant: the unit that is sent exactly once."""

    campaign: str
    id: str  # a post id, or "<livestream id>@<offset>"; "<id>.<language>" in a post in several
    channel: Channel
    at: datetime  # aware, UTC
    timezone: ZoneInfo
    text: str  # rendered in the text flavour of the channel's network (HTML or plain text)
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
        """The exactly-once key: campaign, publication id and channel (``PublicationKey``)."""
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


class ReasonCode(StrEnum):
    """Why a reply was rejected: a short fixed list (Decidim's, Coral's), plus free text."""

    SPAM = "spam"
    OFF_TOPIC = "off_topic"
    ABUSIVE = "abusive"
    PERSONAL_INFORMATION = "personal_information"
    OTHER = "other"


@dataclass(frozen=True)
class CommentQuery:
    """Which replies: each criterion given narrows the selection."""

    states: tuple[str, ...] = ()  # any of these states
    search: str | None = None  # every word of it, accents aside
    campaign: str | None = None
    network: str | None = None
    language: str | None = None  # "fr" selects "fr" and "fr-CA"
    author: str | None = None  # a handle, as shown, or the network's id of the author
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    reason: str | None = None  # the reason given contains these characters (a flag's: "link")
    # With ``reason``: or contains one of these instead. The desk puts here the words Relais
    # stores for each flag whose name, in the moderator's language, holds what was typed.
    reason_or: tuple[str, ...] = ()
    reason_code: str | None = None  # a rejection's reason code
    decided_by: str | None = None  # the last decision was this moderator's (or "relais")


# The criteria of a ``CommentQuery`` that are text as a person typed it: the moderation
# service makes them storable, and each is a filter option of ``relais comments``.
TEXT_CRITERIA = (
    "search",
    "campaign",
    "network",
    "language",
    "author",
    "reason",
    "reason_code",
    "decided_by",
)


# What no store can hold: NUL (PostgreSQL's text refuses it) and UTF-16 surrogates, which
# a Python str holds only alone (a JSON "\ud800" decodes to one) and no UTF-8 store can encode.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    """``text`` with what no store can hold replaced by U+FFFD, one for one (so Telegram's
    UTF-16 offsets still fall where they did): a moderator sees that something was there."""
    return _UNSTORABLE.sub(REPLACEMENT, text) if _UNSTORABLE.search(text) else text


@dataclass(frozen=True)
class Reply:
    """A message a follower posted, as a network reports it (new, or edited).

    Whatever a network delivers, a Reply can be stored: it is checked and cleaned here, the
    one place every reader builds replies through. Each text field must be a ``str`` (a
    ``TypeError`` otherwise, which readers treat as an unreadable message), and NUL and lone
    surrogates in it become U+FFFD (``storable``).
    """

    network: str
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
    # Telegram: the message its reply thread started from (in a channel's discussion group,
    # the copy of the channel post), which it answers too, however deep in the thread.
    thread: str | None = None

    def __post_init__(self) -> None:
        for name in ("remote_id", "text", "author_id", "author_handle", "author_name"):
            self._clean(name, getattr(self, name), optional=False)
        for name in ("url", "language", "in_reply_to", "thread"):
            self._clean(name, getattr(self, name), optional=True)
        if not isinstance(self.hashtags, tuple) or not all(isinstance(t, str) for t in self.hashtags):
            raise TypeError("Reply.hashtags must be a tuple of str")
        object.__setattr__(self, "hashtags", tuple(storable(t) for t in self.hashtags))
        for name in ("created_at", "edited_at"):
            moment = getattr(self, name)
            if (moment is not None or name == "created_at") and (
                not isinstance(moment, datetime) or moment.tzinfo is None
            ):
                raise TypeError(f"Reply.{name} must be an aware datetime")

    def _clean(self, name: str, value: object, *, optional: bool) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str):
            raise TypeError(f"Reply.{name} must be a str, not {type(value).__name__}")
        cleaned = storable(value)
        if cleaned is not value:
            object.__setattr__(self, name, cleaned)


@dataclass(frozen=True)
class Removal:
    """A reply its author deleted."""

    network: str
    remote_id: str


@dataclass(frozen=True)
class ForwardLink:
    """A copy of a published post that replies answer instead of the post itself (Telegram:
    the automatic forward of a channel post into its discussion group)."""

    remote_id: str  # the copy: "<group id>:<message id>"
    original: str  # the post: "<channel id>:<message id>" (the receipt of the publication)
    network: str
    # What the copy says (``bot.networks.telegram.fingerprint``) and when it was posted: not
    # what a link is (it is equal to the same link read without them).
    fingerprint: str | None = field(default=None, compare=False)
    posted_at: datetime | None = field(default=None, compare=False)  # aware

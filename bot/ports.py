"""The ports: what the services need from a network. The ``Sender`` protocol, which adapters
implement, and the errors they raise. Adapters translate their library's exceptions into
these; the publisher decides what to do (retry, wait, give up, never repeat).

``Adapter`` is what composition needs from a network's adapter package: its sender and its
reader built from the settings, its collecting loop, where its alerts go, its inspector.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from bot.domain import ForwardLink, Publication, Removal, Reply


@dataclass(frozen=True)
class Receipt:
    """What the network says about a message it accepted."""

    remote_id: str
    url: str | None = None


class ChannelError(Exception):
    """A publication did not go through. The message is safe to show: no secret in it."""


class TemporaryError(ChannelError):
    """Nothing was published, or sending again cannot publish twice (a Mastodon retry
    with the same idempotency key): trying again later may work."""


class RateLimited(TemporaryError):
    """The network asked us to wait ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ChannelError):
    """The network refused the publication (a 4xx): trying again would fail the same way."""


class OutcomeUnknown(ChannelError):
    """The request may have reached the network (a timeout or a connection lost after it
    was sent): sending it again could publish it twice."""


class NotConfigured(Exception):
    """A network the campaigns use has no credentials; the message names the settings to set."""


OnWire = Callable[[], Awaitable[None]]
Notify = Callable[[str], Awaitable[object]]  # tells the staff of a publication gone wrong


class Sender(Protocol):
    """One network account (a Telegram bot, a Mastodon account), for every channel on it."""

    async def start(self) -> None:
        """Check the credentials and read what the network's limits are."""
        ...

    async def publish(self, publication: Publication, *, on_wire: OnWire) -> Receipt:
        """Send one publication to its channel, once: no retry in here.

        ``on_wire`` is awaited right before each request that may publish it is written,
        after any wait for the network's rate limits (uploads that publish nothing need
        not call it). Until then the publication is not in doubt, and cancelling
        ``publish`` sends nothing. If ``on_wire`` raises, that request is not written and
        the exception comes out of ``publish`` as it is."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Page:
    """What a collector read in one go, and where to read from next time.

    ``cursor`` is stored in the same transaction as the items, so that a crash between
    the two can neither skip nor double anything. ``more``: another page is ready now.
    """

    items: list[Reply | Removal | ForwardLink]
    cursor: str | None
    more: bool = False


@dataclass(frozen=True)
class StreamEvent:
    """What one of a network's streams said: items to store, that it (re)connected (what it
    missed is to be read from the stored position), or that it is down (``polling``: the
    collector polls instead until it connects again)."""

    stream: str  # "mentions", or a hashtag (lowercase, without "#")
    items: tuple[Reply | Removal, ...] = ()
    connected: bool = False
    down: str | None = None  # why it is down
    polling: bool = False


class Streams(Protocol):
    """A network's live streams, of which the collector reads what they carry."""

    def follow(self, tags: Collection[str]) -> None:
        """Stream the mentions and each of ``tags`` from now on; close the others."""
        ...

    async def next(self, timeout: float) -> list[StreamEvent]:
        """What the streams said since the last call; waits up to ``timeout`` seconds for
        something, [] when nothing came."""
        ...

    async def close(self) -> None: ...


class TimelineSource(Protocol):
    """A network read as timelines: the pages of a hashtag, the mentions of the account, the
    replies under one post, a post looked up again, an account's rate budget, live streams
    (``Collector.run_timelines`` reads it; an adapter whose network works so implements it)."""

    network: str  # the registered name of its network, which the replies it reads are stored under

    async def hashtag_page(self, tag: str, after: str | None, limit: int = 40) -> Page:
        """Public statuses with ``#tag`` newer than ``after`` (a status id; None: from the
        oldest), oldest first; the cursor is the newest id read."""
        ...

    async def mentions_page(self, after: str | None, limit: int = 40) -> Page:
        """Statuses that mention the bot (any visibility), newer than notification ``after``;
        the cursor is a notification id."""
        ...

    async def replies_to(self, status_id: str) -> list[Reply]:
        """Every reply under one of our statuses (its context's descendants)."""
        ...

    async def lookup(self, remote_id: str, *, ask_origin: bool = False) -> Reply | Removal:
        """A status as it is now: edited (``edited_at`` set) or deleted (``Removal``). With
        ``ask_origin``, a remote status the instance still shows is looked up at its origin
        too (its deletion may never have reached the instance)."""
        ...

    def rate_budget(self) -> tuple[int, float] | None:
        """The requests left in the account's rate-limit window and the seconds until it
        starts again, as the last answer said (None before any)."""
        ...

    async def streams(self) -> Streams | None:
        """The account's streams, or None where there are none to read."""
        ...

    async def acknowledge(self, remote_id: str) -> None:
        """Favourite a reply."""
        ...


class UpdatesSource(Protocol):
    """A network read as one feed of updates, long-polled: every new message (and edit)
    where the account is, in order (``Collector.run_updates`` reads it; an adapter whose
    network works so implements it)."""

    network: str  # the registered name of its network, which the replies it reads are stored under

    async def updates(self, offset: str | None, timeout: float) -> Page:
        """New messages (and edits) where the account reads (groups, discussion groups,
        private chats) and the copies of its posts there (``ForwardLink``), after ``offset``;
        long-polls up to ``timeout`` seconds. The cursor is the next offset."""
        ...

    async def acknowledge(self, remote_id: str) -> None:
        """React to a reply (a 👍)."""
        ...


class Source(Protocol):
    """What the reader of every network has, besides what its collecting loop reads with
    (``TimelineSource``, ``UpdatesSource``)."""

    async def start(self) -> None: ...

    async def acknowledge(self, remote_id: str) -> None:
        """Acknowledge an approved reply (a favourite, a reaction)."""
        ...

    async def close(self) -> None: ...


class AlertSender(Protocol):
    """A sender that can also tell a staff chat what went wrong."""

    async def send_alert(self, chat: str | int, text: str) -> Receipt: ...


class Inspector(Protocol):
    """Asks a network questions that publish nothing, for ``relais check``; what it asks is
    its network's (``bot.networks.Profile.check`` takes it)."""

    async def close(self) -> None: ...


class Adapter(Protocol):
    """A network's adapter package (its ``__init__``), as composition uses it; the profile
    names it (``bot.networks.Profile.adapter``). ``settings`` are the bot's settings, of
    which each adapter reads its own; nothing of the network's library is imported before
    ``sender`` or ``reader`` is called."""

    def sender(self, settings: Any) -> Sender:
        """The network's sender; ``NotConfigured`` without its credentials."""
        ...

    def reader(self, settings: Any) -> Source | None:
        """The network's reader, or None without its credentials."""
        ...

    def collect(
        self, collector: Any, source: Any, lock: Any, stop: asyncio.Event
    ) -> Coroutine[Any, Any, None]:
        """The collector's loop over this network's replies, until ``stop``."""
        ...

    def alerts(self, settings: Any, sender: Sender) -> Notify | None:
        """Where the staff is told of publications gone wrong, if through this network."""
        ...

    def inspector(self, settings: Any) -> Inspector:
        """What ``relais check`` asks the network (the facts its profile's ``check`` judges);
        ``NotConfigured`` without its credentials."""
        ...

"""The ports: what the services need from a network. The ``Sender`` protocol, which adapters
implement, and the errors they raise. Adapters translate their library's exceptions into
these; the publisher decides what to do (retry, wait, give up, never repeat)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

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


OnWire = Callable[[], Awaitable[None]]


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


class MastodonSource(Protocol):
    """Where the Mastodon collector reads replies (implemented by the Mastodon adapter)."""

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

    async def lookup(self, remote_id: str) -> Reply | Removal:
        """A status as it is now: edited (``edited_at`` set) or deleted (``Removal``)."""
        ...

    async def acknowledge(self, remote_id: str) -> None:
        """Favourite a reply."""
        ...


class TelegramSource(Protocol):
    """Where the Telegram collector reads replies (implemented by the Telegram adapter)."""

    async def updates(self, offset: str | None, timeout: float) -> Page:
        """New messages (and edits) in groups, discussion groups and private chats, and the
        automatic forwards of channel posts, after ``offset``; long-polls up to
        ``timeout`` seconds. The cursor is the next offset."""
        ...

    async def acknowledge(self, remote_id: str) -> None:
        """React to a reply (a 👍)."""
        ...

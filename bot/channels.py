"""What the services need from a network: the ``Sender`` protocol, which adapters
implement, and the errors they raise. Adapters translate their library's exceptions into
these; the publisher decides what to do (retry, wait, give up, never repeat)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.domain import Publication


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


class Sender(Protocol):
    """One network account (a Telegram bot, a Mastodon account), for every channel on it."""

    async def start(self) -> None:
        """Check the credentials and read what the network's limits are."""
        ...

    async def publish(self, publication: Publication) -> Receipt:
        """Send one publication to its channel, once: no retry in here."""
        ...

    async def close(self) -> None: ...

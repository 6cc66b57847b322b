"""Settling a send in doubt by looking (Telegram, which has no idempotency key).

After a 502/504, a read timeout or a connection lost once the request was written, the post
may or may not be in the channel. Where the channel has a discussion group the bot reads,
Telegram forwards every post of the channel into it (``is_automatic_forward``, with the
channel's message id), and the collector records these copies (``remote_links``). So:

- the copy of the post appears (same text, posted since the attempt): it was published, and
  the copy names its message id;
- no copy within ``DoubtTiming.wait`` while copies are known to arrive for that channel (one
  was seen for an earlier post of it): nothing was posted, it may be sent again;
- no copy was ever seen for that channel (no discussion group, a group, a private chat, the
  bot not in the group or not running its collector): nothing can be told, the publication
  is ``unknown`` as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.domain import Publication
from bot.networks import telegram
from bot.ports import Receipt
from bot.store.handle import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DoubtTiming:
    wait: float = 15.0  # seconds a copy may take to be forwarded, read and stored
    every: float = 0.25  # seconds between two looks at the store
    slack: timedelta = timedelta(minutes=1)  # a copy's time has whole seconds, and clocks differ


@dataclass(frozen=True)
class Seen:
    receipt: Receipt


@dataclass(frozen=True)
class NotSent:
    waited: float


class Doubts:
    def __init__(self, store: Store, clock: Clock, timing: DoubtTiming | None = None) -> None:
        self._store = store
        self._clock = clock
        self.timing = timing or DoubtTiming()

    async def settle(self, publication: Publication, since: datetime) -> Seen | NotSent | None:
        """Whether ``publication``, sent in doubt since ``since``, was published: ``Seen``
        (with its receipt), ``NotSent``, or None when this cannot be told."""
        channel = publication.channel
        if channel.network != telegram.NAME:
            return None
        comments = self._store.comments
        chat = await self._store.run(
            comments.copied_chat, channel.network, publication.campaign, channel.name
        )
        if chat is None:
            return None
        said = telegram.fingerprint(telegram.shown_text(publication.text))
        began = self._clock.now()
        deadline = began + timedelta(seconds=self.timing.wait)
        while True:
            original = await self._store.run(
                comments.copy_of, channel.network, chat, said, since - self.timing.slack
            )
            if original is not None:
                return Seen(Receipt(original, _url(channel.chat, original)))
            now = self._clock.now()
            if now >= deadline:
                return NotSent((now - began).total_seconds())
            await self._clock.sleep_until(min(now + timedelta(seconds=self.timing.every), deadline))


def _url(chat: str | int | None, original: str) -> str | None:
    message = original.rsplit(":", 1)[1]
    if isinstance(chat, str) and chat.startswith("@") and message.isdigit():
        return telegram.message_url(chat[1:], int(message))
    return None

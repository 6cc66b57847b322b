"""Settling a send in doubt by looking, on a network without an idempotency key that copies
each post where the bot reads (``Profile.copy_fingerprint``: Telegram's channels).

After a 502/504, a read timeout or a connection lost once the request was written, the post
may or may not be in the channel. Where the channel has a discussion group the bot reads,
the network forwards every post of the channel into it (``is_automatic_forward``, with the
channel's message id), and the collector records these copies (``remote_links``). So:

- the copy of the post appears (same text, posted since the attempt): it was published, and
  the copy names its message id;
- "not posted" (it may then be sent again) needs positive evidence, both of:
  the copies of this channel are known to arrive, and promptly: the previous post Relais
  published there has its copy, posted at most ``DoubtTiming.prompt`` after that post went on
  the wire and less than ``DoubtTiming.recent`` before this send; and the discussion group
  was read: the network's collector read its updates to the end (``CommentStore.note_read``)
  as the network answered at least ``DoubtTiming.wait`` after the doubt began, and no copy was
  among them;
- anything else (no discussion group, a group, a private chat, copies that stopped coming or
  come late, a collector that could not read, or is not running): nothing can be told, the
  publication is ``unknown`` as before, and the team is alerted.

The collector and the publisher may be two processes: the evidence goes through the store,
and the clocks of the machines are assumed to agree within a second or two (``wait`` is
several times ``prompt``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import networks
from bot.clock import Clock
from bot.domain import Publication
from bot.ports import Receipt
from bot.store.handle import Store

log = logging.getLogger(__name__)
UNREAD = "the discussion group could not be read since (the {network} collector failing, or not running)"


@dataclass(frozen=True)
class DoubtTiming:
    wait: float = 15.0  # seconds a copy may take to be forwarded (several times ``prompt``)
    read_within: float = 12.0  # seconds after ``wait`` for the group to be read (the collector's long poll)
    prompt: float = 5.0  # seconds the previous post's copy may have taken, for its channel's copies to count
    recent: timedelta = timedelta(hours=1)  # how long ago that copy may have come
    every: float = 0.25  # seconds between two looks at the store
    slack: timedelta = timedelta(minutes=1)  # a copy's time has whole seconds, and clocks differ


@dataclass(frozen=True)
class Seen:
    receipt: Receipt


@dataclass(frozen=True)
class NotSent:
    waited: float


@dataclass(frozen=True)
class Unsure:
    """Nothing can be told; ``why`` says what evidence was missing."""

    why: str


class Doubts:
    def __init__(self, store: Store, clock: Clock, timing: DoubtTiming | None = None) -> None:
        self._store = store
        self._clock = clock
        self.timing = timing or DoubtTiming()

    async def settle(self, publication: Publication, since: datetime) -> Seen | NotSent | Unsure | None:
        """Whether ``publication``, sent in doubt since ``since``, was published: ``Seen``
        (with its receipt), ``NotSent``, ``Unsure`` when the evidence for either is missing,
        or None when its channel cannot be looked at."""
        channel = publication.channel
        network = networks.profile(channel.network)
        said = network.copy_fingerprint(publication.text)
        if said is None:
            return None
        comments = self._store.comments
        chat = await self._store.run(
            comments.copied_chat, channel.network, publication.campaign, channel.name
        )
        if chat is None:
            return None
        began = self._clock.now()
        copies_arrive = await self._copies_arrive(channel.network, chat, since)
        deadline = began + timedelta(seconds=self.timing.wait)
        give_up = deadline + timedelta(seconds=self.timing.read_within)
        position = f"{channel.network}:updates"  # its collector's (``Collector._read_updates``)
        while True:
            read = await self._store.run(comments.read_at, position)  # before the copy: see ``note_read``
            original = await self._store.run(
                comments.copy_of, channel.network, chat, said, since - self.timing.slack
            )
            if original is not None:
                return Seen(Receipt(original, network.message_url(channel.chat, original)))
            now = self._clock.now()
            if copies_arrive is None and read is not None and read >= deadline:
                return NotSent((now - began).total_seconds())
            if now >= give_up:
                if copies_arrive is not None:
                    return Unsure(copies_arrive)
                return Unsure(UNREAD.format(network=network.title))
            await self._clock.sleep_until(min(now + timedelta(seconds=self.timing.every), give_up))

    async def _copies_arrive(self, network: str, chat: str, since: datetime) -> str | None:
        """None when the copies of ``chat``'s posts are known to arrive promptly, else why not."""
        last = await self._store.run(self._store.comments.last_copy, network, chat, since)
        if last is None:
            return "no earlier post of this channel tells whether its copies arrive"
        wired, copied = last
        if copied is None:
            return "the copy of the previous post of this channel never arrived in its discussion group"
        if (copied - wired).total_seconds() > self.timing.prompt:
            return "the copies of this channel's posts arrive late in its discussion group"
        if since - copied > self.timing.recent:
            return "no copy of this channel's posts arrived in its discussion group recently"
        return None


"""Acknowledging approved replies: a favourite on Mastodon, a 👍 on Telegram.

An approval queues the acknowledgement in the store (``bot.store.acknowledgements``),
whatever face the moderator used. One worker per network, a task of its own beside the
collectors, sends what is due at its own pace and records each outcome: the collectors
never wait for it, however long the queue. The store looks again when a row's turn
comes: a reply rejected, edited back into review or deleted since its approval, a
#nobot author, or a campaign whose file no longer says ``acknowledge: true`` gets nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import networks
from bot.clock import Clock, wait_until
from bot.domain import Campaign
from bot.ports import ChannelError, PermanentError, RateLimited, Source
from bot.services.backoff import Backoff
from bot.store.acknowledgements import LEASE, Acknowledgement
from bot.store.handle import Store

log = logging.getLogger(__name__)
LONGEST_BACKOFF = 300.0  # seconds, when the store itself fails


@dataclass(frozen=True)
class Pace:
    """How fast one network's acknowledgements go out: ``burst`` back to back after a
    quiet while, then one every ``every`` seconds (a token bucket on the bot's clock)."""

    burst: int
    every: float
    idle: float = 2.0  # seconds between two looks at an empty queue
    lease: timedelta = LEASE
    attempts: int = 8  # temporary failures before giving up on one
    first_retry: float = 30.0  # seconds before trying one again, doubling
    longest_retry: float = 3600.0


class Acknowledger:
    """Sends one network's queued acknowledgements through its reader."""

    def __init__(
        self,
        network: str,
        source: Source,
        store: Store,
        clock: Clock,
        campaigns: Callable[[], Sequence[Campaign]],
        pace: Pace | None = None,
    ) -> None:
        self.network = network
        self.source = source
        self.store = store
        self.queue = store.acknowledgements
        self.clock = clock
        self.campaigns = campaigns
        if pace is None:  # the network's own (its profile says why)
            pacing = networks.profile(network).acknowledgements
            pace = Pace(burst=pacing.burst, every=pacing.every)
        self.pace = pace
        self._tokens = float(self.pace.burst)
        self._counted_at: datetime | None = None
        self._paused_until: datetime | None = None  # the network asked us to wait

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: send what is due, at this network's pace."""
        backoff = Backoff(1.0, LONGEST_BACKOFF)
        recovered = False
        while not stop.is_set():
            try:
                if not recovered:
                    if taken := await self.store.run(self.queue.recover, self.clock.now()):
                        log.info(
                            "%s: %d acknowledgement(s) left by a stopped run are due again",
                            self.network,
                            taken,
                        )
                    recovered = True
                when = await self.step()
                backoff.succeeded()
            except Exception:  # the store, or a bug: never let the worker die silently
                wait = backoff.failed()
                log.exception(
                    "%s acknowledgements: unexpected error; trying again in %.0f s", self.network, wait
                )
                when = self.clock.now() + timedelta(seconds=wait)
            await wait_until(self.clock, when, stop)

    async def step(self) -> datetime:
        """Send at most one due acknowledgement; return when to call again."""
        now = self.clock.now()
        if self._paused_until is not None and now < self._paused_until:
            return self._paused_until
        ready = self._ready_at(now)
        if ready > now:
            return ready
        acknowledging = {c.slug for c in self.campaigns() if c.acknowledge}
        ack = await self.store.run(self.queue.claim, self.network, now, self.pace.lease, acknowledging)
        if ack is None:
            return now + timedelta(seconds=self.pace.idle)
        self._tokens -= 1
        await self._send(ack)
        now = self.clock.now()
        return max(now, self._paused_until) if self._paused_until else now

    def _ready_at(self, now: datetime) -> datetime:
        """When the bucket holds a token again (refilling it up to ``now``)."""
        if self._counted_at is not None:
            elapsed = max((now - self._counted_at).total_seconds(), 0.0)
            self._tokens = min(float(self.pace.burst), self._tokens + elapsed / self.pace.every)
        self._counted_at = now
        missing = 1.0 - self._tokens
        if missing <= 1e-9:
            return now
        return now + timedelta(seconds=missing * self.pace.every)

    async def _send(self, ack: Acknowledgement) -> None:
        try:
            await self.source.acknowledge(ack.remote_id)
        except RateLimited as error:
            until = self.clock.now() + timedelta(seconds=error.retry_after)
            self._paused_until = until
            log.warning(
                "%s: acknowledgements paused %.0f s, as the network asks", self.network, error.retry_after
            )
            await self.store.run(self.queue.retry, ack, until, str(error), counted=False)
        except PermanentError as error:
            log.warning("%s: reply %d cannot be acknowledged: %s", self.network, ack.comment_id, error)
            await self.store.run(self.queue.fail, ack, str(error))
        except ChannelError as error:  # temporary, or in doubt: acknowledging again is harmless
            tries = ack.attempts + 1
            if tries >= self.pace.attempts:
                log.warning("%s: gave up acknowledging reply %d: %s", self.network, ack.comment_id, error)
                await self.store.run(self.queue.fail, ack, f"gave up after {tries} attempts: {error}")
                return
            delay = min(self.pace.first_retry * 2 ** (tries - 1), self.pace.longest_retry)
            log.info(
                "%s: acknowledging reply %d failed (%s); trying again in %.0f s",
                self.network,
                ack.comment_id,
                error,
                delay,
            )
            until = self.clock.now() + timedelta(seconds=delay)
            await self.store.run(self.queue.retry, ack, until, str(error))
        else:
            await self.store.run(self.queue.sent, ack, self.clock.now())
            log.info("%s: acknowledged reply %d", self.network, ack.comment_id)

"""What a running bot says about itself: its heartbeat in the store, and the alerts no
single publication raises — the bot starting again after being down past a publication's
time, and publishing that stalls."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Collection, Iterable
from datetime import timedelta

from bot.clock import Clock, wait_until
from bot.domain import Publication
from bot.ports import ChannelError, Notify
from bot.services.alerts import down_text, stall_text
from bot.store.handle import Store
from bot.store.heartbeat import BEAT_SECONDS, Beat, Heartbeat

log = logging.getLogger(__name__)

STALL_AFTER = timedelta(minutes=5)  # a due publication not sent by then is stuck


class Watchdog:
    """Beats this process's heartbeat every ``every`` seconds and looks for publications due
    over ``stall_after`` ago that are still not sent, among the ``current`` ones (keys of
    the campaigns now loaded): told once per stall, again only after it cleared."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        notify: Notify | None,
        current: Callable[[], Collection[str]],
        *,
        every: float = BEAT_SECONDS,
        stall_after: timedelta = STALL_AFTER,
    ) -> None:
        self.store = store
        self.clock = clock
        self.notify = notify
        self.current = current
        self.every = every
        self.stall_after = stall_after
        self.heart = Heartbeat(store.engine, store.owner)
        self._stalled = False
        self._store_away = False

    async def start(self, publications: Iterable[Publication]) -> Beat | None:
        """Record that this process runs; if the bot was down while ``publications`` came
        due, tell the alert chat. Returns the beat of the process before."""
        now = self.clock.now()
        previous = await self.store.run(self.heart.start, now, socket.gethostname(), os.getpid())
        if previous is not None and not previous.alive(now):
            during = sorted(
                {p.key: p for p in publications if previous.gone_at < p.at <= now}.values(),
                key=lambda p: (p.at, p.key),
            )
            if during:
                text = down_text(previous, now, [p.key for p in during])
                log.warning("%s", text)
                await self._tell(text)
        return previous

    async def run(self, stop: asyncio.Event) -> None:
        """Beat and watch until ``stop``."""
        while not stop.is_set():
            await wait_until(self.clock, self.clock.now() + timedelta(seconds=self.every), stop)
            if stop.is_set():
                return
            try:
                await self.store.run(self.heart.beat, self.clock.now())
                await self.check()
            except Exception as error:
                if not self._store_away:
                    log.warning(
                        "cannot beat the heartbeat: the store is unreachable (%s)", type(error).__name__
                    )
                self._store_away = True
            else:
                self._store_away = False

    async def check(self) -> bool:
        """Whether publishing is stalled now; the alert chat is told when a stall begins."""
        now = self.clock.now()
        current = set(self.current())
        rows = [
            r
            for r in await self.store.run(self.store.ledger.stalled, now - self.stall_after)
            if r.key in current
        ]
        if rows and not self._stalled:
            text = stall_text(rows, now)
            log.error("%s", text)
            await self._tell(text)
        elif not rows and self._stalled:
            log.info("publishing goes on again")
        self._stalled = bool(rows)
        return self._stalled

    async def stop(self) -> None:
        await self.store.run(self.heart.stop, self.clock.now())

    async def _tell(self, text: str) -> None:
        if self.notify is None:
            return
        try:
            await self.notify(text)
        except ChannelError as error:
            log.error("could not tell the alert chat: %s", error)

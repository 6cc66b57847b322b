"""Tell the team's alert chat of each publication that failed, is in doubt or was missed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.clock import Clock
from bot.ports import ChannelError
from bot.store.handle import Store
from bot.store.ledger import Row

log = logging.getLogger(__name__)

_WHAT = {
    "failed": "was not published",
    "unknown": "may or may not have been published (not sent again)",
    "missed": "was missed",
}


def alert_text(row: Row) -> str:
    what = _WHAT.get(row.state, row.state)
    when = row.due_at.strftime("%Y-%m-%d %H:%M UTC")
    reason = f"\n{row.last_error}" if row.last_error else ""
    return f"Relais: {row.publication_id} ({row.campaign}) {what} on {row.channel}, due {when}.{reason}"


class Alerts:
    """Each row is reported at most once: the ledger marks it before the message is sent."""

    def __init__(self, store: Store, clock: Clock, notify: Callable[[str], Awaitable[object]]) -> None:
        self.store = store
        self.clock = clock
        self.notify = notify

    async def flush(self) -> None:
        for row in await self.store.run(self.store.ledger.take_alerts, self.clock.now()):
            try:
                await self.notify(alert_text(row))
            except ChannelError as error:
                log.error("could not send the alert for %s: %s", row.key, error)

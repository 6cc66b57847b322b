"""Tell the team's alert chat of each publication that failed, is in doubt or was missed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from bot.clock import Clock
from bot.ports import ChannelError
from bot.problems import Problem
from bot.store.handle import Store
from bot.store.heartbeat import Beat
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


_SHOWN = 10  # keys or problems named in one alert; the rest counted


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _listed(items: Sequence[str]) -> str:
    shown = "\n".join(f"- {item}" for item in items[:_SHOWN])
    more = len(items) - _SHOWN
    return shown + (f"\n… and {more} more" if more > 0 else "")


def down_text(previous: Beat, now: datetime, keys: Sequence[str]) -> str:
    """The bot starts again after being down while publications came due."""
    return (
        f"Relais: the bot was not running from {_utc(previous.gone_at)} (last on {previous.host}) "
        f"to {_utc(now)}; {len(keys)} publication(s) came due meanwhile (sent now if within their "
        f"grace period, else missed: see relais status):\n{_listed(keys)}"
    )


def stall_text(rows: Sequence[Row], now: datetime) -> str:
    """Publications due for a while and still not sent."""
    oldest = rows[0]
    minutes = int((now - oldest.due_at).total_seconds() // 60)
    return (
        f"Relais: publishing is stalled: {len(rows)} publication(s) due and not sent, the oldest "
        f"{oldest.key} for {minutes} min (due {_utc(oldest.due_at)}). Check the bot's log and "
        f"relais check:\n{_listed([r.key for r in rows])}"
    )


def invalid_text(source: str, problems: Sequence[Problem]) -> str:
    """A campaign file changed and no longer validates: its last good version keeps running."""
    return (
        f"Relais: {source} no longer validates; its last good version keeps running until it is "
        f"fixed ({len(problems)} problem(s)):\n{_listed([str(p) for p in problems])}"
    )


def resolution_text(key: str, action: str, actor: str, reason: str | None, outcome: str) -> str:
    """A person settled a publication with ``relais resolve``."""
    why = f" ({reason})" if reason else ""
    return f"Relais: {key} {action} by {actor}{why}: {outcome}."


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

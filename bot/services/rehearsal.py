"""Play publications in time order on a clock: the rehearsal of ``relais run --dry-run``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from bot.channels import Sender
from bot.clock import Clock
from bot.domain import Publication


async def rehearse(
    publications: Iterable[Publication],
    clock: Clock,
    sender_for: Callable[[Publication], Sender],
    *,
    start: datetime,
) -> int:
    """Send every publication due at or after ``start`` when the clock reaches it.

    A reminder whose livestream has already started by its time is skipped, as the
    real bot would. Returns how many publications were sent.
    """
    sent = 0
    for publication in sorted(publications, key=lambda p: (p.at, p.campaign, p.id, p.channel.name)):
        if publication.at < start:
            continue
        await clock.sleep_until(publication.at)
        if publication.not_after is not None and clock.now() > publication.not_after:
            continue
        await sender_for(publication).publish(publication)
        sent += 1
    return sent

"""Settling what needs a person (``relais resolve``): a publication in doubt, failed or
missed is recorded as published, left unpublished, or sent again.

Sending again goes through the ledger like any send: the row goes back to ``pending``
(``Ledger.resolve``), then whichever process claims it first sends it — the command itself
(``send_again``) or a ``relais run`` on the same store — never both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta

from bot.clock import Clock
from bot.domain import Campaign, PublicationState
from bot.ports import Sender
from bot.store.handle import Store
from bot.store.ledger import Ledger, Resolution, Row

OUTCOME_WAIT = timedelta(seconds=60)  # how long the command waits for a running bot's send
UNSETTLED = (PublicationState.PENDING.value, PublicationState.SENDING.value)


def outcome(row: Row) -> str:
    """What became of a row, in a few words."""
    if row.state == PublicationState.PUBLISHED:
        return f"published {row.remote_url or row.remote_id or ''}".rstrip()
    if row.state in UNSETTLED:
        return "not sent yet"
    return f"{row.state}: {row.last_error}" if row.last_error else str(row.state)


def action_words(action: Resolution) -> str:
    return {
        Resolution.PUBLISHED: "marked published",
        Resolution.SKIP: "left unpublished",
        Resolution.RESEND: "sent again",
    }[action]


async def send_again(
    store: Store,
    senders: Mapping[str, Sender],
    clock: Clock,
    campaigns: Sequence[Campaign],
    keys: Iterable[str],
) -> dict[str, Row]:
    """Send the rows a person asked to send again (already ``pending`` with ``resend``) with
    this process's own publisher, and wait for their outcome."""
    from bot.services.publisher import Publisher  # loaded only to send: `relais status` stays light

    wanted = list(keys)
    publisher = Publisher(store, senders, clock)
    await publisher.load(campaigns, clock.now())
    await publisher.resend(wanted)
    await publisher.drain()
    await publisher.stop()
    rows = await store.run(store.ledger.rows, wanted)
    if any(r.state in UNSETTLED for r in rows.values()):  # another process claimed it first
        rows = await wait_for_outcome(store.ledger, clock, wanted)
    return rows


async def wait_for_outcome(
    ledger: Ledger, clock: Clock, keys: Sequence[str], poll: float = 0.5
) -> dict[str, Row]:
    """The rows once none is pending or sending any more (sent by another process), or as
    they are after ``OUTCOME_WAIT``."""
    deadline = clock.now() + OUTCOME_WAIT
    while True:
        rows = await asyncio.to_thread(ledger.rows, list(keys))
        if all(r.state not in UNSETTLED for r in rows.values()) or clock.now() >= deadline:
            return rows
        await asyncio.sleep(poll)

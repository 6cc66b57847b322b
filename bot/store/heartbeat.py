"""The heartbeat of each ``relais run`` process: who runs where since when, last seen when.

A running bot beats every ``BEAT_SECONDS`` on its own clock; a row not beaten for
``STALE_AFTER`` belongs to a process that is gone (killed, frozen, cut off from the store)
even if it never said it stopped. Read by ``relais status`` and ``relais check --alive``,
and by a starting bot to learn how long the bot was down.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select, update

from bot.store.records import BEATS_SHOWN, Beat
from bot.store.schema import heartbeats as table

BEAT_SECONDS = 10.0
KEPT = timedelta(days=90)  # rows of processes gone longer ago are dropped at the next start


class Heartbeat:
    """This process's row."""

    def __init__(self, engine: Engine, owner: str) -> None:
        self.engine = engine
        self.owner = owner

    def start(self, now: datetime, host: str, pid: int) -> Beat | None:
        """Record that this process runs; returns the latest beat of the processes before it
        (None on a store where no bot ran yet)."""
        with self.engine.begin() as connection:
            before = _latest(connection, self.owner)
            connection.execute(table.delete().where(table.c.owner == self.owner))  # started again
            connection.execute(table.delete().where(table.c.seen_at < now - KEPT))
            connection.execute(
                table.insert().values(
                    owner=self.owner, host=host[:255], pid=pid, started_at=now, seen_at=now, stopped_at=None
                )
            )
        return before

    def beat(self, now: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(table).where(table.c.owner == self.owner).values(seen_at=now))

    def stop(self, now: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(table).where(table.c.owner == self.owner).values(seen_at=now, stopped_at=now)
            )


def beats(engine: Engine, limit: int = BEATS_SHOWN) -> list[Beat]:
    """The most recently seen processes first."""
    with engine.connect() as connection:
        rows = connection.execute(select(table).order_by(table.c.seen_at.desc()).limit(limit)).mappings()
        return [Beat(**{f: r[f] for f in Beat.__dataclass_fields__}) for r in rows]


def _latest(connection: Connection, other_than: str) -> Beat | None:
    query = select(table).where(table.c.owner != other_than).order_by(table.c.seen_at.desc()).limit(1)
    row = connection.execute(query).mappings().first()
    return None if row is None else Beat(**{f: row[f] for f in Beat.__dataclass_fields__})

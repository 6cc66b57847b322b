"""The acknowledgement queue: a favourite (Mastodon) or a 👍 (Telegram) owed to a reply a
moderator approved, sent by the worker of ``bot.services.acknowledgements``.

One row per reply, ever; it goes with the reply when its author deletes it::

    approval ──▶ queued ──claim──▶ queued, owner set, next_at = end of the claim
                   ▲  ▲                ├──▶ sent      the network took it
                   │  └─ retry later ──┤              (a temporary error, a rate limit)
                   │                   ├──▶ failed    refused, or too many attempts (reason kept)
                   └─ approved again ──┴──▶ skipped   looked at when its turn came: no longer
                                                      approved, a #nobot author, or a campaign
                                                      without ``acknowledge: true``

A row is queued in the same transaction as the approval (``enqueue``, called by the
moderation service whatever face the moderator used), unless the author is #nobot or
the reply was acknowledged already. Approving a reply again queues it again only if it
was skipped, so nothing goes out twice. A claim is a lease: the row of a worker that died
is due again once its ``next_at`` passes (sending it again is harmless: a second
favourite, or the same reaction set again, changes nothing). Claims use
``FOR UPDATE SKIP LOCKED`` on PostgreSQL and a conditional UPDATE everywhere, so the
processes sharing a store share the queue.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, literal, select, update

from bot.domain import CommentState
from bot.store.records import FAILED, QUEUED, SENT, SKIPPED, STATES
from bot.store.schema import UTCDateTime, comments
from bot.store.schema import acknowledgements as table

# How long a claim holds a row: far longer than one request takes (its timeout, and the
# adapter's own pacing), short enough that a dead worker's row is not left for long.
LEASE = timedelta(minutes=2)
_BATCH = 50
_CHUNK = 500


@dataclass(frozen=True)
class Acknowledgement:
    """A row claimed for sending."""

    id: int
    comment_id: int
    network: str
    remote_id: str
    attempts: int  # made before this one


@dataclass(frozen=True)
class Entry:
    """A row as it stands, for reports and tests."""

    comment_id: int
    network: str
    remote_id: str
    state: str
    attempts: int
    queued_at: datetime
    next_at: datetime
    sent_at: datetime | None
    last_error: str | None


def enqueue(connection: Connection, comment_ids: Iterable[int], now: datetime) -> None:
    """Queue an acknowledgement for each of these replies, just approved, in the caller's
    transaction: not for a #nobot author, not twice (a skipped one is queued again)."""
    ids = list(comment_ids)
    for chunk in (ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)):
        connection.execute(
            update(table)
            .where(table.c.comment_id.in_(chunk), table.c.state == SKIPPED)
            .values(state=QUEUED, next_at=now, owner=None, attempts=0, last_error=None)
        )
        when = literal(now, UTCDateTime())
        rows = select(
            comments.c.id, comments.c.network, comments.c.remote_id, literal(QUEUED), when, when, literal(0)
        ).where(
            comments.c.id.in_(chunk),
            comments.c.author_nobot.is_(False),
            comments.c.acknowledged_at.is_(None),
        )
        columns = ["comment_id", "network", "remote_id", "state", "queued_at", "next_at", "attempts"]
        connection.execute(
            _insert(connection)
            .from_select(columns, rows)
            .on_conflict_do_nothing(index_elements=["comment_id"])
        )


class AcknowledgementQueue:
    def __init__(self, engine: Engine, owner: str) -> None:
        self.engine = engine
        self.owner = owner  # this process (claims are marked with it)

    def claim(
        self, network: str, now: datetime, lease: timedelta, acknowledging: Collection[str]
    ) -> Acknowledgement | None:
        """The next due acknowledgement of ``network``, held for ``lease``; or None.

        Rows it comes across that must not be sent any more are marked ``skipped``, with
        why: their reply is no longer approved, or its campaign is not among the
        ``acknowledging`` ones (those whose file says ``acknowledge: true`` now)."""
        with self.engine.begin() as connection:
            while True:
                rows = connection.execute(
                    select(
                        table.c.id,
                        table.c.comment_id,
                        table.c.remote_id,
                        table.c.attempts,
                        comments.c.state,
                        comments.c.author_nobot,
                        comments.c.campaign,
                    )
                    .join_from(table, comments, table.c.comment_id == comments.c.id)
                    .where(table.c.network == str(network), table.c.state == QUEUED, table.c.next_at <= now)
                    .order_by(table.c.next_at, table.c.id)
                    .limit(_BATCH)
                    .with_for_update(of=table, skip_locked=True)
                ).all()
                if not rows:
                    return None
                for row in rows:
                    reason = _why_not(row.state, row.author_nobot, row.campaign, acknowledging)
                    if reason is not None:
                        connection.execute(
                            update(table)
                            .where(table.c.id == row.id, table.c.state == QUEUED)
                            .values(state=SKIPPED, owner=self.owner, last_error=reason)
                        )
                        continue
                    taken = connection.execute(
                        update(table)
                        .where(table.c.id == row.id, table.c.state == QUEUED, table.c.next_at <= now)
                        .values(owner=self.owner, next_at=now + lease)
                    ).rowcount
                    if taken:
                        return Acknowledgement(
                            row.id, row.comment_id, str(network), row.remote_id, row.attempts
                        )

    def sent(self, ack: Acknowledgement, now: datetime) -> None:
        """The network took it (whoever holds the claim now: it need not go again)."""
        with self.engine.begin() as connection:
            done = connection.execute(
                update(table)
                .where(table.c.id == ack.id, table.c.state == QUEUED)
                .values(state=SENT, sent_at=now, attempts=table.c.attempts + 1, last_error=None)
            ).rowcount
            if done:
                connection.execute(
                    update(comments).where(comments.c.id == ack.comment_id).values(acknowledged_at=now)
                )

    def retry(self, ack: Acknowledgement, when: datetime, error: str, *, counted: bool = True) -> None:
        """Try again at ``when``; ``counted``: the attempt counts towards giving up (a rate
        limit does not: the reply is not the problem)."""
        with self.engine.begin() as connection:
            connection.execute(
                update(table)
                .where(table.c.id == ack.id, table.c.state == QUEUED, table.c.owner == self.owner)
                .values(next_at=when, last_error=error, attempts=table.c.attempts + int(counted))
            )

    def fail(self, ack: Acknowledgement, error: str) -> None:
        """Give up on it, saying why."""
        with self.engine.begin() as connection:
            connection.execute(
                update(table)
                .where(table.c.id == ack.id, table.c.state == QUEUED, table.c.owner == self.owner)
                .values(state=FAILED, last_error=error, attempts=table.c.attempts + 1)
            )

    def recover(self, now: datetime) -> int:
        """At start: on SQLite, which serves one process, a claim by another owner was a
        previous run's, and its row is due at once rather than when the claim lapses. On
        PostgreSQL the other owner may be alive: its claims lapse in their time."""
        if self.engine.dialect.name == "postgresql":
            return 0
        with self.engine.begin() as connection:
            return connection.execute(
                update(table)
                .where(
                    table.c.state == QUEUED,
                    table.c.owner.is_not(None),
                    table.c.owner != self.owner,
                    table.c.next_at > now,
                )
                .values(owner=None, next_at=now)
            ).rowcount

    def counts(self) -> dict[str, int]:
        """How many rows are in each state (every state, zeros included)."""
        with self.engine.connect() as connection:
            found: dict[str, int] = dict(
                connection.execute(select(table.c.state, func.count()).group_by(table.c.state)).all()
            )
        return {state: found.get(state, 0) for state in STATES}

    def entries(self) -> list[Entry]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(*(table.c[name] for name in Entry.__dataclass_fields__)).order_by(table.c.id)
            ).all()
        return [Entry(*row) for row in rows]


def _why_not(state: str, nobot: bool, campaign: str | None, acknowledging: Collection[str]) -> str | None:
    if state != CommentState.APPROVED:
        return f"the reply was {state} before its turn came"
    if nobot:
        return "its author asks bots to leave them alone (#nobot)"
    if campaign not in acknowledging:
        return f"its campaign ({campaign or 'none'}) has acknowledge: false, or is no longer loaded"
    return None


def _insert(connection: Connection) -> Any:
    """An INSERT that can skip rows already there (both dialects say ON CONFLICT)."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # (imported for PostgreSQL only: 15 ms)

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)

"""The publication ledger: what was published, where, and what is in doubt.

One row per (campaign, publication id, channel). A row moves from ``pending`` to
``sending`` when a process claims it (committed *before* the network is called), then to
``published``, ``failed`` or ``unknown``; ``missed`` when it came due too long ago.
Claims use ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL and a conditional
``UPDATE … WHERE state = 'pending'`` everywhere, so two processes never both send a row.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO

from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.domain import Network, Publication, PublicationState
from bot.store.schema import publications as table

PENDING = PublicationState.PENDING.value
SENDING = PublicationState.SENDING.value
ALERTED_STATES = (
    PublicationState.FAILED.value,
    PublicationState.UNKNOWN.value,
    PublicationState.MISSED.value,
)
# A Mastodon server remembers an idempotency key for about an hour: a send interrupted
# less than this long ago is safely retried with the same key.
MASTODON_IDEMPOTENCY_WINDOW = timedelta(minutes=50)
_CHUNK = 500


class StoreInUse(Exception):
    """Another process already runs on this SQLite store."""


@dataclass(frozen=True)
class Row:
    key: str
    campaign: str
    publication: str
    channel: str
    network: str
    due_at: datetime
    state: str
    attempts: int
    remote_id: str | None
    remote_url: str | None
    last_error: str | None
    finished_at: datetime | None


class Ledger:
    def __init__(self, engine: Engine, owner: str) -> None:
        self.engine = engine
        self.owner = owner
        self._postgres = engine.dialect.name == "postgresql"
        self._liveness: Connection | None = None
        self._lock_file: TextIO | None = None

    # -- this process --------------------------------------------------------------

    def register(self) -> None:
        """Announce this process: on PostgreSQL it holds an advisory lock named after its
        owner id for as long as it lives, which is how others tell it is still alive. An
        SQLite store serves one process: a lock file next to it keeps a second one out.
        Raises ``StoreInUse``."""
        if self._postgres and self._liveness is None:
            self._liveness = self.engine.connect()
            self._liveness.detach()  # closing it must end the session, not pool it with its lock
            self._liveness.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _lock_id(self.owner)})
            self._liveness.commit()
        database = self.engine.url.database
        if not self._postgres and database not in (None, "", ":memory:") and self._lock_file is None:
            import fcntl  # POSIX; the bot runs on Linux

            handle = open(f"{database}.lock", "a")  # noqa: SIM115 - held open for the process's life
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise StoreInUse(
                    f"another relais run uses {database}; an SQLite store serves one process "
                    "(use PostgreSQL to run several)"
                ) from None
            self._lock_file = handle

    def close(self) -> None:
        if self._liveness is not None:
            self._liveness.close()
            self._liveness = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _alive(self, connection: Connection, owner: str | None) -> bool:
        if owner is None or owner == self.owner:
            return owner == self.owner
        if not self._postgres:
            return False  # SQLite serves one process: any other owner is a previous run
        got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_id(owner)}).scalar()
        if got:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_id(owner)})
        return not got

    # -- keeping the ledger in step with the campaign files ------------------------

    def sync(self, pubs: Iterable[Publication], now: datetime) -> dict[str, Row]:
        """Add a pending row for each new publication, move the due time of pending ones
        that were rescheduled, and return every row of these publications by key."""
        wanted = {p.key: p for p in pubs}
        with self.engine.begin() as connection:
            existing = self._rows(connection, list(wanted))
            new = [
                {
                    "key": p.key,
                    "campaign": p.campaign,
                    "publication": p.id,
                    "channel": p.channel.name,
                    "network": p.channel.network.value,
                    "due_at": p.at,
                    "state": PENDING,
                    "attempts": 0,
                    "updated_at": now,
                }
                for key, p in wanted.items()
                if key not in existing
            ]
            for chunk in _chunks(new):  # another process may add the same rows at the same time
                connection.execute(
                    _insert_new(connection).on_conflict_do_nothing(index_elements=["key"]), chunk
                )
            for key, row in existing.items():
                if row.state == PENDING and row.due_at != wanted[key].at:
                    connection.execute(
                        update(table)
                        .where(table.c.key == key, table.c.state == PENDING)
                        .values(due_at=wanted[key].at, updated_at=now)
                    )
            return self._rows(connection, list(wanted))

    def rows(self, keys: Sequence[str] | None = None) -> dict[str, Row]:
        with self.engine.connect() as connection:
            return self._rows(connection, keys)

    def _rows(self, connection: Connection, keys: Sequence[str] | None) -> dict[str, Row]:
        found: dict[str, Row] = {}
        queries = (
            [select(table)]
            if keys is None
            else [select(table).where(table.c.key.in_(chunk)) for chunk in _chunks(list(keys))]
        )
        for query in queries:
            for r in connection.execute(query).mappings():
                found[r["key"]] = Row(**{f: r[f] for f in Row.__dataclass_fields__})
        return found

    # -- sending ------------------------------------------------------------------

    def claim(self, keys: Sequence[str], now: datetime) -> list[str]:
        """Take the pending rows among ``keys`` for this process; return the keys taken.
        Rows another process is claiming at the same moment are skipped, not waited for."""
        taken: list[str] = []
        with self.engine.begin() as connection:
            for chunk in _chunks(list(keys)):
                # due_at: a process whose campaign files are older than the store's
                # (another process moved the post later) must not send it early.
                candidates = (
                    select(table.c.id)
                    .where(table.c.key.in_(chunk), table.c.state == PENDING, table.c.due_at <= now)
                    .with_for_update(skip_locked=True)
                )
                ids = list(connection.execute(candidates).scalars())
                if not ids:
                    continue
                result = connection.execute(
                    update(table)
                    .where(table.c.id.in_(ids), table.c.state == PENDING)
                    .values(state=SENDING, owner=self.owner, claimed_at=now, updated_at=now)
                    .returning(table.c.key)
                )
                taken.extend(result.scalars())
        return taken

    def attempt(self, key: str, now: datetime) -> None:
        """Count one more attempt of a row this process is sending."""
        with self.engine.begin() as connection:
            connection.execute(
                update(table)
                .where(table.c.key == key, table.c.owner == self.owner, table.c.state == SENDING)
                .values(attempts=table.c.attempts + 1, updated_at=now)
            )

    def note_error(self, key: str, error: str) -> None:
        """Why the last attempt of a row this process is sending failed."""
        with self.engine.begin() as connection:
            connection.execute(
                update(table)
                .where(table.c.key == key, table.c.owner == self.owner, table.c.state == SENDING)
                .values(last_error=error)
            )

    def finish(
        self,
        key: str,
        state: PublicationState,
        now: datetime,
        *,
        remote_id: str | None = None,
        remote_url: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Record the outcome of a send this process claimed."""
        with self.engine.begin() as connection:
            result = connection.execute(
                update(table)
                .where(table.c.key == key, table.c.owner == self.owner, table.c.state == SENDING)
                .values(
                    state=state.value,
                    remote_id=remote_id,
                    remote_url=remote_url,
                    last_error=error,
                    finished_at=now,
                    updated_at=now,
                )
            )
            return result.rowcount == 1

    def miss(self, key: str, now: datetime, reason: str) -> str | None:
        """Close a pending publication that came due too long ago: ``missed``, or ``unknown``
        when an earlier process had already tried to send it (a Mastodon post recovered
        after a crash may be online). Returns the state given, or None if not pending."""
        with self.engine.begin() as connection:
            row = connection.execute(
                select(table.c.attempts).where(table.c.key == key, table.c.state == PENDING)
            ).first()
            if row is None:
                return None
            state, reason = (
                (PublicationState.UNKNOWN.value, f"{reason}; an earlier attempt may have published it")
                if row.attempts
                else (PublicationState.MISSED.value, reason)
            )
            result = connection.execute(
                update(table)
                .where(table.c.key == key, table.c.state == PENDING)
                .values(state=state, last_error=reason, finished_at=now, updated_at=now)
            )
            return state if result.rowcount == 1 else None

    def release(self, key: str, now: datetime, error: str) -> bool:
        """Give back a row this process claimed but did not send (nothing reached the
        network): the next start sends it, if it is still within its grace period."""
        with self.engine.begin() as connection:
            result = connection.execute(
                update(table)
                .where(table.c.key == key, table.c.owner == self.owner, table.c.state == SENDING)
                .values(state=PENDING, owner=None, last_error=error, updated_at=now)
            )
            return result.rowcount == 1

    def recover(self, now: datetime) -> list[Row]:
        """Deal with rows left ``sending`` by processes that died in the middle of a send.

        Telegram has no idempotency: such a message may have arrived, so it becomes
        ``unknown`` and is never sent again. A Mastodon post goes back to ``pending`` (the
        retry carries the same idempotency key) unless the server may have forgotten the key.
        """
        with self.engine.begin() as connection:
            stuck = connection.execute(
                select(table.c.key, table.c.owner, table.c.network, table.c.claimed_at)
                .where(table.c.state == SENDING)
                .with_for_update(skip_locked=True)
            ).all()
            owners = {owner: self._alive(connection, owner) for owner in {s.owner for s in stuck}}
            for key, owner, network, claimed_at in stuck:
                if owners[owner]:
                    continue
                retry = (
                    network == Network.MASTODON.value
                    and claimed_at is not None
                    and now - claimed_at < MASTODON_IDEMPOTENCY_WINDOW
                )
                values = (
                    {"state": PENDING, "owner": None}
                    if retry
                    else {
                        "state": PublicationState.UNKNOWN.value,
                        "finished_at": now,
                        "last_error": "the bot stopped while sending it; the network cannot tell whether "
                        "it arrived, so it is not sent again",
                    }
                )
                connection.execute(
                    update(table)
                    .where(table.c.key == key, table.c.state == SENDING)
                    .values(updated_at=now, **values)
                )
            changed_keys = [s.key for s in stuck if not owners[s.owner]]
            return list(self._rows(connection, changed_keys).values())

    # -- alerts and status ----------------------------------------------------------

    def take_alerts(self, now: datetime) -> list[Row]:
        """Rows that went wrong and were not yet reported, marked reported (at most once)."""
        with self.engine.begin() as connection:
            ids = list(
                connection.execute(
                    select(table.c.id)
                    .where(table.c.state.in_(ALERTED_STATES), table.c.alerted_at.is_(None))
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if not ids:
                return []
            keys = list(
                connection.execute(
                    update(table)
                    .where(table.c.id.in_(ids), table.c.alerted_at.is_(None))
                    .values(alerted_at=now)
                    .returning(table.c.key)
                ).scalars()
            )
            return list(self._rows(connection, keys).values())

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            return dict(connection.execute(select(table.c.state, func.count()).group_by(table.c.state)).all())


def _insert_new(connection: Connection) -> Any:
    """An INSERT that can skip rows whose key exists (both dialects say ON CONFLICT)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _lock_id(owner: str) -> int:
    """A stable 63-bit advisory lock id for an owner id."""
    return zlib.crc32(b"relais-owner:" + owner.encode()) << 31 | zlib.crc32(owner.encode()) >> 1


def _chunks(items: list, size: int = _CHUNK) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]

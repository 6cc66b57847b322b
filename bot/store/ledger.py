"""The publication ledger: what was published, where, and what is in doubt.

One row per (campaign, publication id, channel). Its states::

    pending --claim--> sending --finish--> published | failed | unknown | missed
       ^                  |
       +-- release -------+   (stopping: nothing of this send is on the wire)
       +-- recover -------+   (its process died, or its task is gone: nothing was sent, or a
                               retry is safe under the same idempotency key)
    pending --miss--> missed | unknown      (came due too long ago)

    unknown | failed | missed --resolve--> published   (a person saw it go out)
                                      --> skipped     (a person leaves it unpublished)
                                      --> pending     (a person has it sent again: ``resend``)

``resolve`` is a person's decision (``relais resolve``), recorded in ``resolutions`` with who,
when and why. A row sent again goes back to ``pending`` with ``resend`` set: it is sent past
its grace period, through ``claim`` like any other, so the running bot and the command that
asked cannot both send it. Its earlier attempts no longer count (``first_wire_at`` is
cleared): the person accepted that it may go out twice.

A due ``pending`` row is claimed when its timer fires, and again by the sweep (``overdue``)
if that claim skipped it while another process held it.

A row is claimed (``sending``, committed) *before* anything is sent. ``wire`` is recorded
right before a request that may publish is written, after any wait for the network's rate
limits: it sets ``on_wire`` (this send's outcome is not known yet; a TemporaryError clears
it, see ``note_error``), ``first_wire_at`` (once, ever) and counts the attempt. Whether a
publication is in doubt follows from them alone:

Each network's profile says whether a send that may have gone out can be sent again safely,
and for how long (its ``repeat_window``, see ``bot.networks``):

- A network that cannot deduplicate (Telegram): a row is in doubt while ``on_wire``. A
  ``sending`` row left by a dead process becomes ``unknown`` if on the wire, else
  ``pending`` (sent again).
- A network whose retries carry one idempotency key, which the server remembers for a
  while (Mastodon, about an hour): a row that was ever on the wire may be sent again only
  within the network's ``repeat_window`` of ``first_wire_at``; past it, it is ``unknown``,
  whether it is ``sending`` or ``pending`` (``claim``, ``wire``, ``miss`` and ``recover``
  all check).

Claims use ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL and a conditional
``UPDATE … WHERE state = 'pending'`` everywhere, so two processes never both send a row.
Each process holds an advisory lock named after its owner id while it lives (PostgreSQL),
which is how ``recover`` tells a dead owner's rows from a live one's.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, Engine, func, select, text, update

from bot.domain import Publication, PublicationState
from bot.store.records import Row, Settlement, in_doubt, repeat_window
from bot.store.schema import publications as table
from bot.store.schema import resolutions

PENDING = PublicationState.PENDING.value
SENDING = PublicationState.SENDING.value
UNKNOWN = PublicationState.UNKNOWN.value
SETTLEABLE = (
    PublicationState.FAILED.value,
    PublicationState.UNKNOWN.value,
    PublicationState.MISSED.value,
)
ALERTED_STATES = (
    PublicationState.FAILED.value,
    PublicationState.UNKNOWN.value,
    PublicationState.MISSED.value,
)
_CHUNK = 500
EARLIER_ATTEMPT = "an earlier attempt may have published it"


def key_forgotten(network: str) -> str:
    """Why a row of ``network`` went out too long ago to be sent again."""
    from bot import networks  # (here: the commands that only read the store never need it)

    profile = networks.profile(network)
    window = profile.repeat_window or timedelta()
    return (
        f"an earlier attempt may have published it, over {window.seconds // 60} min ago: "
        f"{profile.title} may have forgotten its idempotency key since, so sending it again could "
        "publish it twice"
    )


DIED_ON_THE_WIRE = (
    "the bot stopped while sending it; the network cannot tell whether it arrived, so it is not sent again"
)


class StoreInUse(Exception):
    """Another process already runs on this SQLite store."""


class StoreNotWritable(Exception):
    """The store's directory cannot be written (permissions, a read-only disk)."""


class Unsettleable(Exception):
    """``resolve`` was given a key the ledger does not have, or a row that is not in doubt,
    failed or missed; nothing was changed. The message says which and why."""


class Resolution(StrEnum):
    """What a person decided about a publication (``relais resolve``)."""

    PUBLISHED = "published"  # it went out: record it as published
    RESEND = "resend"  # send it again now
    SKIP = "skip"  # leave it unpublished


class Wire(StrEnum):
    """What ``Ledger.wire`` found."""

    OK = "ok"  # recorded: the request may go
    LOST = "lost"  # the row is no longer this process's to send (taken over, settled)
    EXPIRED = "expired"  # its idempotency key is forgotten; the row is now unknown


class Ledger:
    def __init__(self, engine: Engine, owner: str) -> None:
        self.engine = engine
        self.owner = owner
        self._postgres = engine.dialect.name == "postgresql"
        self._liveness: Connection | None = None
        self._registered = False  # register() was called: the liveness lock must be held
        self._lock_file: TextIO | None = None

    # -- this process --------------------------------------------------------------

    def register(self) -> None:
        """Announce this process: on PostgreSQL it holds an advisory lock named after its
        owner id for as long as it lives, which is how others tell it is still alive. An
        SQLite store serves one process: a lock file next to it keeps a second one out.
        Raises ``StoreInUse``."""
        if self._postgres and self._liveness is None:
            self._registered = True
            self._hold_liveness(wait=True)
        database = self.engine.url.database
        if not self._postgres and database not in (None, "", ":memory:") and self._lock_file is None:
            import fcntl  # POSIX; the bot runs on Linux

            try:
                handle = open(f"{database}.lock", "a")  # noqa: SIM115 - held open for the process's life
            except OSError as error:
                raise StoreNotWritable(
                    f"cannot write {database}.lock beside the store ({error.strerror}): the user that runs "
                    f"relais must be able to write {Path(str(database)).parent}"
                ) from None
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise StoreInUse(
                    f"another relais run uses {database}; an SQLite store serves one process "
                    "(use PostgreSQL to run several)"
                ) from None
            self._lock_file = handle

    def _hold_liveness(self, *, wait: bool) -> bool:
        """Open the session that holds this process's advisory lock; False if the lock is
        still held by an older session of this process (not yet ended by the server)."""
        connection = self.engine.connect()
        connection.detach()  # closing it must end the session, not pool it with its lock
        try:
            function = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
            got = connection.execute(text(f"SELECT {function}(:k)"), {"k": _lock_id(self.owner)}).scalar()
            connection.commit()
        except Exception:
            connection.close()
            raise
        if wait or got:
            self._liveness = connection
            return True
        connection.close()
        return False

    def heartbeat(self) -> bool:
        """Check that this process still holds its advisory lock (PostgreSQL). A store
        outage ends the session that held it, and others would then take this process for
        dead: take it again. Returns False when it had been lost. Raises while the store
        is unreachable."""
        if not self._postgres or not self._registered:
            return True
        if self._liveness is not None:
            try:
                self._liveness.execute(text("SELECT 1"))
                self._liveness.commit()
                return True
            except Exception:
                with contextlib.suppress(Exception):
                    self._liveness.invalidate()
                    self._liveness.close()
                self._liveness = None
        # Never wait here: the server may not have ended the old session yet, and while it
        # holds the lock others see this process alive anyway.
        self._hold_liveness(wait=False)
        return False

    def close(self) -> None:
        self._registered = False
        if self._liveness is not None:
            # Released here, before the session is closed: the server ends a closed session
            # a moment later, and until then others would take this process for alive.
            with contextlib.suppress(Exception):  # a store gone: its session and lock are gone too
                self._liveness.rollback()  # (a failed transaction would refuse the unlock)
                self._liveness.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_id(self.owner)})
                self._liveness.commit()
            self._liveness.close()
            self._liveness = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _alive(self, connection: Connection, owner: str | None) -> bool:
        if owner is None or owner == self.owner:
            return owner == self.owner  # this process's rows are judged by what its tasks hold
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
                    "publication_id": p.id,
                    "channel": p.channel.name,
                    "network": str(p.channel.network),
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
        Rows another process is claiming at the same moment are skipped, not waited for.
        A row whose idempotency key the server may have forgotten is not taken: it becomes
        ``unknown``."""
        taken: list[str] = []
        with self.engine.begin() as connection:
            for chunk in _chunks(list(keys)):
                # due_at: a process whose campaign files are older than the store's
                # (another process moved the post later) must not send it early.
                candidates = connection.execute(
                    select(table.c.id, table.c.network, table.c.first_wire_at)
                    .where(table.c.key.in_(chunk), table.c.state == PENDING, table.c.due_at <= now)
                    .with_for_update(skip_locked=True)
                ).all()
                expired = {
                    c.id: c.network for c in candidates if _key_forgotten(c.network, c.first_wire_at, now)
                }
                for network in sorted(set(expired.values())):
                    connection.execute(
                        update(table)
                        .where(table.c.id.in_([i for i, n in expired.items() if n == network]))
                        .where(table.c.state == PENDING)
                        .values(
                            state=UNKNOWN, last_error=key_forgotten(network), finished_at=now, updated_at=now
                        )
                    )
                ids = [c.id for c in candidates if c.id not in expired]
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

    def wire(self, key: str, now: datetime) -> Wire:
        """Record that a request of a row this process is sending is about to be written
        (after any rate-limit wait): from now on it may be published. ``Wire.OK``: send it;
        otherwise do not (``EXPIRED`` has made the row ``unknown``)."""
        with self.engine.begin() as connection:
            row = connection.execute(
                select(table.c.network, table.c.first_wire_at)
                .where(table.c.key == key, table.c.owner == self.owner, table.c.state == SENDING)
                .with_for_update()
            ).first()
            if row is None:
                return Wire.LOST
            mine = (table.c.key == key, table.c.owner == self.owner, table.c.state == SENDING)
            if _key_forgotten(row.network, row.first_wire_at, now):
                connection.execute(
                    update(table)
                    .where(*mine)
                    .values(
                        state=UNKNOWN, last_error=key_forgotten(row.network), finished_at=now, updated_at=now
                    )
                )
                return Wire.EXPIRED
            connection.execute(
                update(table)
                .where(*mine)
                .values(
                    on_wire=True,
                    first_wire_at=func.coalesce(table.c.first_wire_at, now),
                    attempts=table.c.attempts + 1,
                    updated_at=now,
                )
            )
            return Wire.OK

    def note_error(self, key: str, error: str) -> None:
        """Why the last attempt of a row this process is sending failed with a temporary
        error: nothing was published, or a Mastodon retry with the same key is safe. Either
        way this attempt is no longer in doubt."""
        with self.engine.begin() as connection:
            connection.execute(
                update(table)
                .where(table.c.key == key, table.c.owner == self.owner, table.c.state == SENDING)
                .values(last_error=error, on_wire=False)
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
        """Record the outcome of a send this process claimed. ``missed`` becomes ``unknown``
        when an earlier request may have published it. ``published`` also settles a row that
        another process marked ``unknown`` while this one was cut off from the store."""
        with self.engine.begin() as connection:
            mine = [table.c.key == key, table.c.owner == self.owner]
            if state is PublicationState.PUBLISHED:
                mine.append(table.c.state.in_([SENDING, UNKNOWN]))
            else:
                mine.append(table.c.state == SENDING)
            current = connection.execute(
                select(table.c.network, table.c.on_wire, table.c.first_wire_at).where(*mine).with_for_update()
            ).first()
            if current is None:
                return False
            value = state.value
            if state is PublicationState.MISSED and in_doubt(*current):
                value, error = UNKNOWN, f"{error or 'missed'}; {EARLIER_ATTEMPT}"
            connection.execute(
                update(table)
                .where(*mine)
                .values(
                    state=value,
                    on_wire=False,
                    remote_id=remote_id,
                    remote_url=remote_url,
                    last_error=error,
                    finished_at=now,
                    updated_at=now,
                )
            )
            return True

    def miss(self, key: str, now: datetime, reason: str) -> str | None:
        """Close a pending publication that came due too long ago: ``missed``, or ``unknown``
        when an earlier request may have published it (a post given back after a timeout on
        a network whose retries carry an idempotency key). Returns the state given, or None
        if not pending."""
        with self.engine.begin() as connection:
            row = connection.execute(
                select(table.c.network, table.c.on_wire, table.c.first_wire_at).where(
                    table.c.key == key, table.c.state == PENDING
                )
            ).first()
            if row is None:
                return None
            state, reason = (
                (UNKNOWN, f"{reason}; {EARLIER_ATTEMPT}")
                if in_doubt(*row)
                else (PublicationState.MISSED.value, reason)
            )
            result = connection.execute(
                update(table)
                .where(table.c.key == key, table.c.state == PENDING)
                .values(state=state, last_error=reason, finished_at=now, updated_at=now)
            )
            return state if result.rowcount == 1 else None

    def release(self, key: str, now: datetime, error: str) -> bool:
        """Give back a row this process claimed but whose send is not on the wire (stopping):
        it is sent again, by this process or the next, if still within its grace period."""
        with self.engine.begin() as connection:
            result = connection.execute(
                update(table)
                .where(table.c.key == key, table.c.owner == self.owner, table.c.state == SENDING)
                .values(state=PENDING, owner=None, on_wire=False, last_error=error, updated_at=now)
            )
            return result.rowcount == 1

    def overdue(self, now: datetime) -> list[str]:
        """The keys of the ``pending`` rows that are due: normally claimed the moment they
        come due, so these are rows a claim skipped because another process held them at that
        moment and then gave them up (it died before its claim committed)."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(table.c.key)
                    .where(table.c.state == PENDING, table.c.due_at <= now)
                    .order_by(table.c.due_at, table.c.id)
                ).scalars()
            )

    def recover(self, now: datetime, busy: Iterable[str] = ()) -> list[Row]:
        """Deal with ``sending`` rows that no one is sending any more: those of processes
        that died, and this process's own rows outside ``busy`` (the keys its tasks hold),
        e.g. claimed in a transaction whose answer a store outage lost.

        Nothing on the wire: back to ``pending``. On the wire: on a network without
        idempotency (Telegram) such a message may have arrived, so it becomes ``unknown`` and
        is never sent again; on one whose retries carry an idempotency key (Mastodon) it goes
        back to ``pending`` unless the server may have forgotten the key. Returns the rows
        changed.
        """
        held = set(busy)
        with self.engine.begin() as connection:
            stuck = connection.execute(
                select(table.c.key, table.c.owner, table.c.network, table.c.on_wire, table.c.first_wire_at)
                .where(table.c.state == SENDING)
                .with_for_update(skip_locked=True)
            ).all()
            owners = {owner: self._alive(connection, owner) for owner in {s.owner for s in stuck}}
            changed: list[str] = []
            for key, owner, network, on_wire, first_wire_at in stuck:
                if (owner == self.owner and key in held) or (owner != self.owner and owners[owner]):
                    continue
                values: dict[str, Any] = {"state": UNKNOWN, "finished_at": now}
                if _key_forgotten(network, first_wire_at, now):
                    values["last_error"] = key_forgotten(network)
                elif in_doubt(network, on_wire, first_wire_at) and repeat_window(network) is None:
                    values["last_error"] = DIED_ON_THE_WIRE
                else:
                    values = {"state": PENDING, "owner": None, "on_wire": False}
                connection.execute(
                    update(table)
                    .where(table.c.key == key, table.c.state == SENDING)
                    .values(updated_at=now, **values)
                )
                changed.append(key)
            return list(self._rows(connection, changed).values())

    # -- what a person settles -------------------------------------------------------

    def resolve(
        self,
        keys: Sequence[str],
        action: Resolution,
        now: datetime,
        *,
        actor: str,
        reason: str | None = None,
        url: str | None = None,
        remote_id: str | None = None,
    ) -> list[Row]:
        """Settle publications in doubt, failed or missed, all or none: ``Unsettleable``
        (nothing changed) if a key is unknown or its row is in another state. Returns the
        rows as they are now. ``url`` and ``remote_id``: where a publication marked
        published is (its replies are then collected under it)."""
        with self.engine.begin() as connection:
            rows = self._rows(connection, list(keys))
            for key in keys:
                row = rows.get(key)
                if row is None:
                    raise Unsettleable(f"no publication {key} in the store (relais status lists them)")
                if row.state not in SETTLEABLE:
                    raise Unsettleable(
                        f"{key} is {row.state}: only a publication that is unknown, failed or missed "
                        "can be settled"
                    )
            for key in dict.fromkeys(keys):
                row = rows[key]
                values: dict[str, Any] = {"updated_at": now, "on_wire": False}
                if action is Resolution.PUBLISHED:
                    values |= {
                        "state": PublicationState.PUBLISHED.value,
                        "remote_url": url or row.remote_url,
                        "remote_id": remote_id or row.remote_id,
                        "last_error": None,
                        "finished_at": now,
                    }
                elif action is Resolution.SKIP:
                    values |= {"state": PublicationState.SKIPPED.value, "finished_at": now}
                else:
                    values |= {
                        "state": PENDING,
                        "resend": True,
                        "owner": None,
                        "first_wire_at": None,
                        "alerted_at": None,  # a new failure is told again
                        "finished_at": None,
                    }
                result = connection.execute(
                    update(table).where(table.c.key == key, table.c.state == row.state).values(**values)
                )
                if result.rowcount != 1:  # changed by the bot in between: roll everything back
                    raise Unsettleable(
                        f"{key} changed while it was being settled: look again (relais status)"
                    )
                connection.execute(
                    resolutions.insert().values(
                        key=key,
                        at=now,
                        actor=actor,
                        action=action.value,
                        previous_state=row.state,
                        reason=reason,
                        url=url,
                    )
                )
            return list(self._rows(connection, list(keys)).values())

    def resends(self) -> list[str]:
        """The keys a person asked to send again that are waiting to be sent."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(table.c.key).where(table.c.state == PENDING, table.c.resend.is_(True))
                ).scalars()
            )

    def settlements(self) -> dict[str, Settlement]:
        """The latest decision recorded for each publication a person settled."""
        found: dict[str, Settlement] = {}
        with self.engine.connect() as connection:
            for r in connection.execute(select(resolutions).order_by(resolutions.c.id)).mappings():
                found[r["key"]] = Settlement(**{f: r[f] for f in Settlement.__dataclass_fields__})
        return found

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

    def stalled(self, before: datetime) -> list[Row]:
        """Rows due at or before ``before`` and still not sent (``pending`` or ``sending``),
        oldest first: a publisher that keeps up leaves none for long."""
        with self.engine.connect() as connection:
            keys = connection.execute(
                select(table.c.key)
                .where(table.c.state.in_([PENDING, SENDING]), table.c.due_at <= before)
                .order_by(table.c.due_at)
            ).scalars()
            rows = self._rows(connection, list(keys))
        return sorted(rows.values(), key=lambda r: (r.due_at, r.key))

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            return dict(connection.execute(select(table.c.state, func.count()).group_by(table.c.state)).all())


def _key_forgotten(network: str, first_wire_at: datetime | None, now: datetime) -> bool:
    """A post went out so long ago that the server may have forgotten its idempotency key."""
    if first_wire_at is None:
        return False
    window = repeat_window(network)
    return window is not None and now - first_wire_at >= window


def _insert_new(connection: Connection) -> Any:
    """An INSERT that can skip rows whose key exists (both dialects say ON CONFLICT)."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # (imported for PostgreSQL only: 15 ms)

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def _lock_id(owner: str) -> int:
    """A stable 63-bit advisory lock id for an owner id."""
    return zlib.crc32(b"relais-owner:" + owner.encode()) << 31 | zlib.crc32(owner.encode()) >> 1


def _chunks(items: list, size: int = _CHUNK) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]

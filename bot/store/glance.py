"""A glance at an SQLite store without SQLAlchemy: whether it is current, what the ledger
records of some publications, and what ``relais status`` reports.

``relais plan`` asks the store the state of every publication, and ``relais validate``
that of each one already past; importing SQLAlchemy for it took a third of their time.
On an SQLite file the standard library's ``sqlite3`` answers, with the same two queries
the ledger makes (``tests/test_startup.py`` compares them). Anything it cannot answer
plainly (PostgreSQL, a store not current, locked, or not a Relais store at all) gets None:
the caller then asks ``Ledger`` and ``database.is_current``, which say what is wrong.

``status`` reads what ``relais status`` and ``relais check --alive`` tell, for which
SQLAlchemy's import was half of their time: the same rows as ``bot.services.status.reading``
(``tests/test_status_glance.py`` compares the two on stores in every state): the columns
named like the fields of ``bot.store.records``, each converted as the field is typed, as
``bot.store.schema`` types the column.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # (imported by status alone: plan and validate need none of them)
    from bot.store.records import StatusReading

_CHUNK = 500  # keys per query (SQLite before 3.32 takes at most 999 parameters)
# A store locked (by a writer of a store not in WAL mode) is waited for a second, then
# left to SQLAlchemy, which waits as every command does and says what is wrong: the glance
# adds a second to a failure, not its own full wait (``relais check --alive`` has 10 s).
BUSY_TIMEOUT_SECONDS = 1


# A migration's ``revision = "0012"`` and ``down_revision: str | None = "0011"``, at the
# start of a line; what follows the ``=`` must be a plain literal.
_ASSIGNED = re.compile(r"^(revision|down_revision)\b[^=\n]*=([^\n]*)$", re.MULTILINE)


@lru_cache(maxsize=1)
def heads() -> frozenset[str] | None:
    """The revisions of ``migrations/versions`` that none revises, or None if a file there
    does not say its ``revision`` and ``down_revision`` plainly (once each, on one line)."""
    return heads_in(Path(__file__).parent / "migrations" / "versions")


def heads_in(directory: Path) -> frozenset[str] | None:
    """``heads`` of the migrations in ``directory``. Read with a pattern rather than by
    parsing each file: every command that opens the store asks, and parsing them took a
    tenth of ``relais plan``'s time."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in sorted(directory.glob("*.py")):
        values: dict[str, list[str]] = {}
        for name, value in _ASSIGNED.findall(path.read_text(encoding="utf-8")):
            values.setdefault(name, []).append(value)
        try:
            ((revision,), (down,)) = (values["revision"], values["down_revision"])
            revision = ast.literal_eval(revision.strip())
            down = ast.literal_eval(down.strip())
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        revised.update([down] if isinstance(down, str) else down or ())
    return frozenset(revisions - revised)


@contextmanager
def _current(path: Path) -> Iterator[sqlite3.Connection | None]:
    """A connection to the SQLite store at ``path``, to read it, if it is plainly a current
    Relais store that can be read now; else None."""
    head = heads()
    if head is None or len(head) != 1:
        yield None
        return
    try:
        # mode=rw: never creates the file (and reads only: every query here is a SELECT).
        # Not mode=ro, which leaves the WAL's -wal and -shm files behind when it closes.
        connection = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    except (sqlite3.Error, ValueError):
        yield None
        return
    try:
        try:
            recorded = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.Error:
            recorded = []
        yield connection if [version for (version,) in recorded] == list(head) else None
    finally:
        connection.close()


def recorded_states(path: Path, keys: Sequence[str]) -> dict[str, str] | None:
    """The state the ledger of the SQLite store at ``path`` records for each of ``keys``
    it holds (a key it does not hold is left out), or None when the store is not plainly
    a current Relais store that can be read now."""
    with _current(path) as connection:
        if connection is None:
            return None
        try:
            found: dict[str, str] = {}
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start : start + _CHUNK])
                marks = ", ".join("?" * len(chunk))
                query = f"SELECT key, state FROM publications WHERE key IN ({marks})"  # noqa: S608 - marks only
                found.update(connection.execute(query, chunk).fetchall())
            return found
        except sqlite3.Error:
            return None


def ready(path: Path) -> bool:
    """Whether the SQLite store at ``path`` is plainly current and as ``relais db upgrade``
    leaves a store (in WAL mode, and writable by this user, file and directory), so that
    there is nothing to do nor to say (False: ask ``database``, which says what is wrong)."""
    if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        return False
    with _current(path) as connection:
        if connection is None:
            return False
        try:
            (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
        except sqlite3.Error:
            return False
        return str(mode).lower() == "wal"


def status(path: Path) -> StatusReading | None:
    """What ``relais status`` reports of the SQLite store at ``path``, or None when it is
    not plainly a current Relais store that can be read now."""
    with _current(path) as connection:
        if connection is None:
            return None
        try:
            return _status(connection)
        except sqlite3.Error:
            return None


def _status(db: sqlite3.Connection) -> StatusReading:
    from bot.store.records import (
        BEATS_SHOWN,
        SET_ASIDE_SHOWN,
        STATES,
        Beat,
        Row,
        SetAside,
        Settlement,
        StatusReading,
    )

    rows = {r.key: r for r in _records(db, Row, "publications")}
    settlements = {s.key: s for s in _records(db, Settlement, "resolutions", "ORDER BY id")}
    beats = _records(db, Beat, "heartbeats", f"ORDER BY seen_at DESC LIMIT {BEATS_SHOWN:d}")
    positions = {
        name: (position, _utc(at))
        for name, position, at in db.execute("SELECT name, position, updated_at FROM collector_positions")
    }
    replies = dict(db.execute("SELECT state, count(*) FROM comments GROUP BY state").fetchall())
    queued = dict(db.execute("SELECT state, count(*) FROM acknowledgements GROUP BY state").fetchall())
    (aside,) = db.execute("SELECT count(*) FROM set_aside").fetchone()
    latest: list[SetAside] = [
        {"network": network, "remote_id": remote_id, "from": source, "error": error, "at": _utc(at)}
        for network, remote_id, source, error, at in db.execute(
            "SELECT network, remote_id, source, error, at FROM set_aside ORDER BY at DESC, id DESC LIMIT ?",
            (SET_ASIDE_SHOWN,),
        )
    ]
    return StatusReading(
        rows=rows,
        settlements=settlements,
        beats=beats,
        positions=positions,
        replies=replies,
        acknowledgements={state: queued.get(state, 0) for state in STATES},
        set_aside=aside,
        set_aside_latest=latest,
    )


_Record = TypeVar("_Record")


def _records(db: sqlite3.Connection, kind: type[_Record], table: str, then: str = "") -> list[_Record]:
    """Each row of ``table`` as a ``kind``: the columns named like its fields, each
    converted as the field is typed (a time: ``_utc``; a flag: ``bool``; the rest as read)."""
    fields = dataclasses.fields(kind)  # type: ignore[arg-type]  # (records are dataclasses)
    convert = [_CONVERTERS.get(str(f.type), _as_read) for f in fields]
    names = ", ".join(f.name for f in fields)
    return [
        kind(*(c(value) for c, value in zip(convert, row, strict=True)))
        for row in db.execute(f"SELECT {names} FROM {table} {then}")  # noqa: S608 - names of ours only
    ]


def _as_read(value: Any) -> Any:
    return value


def _utc(stored: Any) -> Any:
    """A time as the store keeps it (or None), aware, in UTC, as ``schema.UTCDateTime``
    reads it: Relais writes UTC without an offset; a time written with one is converted."""
    if stored is None:
        return None
    at = datetime.fromisoformat(stored)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {"datetime": _utc, "datetime | None": _utc, "bool": bool}

"""A glance at an SQLite store without SQLAlchemy: whether it is current, and what the
ledger records of some publications.

``relais plan`` asks the store the state of every publication, and ``relais validate``
that of each one already past; importing SQLAlchemy for it took a third of their time.
On an SQLite file the standard library's ``sqlite3`` answers, with the same two queries
the ledger makes (``tests/test_startup.py`` compares them). Anything it cannot answer
plainly (PostgreSQL, a store not current, locked, or not a Relais store at all) gets None:
the caller then asks ``Ledger`` and ``database.is_current``, which say what is wrong.
"""

from __future__ import annotations

import ast
import re
import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

_CHUNK = 500  # keys per query (SQLite before 3.32 takes at most 999 parameters)
BUSY_TIMEOUT_SECONDS = 10  # as bot.store.database: a store being written is waited for


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


def recorded_states(path: Path, keys: Sequence[str]) -> dict[str, str] | None:
    """The state the ledger of the SQLite store at ``path`` records for each of ``keys``
    it holds (a key it does not hold is left out), or None when the store is not plainly
    a current Relais store that can be read now."""
    head = heads()
    if head is None or len(head) != 1:
        return None
    try:
        # mode=rw: never creates the file (the caller knows it exists); reads only.
        connection = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    except (sqlite3.Error, ValueError):
        return None
    try:
        recorded = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        if [version for (version,) in recorded] != list(head):
            return None
        found: dict[str, str] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start : start + _CHUNK])
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT key, state FROM publications WHERE key IN ({marks})"  # noqa: S608 - marks only
            found.update(connection.execute(query, chunk).fetchall())
        return found
    except sqlite3.Error:
        return None
    finally:
        connection.close()

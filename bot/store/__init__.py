"""The store: SQLAlchemy over SQLite (default) or PostgreSQL, migrated with Alembic.

Where an SQLite store is: a relative path in its URL (``sqlite:///relais.db``, the
default) is relative to the state directory the settings choose (``bot.settings``), never
to the working directory — otherwise a service, a cron job and a person in another folder
would each open a store of their own, and a new empty ledger sends again what is within
grace. ``anchored`` makes the path absolute once, when the settings are read; past that
point a relative path is an error (``database.create`` and ``missing_file`` refuse it).

This module imports no database library, so read-only commands stay fast.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

_SQLITE_FILE = re.compile(r"(sqlite(?:\+\w+)?:///)([^?]*)(.*)", re.DOTALL)


class StoreLocationError(ValueError):
    """A relative SQLite path reached code that opens the store: it must be anchored first."""


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names, its %-escapes decoded as SQLAlchemy decodes them (the
    file the engine opens); None for another database or an in-memory one."""
    match = _SQLITE_FILE.fullmatch(url)
    if not match or match.group(2) in ("", ":memory:"):
        return None
    return Path(unquote(match.group(2)))


def in_memory(url: str) -> bool:
    """Whether ``url`` is an in-memory SQLite store (rehearsals and dry runs)."""
    return url.startswith("sqlite") and sqlite_file(url) is None


def anchored(url: str, base: Path) -> str:
    """``url`` with a relative SQLite path made absolute under ``base``."""
    match = _SQLITE_FILE.fullmatch(url)
    path = sqlite_file(url)
    if match is None or path is None or path.is_absolute():
        return url
    return f"{match.group(1)}{base / match.group(2)}{match.group(3)}"  # (as written: still escaped)


def _absolute(url: str) -> Path | None:
    path = sqlite_file(url)
    if path is not None and not path.is_absolute():
        raise StoreLocationError(f"relative SQLite path {path}: anchor it under the state directory first")
    return path


def missing_file(url: str) -> bool:
    """Whether ``url`` names an SQLite file that does not exist (opening it would create
    it). Cheap: it imports no database library."""
    path = _absolute(url)
    return path is not None and not path.exists()


def location(url: str) -> str:
    """Where the store is, for people: the SQLite file's absolute path, or the URL with
    its password hidden."""
    path = _absolute(url)
    if path is not None:
        return str(path)
    if in_memory(url):
        return "memory (nothing is kept)"
    from bot.store.database import safe_url

    return safe_url(url)


def prepare(url: str) -> None:
    """Create the directory an SQLite store goes in (only the commands that create the
    store call it: ``relais run`` and ``relais db upgrade``). Private: it holds replies."""
    path = _absolute(url)
    if path is None:
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise StoreLocationError(f"cannot create {path.parent} for the store: {error.strerror}") from None

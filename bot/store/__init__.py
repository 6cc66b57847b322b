"""The store: SQLAlchemy over SQLite (default) or PostgreSQL, migrated with Alembic."""

from __future__ import annotations

import re
from pathlib import Path

_SQLITE_FILE = re.compile(r"sqlite(?:\+\w+)?:///([^?]*)")


def missing_file(url: str) -> bool:
    """Whether ``url`` names an SQLite file that does not exist (opening it would create
    it). Cheap: it imports no database library, so read-only commands stay fast."""
    match = _SQLITE_FILE.match(url)
    return bool(match) and match.group(1) not in ("", ":memory:") and not Path(match.group(1)).exists()

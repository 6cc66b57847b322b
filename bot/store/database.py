"""Opening the store and migrating it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    IntegrityError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.pool import StaticPool

from bot.redact import REDACTED, redact
from bot.store.glance import heads as _heads

if TYPE_CHECKING:
    from alembic.config import Config

SQLITE_BUSY_TIMEOUT_MS = 10_000
MIGRATION_LOCK = 0x72656C616973  # "relais": the advisory lock taken while migrating
CONNECT_TIMEOUT = 10  # seconds to reach a PostgreSQL server and log in


class StoreError(Exception):
    """The store cannot be opened or migrated; the message says why (no password in it)."""


def create(url: str) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with a busy timeout, or PostgreSQL.

    Rows hold replies' texts and authors' names, which no log line may carry: the engine
    leaves the values out of its errors (``hide_parameters``), and SQLAlchemy's loggers,
    which log every statement's values at INFO and every row read at DEBUG whenever they
    are enabled (by a root logger at DEBUG, say), are kept at WARNING."""
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError("RELAIS_DATABASE_URL is not a database URL (e.g. sqlite:///relais.db)") from None
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        if not memory and not Path(str(parsed.database)).is_absolute():
            # never the working directory: see bot/store/__init__.py
            raise StoreError(f"relative SQLite path {parsed.database}: anchor it under the state directory")
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False},
            poolclass=StaticPool if memory else None,
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise StoreError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql+psycopg"
        )
    # libpq waits for ever on a server that accepts and never answers: give up, unless the
    # URL says how long itself (``?connect_timeout=N``).
    timeout = {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT}
    return create_engine(parsed, pool_pre_ping=True, hide_parameters=True, connect_args=timeout)


# SQLSTATE classes of an error about a value rather than about the store: 22 data exception
# (a NUL in text, a value too long), 23 integrity constraint violation, 54 program limit
# exceeded (a text too long to index).
_VALUE_SQLSTATES = frozenset({"22", "23", "54"})


def refused(error: BaseException) -> bool:
    """Whether ``error`` means that the store refused a value (the fault of the item that
    holds it) rather than that the store failed (a connection lost, a table missing, a
    deadlock, a disk full: nothing to do with any one item)."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return False
        sqlstate = getattr(error.orig, "sqlstate", None)  # PostgreSQL says which
        if isinstance(sqlstate, str) and sqlstate:
            return sqlstate[:2] in _VALUE_SQLSTATES
        return isinstance(error, DataError | IntegrityError)
    if isinstance(error, StatementError):  # a value the driver could not even send
        return isinstance(error.orig, ValueError | OverflowError)
    return isinstance(error, ValueError | OverflowError)  # UnicodeEncodeError is a ValueError


def store_failure(error: BaseException) -> str | None:
    """A database error said in one line, for a log: its class and, for a failure of the
    store (not a refused value, whose message may quote it), the first line of the
    database's message, which names what failed (PostgreSQL quotes a failing row only in a
    "DETAIL:" line after it). None for an error that is not the database's."""
    if not isinstance(error, SQLAlchemyError):
        return None
    said = [] if refused(error) else str(getattr(error, "orig", None) or "").strip().splitlines()
    return f"the store failed ({type(error).__name__}{': ' + said[0] if said else ''})"


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    # The wait first: turning a new store to WAL needs it to itself, and a process migrating
    # it holds it for seconds (the driver's own wait, 5 s, was all it had before).
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "bot.store:migrations")
    return config


log = logging.getLogger(__name__)


def upgrade(engine: Engine) -> tuple[str | None, str | None] | None:
    """Apply every migration not yet applied (``relais db upgrade``; ``relais run`` at start),
    saying in one log line what changed (Alembic's own lines are kept quiet: ``bot.logs``).
    Returns the revisions before and after, or None when there was nothing to do.

    A store already current is left alone without loading Alembic (a third of a second
    and 8 MB of ``relais run``'s memory, for nothing to do); whatever ``is_current`` cannot
    tell plainly goes to Alembic, as does every store that needs a migration."""
    if is_current(engine):
        return None
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    config = _alembic_config()
    with _explained(engine), engine.begin() as connection:
        # Processes starting together on one database migrate one after the other.
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        else:  # SQLite: take the write lock now (the driver would not, before DDL)
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        config.attributes["connection"] = connection
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(config, "head")
        after = MigrationContext.configure(connection).get_current_revision()
    if after != before:
        from bot.store import location

        where = location(engine.url.render_as_string(hide_password=True))
        log.info("store %s migrated from %s to %s", where, before or "nothing (a new store)", after)
        return before, after
    return None


def is_current(engine: Engine) -> bool:
    """Whether every migration is applied to the store.

    Read without Alembic: the revision recorded in ``alembic_version`` against the head of
    ``migrations/versions``, the one revision no other names as its ``down_revision``.
    Importing Alembic and loading every migration took ``relais plan`` a quarter of a
    second. Anything unusual (several heads, several recorded versions, a migration that
    does not read as one) is left to Alembic, which says what it makes of it.
    """
    heads = _heads()
    if heads is None or len(heads) != 1:
        return _is_current_by_alembic(engine)
    with _explained(engine), engine.connect() as connection:
        if not inspect(connection).has_table(_VERSION_TABLE):
            return False
        recorded = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(recorded) > 1:
        return _is_current_by_alembic(engine)
    return list(recorded) == list(heads)


_VERSION_TABLE = "alembic_version"  # Alembic's default, which migrations/env.py keeps


def _is_current_by_alembic(engine: Engine) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with _explained(engine), engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head


@contextmanager
def _explained(engine: Engine) -> Iterator[None]:
    """Database errors as a ``StoreError`` that names the store without its password."""
    try:
        yield
    except SQLAlchemyError as error:
        url = engine.url
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        password = str(url.password) if url.password else None
        reason = redact(reason, password)
        hint = ""
        if url.get_backend_name() == "sqlite" and any(words in reason for words in _NOT_WRITABLE):
            where = Path(str(url.database))
            hint = (
                f"; the user that runs relais must be able to read and write {where} and its directory "
                f"{where.parent} (SQLite keeps its journal beside it)"
            )
        raise StoreError(f"cannot use {_shown(url)}: {reason}{hint}") from None


# SQLite's words when the file or its directory cannot be written (permissions, a read-only disk).
_NOT_WRITABLE = ("unable to open database file", "readonly database", "disk I/O error")


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return _shown(make_url(url))
    except ArgumentError:
        return "(not a URL)"


def _shown(url: URL) -> str:
    # SQLAlchemy hides a password as "***", and would percent-encode REDACTED if set as one.
    shown = url.render_as_string(hide_password=True)
    return shown.replace(":***@", f":{REDACTED}@", 1) if url.password else shown

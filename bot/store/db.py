"""Opening the store and migrating it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

if TYPE_CHECKING:
    from alembic.config import Config

SQLITE_BUSY_TIMEOUT_MS = 10_000
MIGRATION_LOCK = 0x72656C616973  # "relais": the advisory lock taken while migrating


class StoreError(Exception):
    """The store cannot be opened or migrated; the message says why (no password in it)."""


def create(url: str) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with a busy timeout, or PostgreSQL."""
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
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise StoreError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql+psycopg"
        )
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "bot.store:migrations")
    return config


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied (``relais db upgrade``; ``relais run`` at start)."""
    from alembic import command

    config = _alembic_config()
    with _explained(engine), engine.begin() as connection:
        # Processes starting together on one database migrate one after the other.
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        else:  # SQLite: take the write lock now (the driver would not, before DDL)
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def is_current(engine: Engine) -> bool:
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
        if url.password:
            reason = reason.replace(str(url.password), "***")
        raise StoreError(f"cannot use {url.render_as_string(hide_password=True)}: {reason}") from None


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a URL)"

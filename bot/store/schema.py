"""Tables of the store. Changing one means a new migration in ``bot/store/migrations``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


publications = Table(
    "publications",
    metadata,
    Column("id", Integer, primary_key=True),
    # campaign/publication/channel: the exactly-once key
    Column("key", String(400), nullable=False, unique=True),
    Column("campaign", String(64), nullable=False),
    Column("publication", String(200), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("network", String(16), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("remote_id", String(200)),
    Column("remote_url", String(1000)),
    Column("last_error", Text),
    Column("owner", String(64)),  # the process that claimed it (state "sending")
    Column("claimed_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("alerted_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "state", "due_at"),
)

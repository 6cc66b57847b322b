"""What ``relais status`` reports: the store read, never changed.

``reading`` reads it through SQLAlchemy, as every store; ``bot.store.glance.status`` reads
an SQLite store with the standard library alone, for a command that answers in half the
time. Both give a ``StatusReading`` (``tests/test_status_glance.py`` compares them), and
``report`` makes the document of either; this module imports no database library.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.domain import PublicationState
from bot.services.documents import StatusDocument, StatusRow, bot_document, next_command, status_row
from bot.store.records import READ, Row, StatusReading

if TYPE_CHECKING:
    from sqlalchemy import Engine

STREAM = "stream:"  # the positions that say how a stream is read (``CommentStore.note_stream``)


def reading(engine: Engine) -> StatusReading:
    """What the store at ``engine`` holds that ``report`` tells."""
    from bot.store.acknowledgements import AcknowledgementQueue
    from bot.store.comments import CommentStore
    from bot.store.heartbeat import beats
    from bot.store.ledger import Ledger

    ledger = Ledger(engine, "status")
    comments = CommentStore(engine)
    return StatusReading(
        rows=ledger.rows(),
        settlements=ledger.settlements(),
        beats=beats(engine),
        positions=comments.positions(),
        replies=comments.counts(),
        acknowledgements=AcknowledgementQueue(engine, "status").counts(),
        set_aside=sum(comments.set_aside_count().values()),
        set_aside_latest=comments.set_aside_latest(),
    )


def report(read: StatusReading, *, store: str, upcoming: int, now: datetime) -> StatusDocument:
    """What was published, failed, is in doubt or was missed; the next ``upcoming``
    publications; where the collectors are; the replies and acknowledgements per state;
    what the store set aside; whether the bot runs (its heartbeat as of ``now``). ``store``
    says where the store is, for people."""
    rows = sorted(read.rows.values(), key=lambda r: (r.due_at, r.key))

    def row(r: Row) -> StatusRow:
        return status_row(r, read.settlements.get(r.key), next_command(r.key, r.state))

    positions = read.positions
    return {
        "store": store,
        "bot": bot_document(read.beats, now),
        "counts": {state.value: sum(r.state == state for r in rows) for state in PublicationState},
        "publications": [row(r) for r in rows if r.state != PublicationState.PENDING],
        "next": [row(r) for r in rows if r.state == PublicationState.PENDING][:upcoming],
        "collectors": {
            name: {"position": position, "updated": at.isoformat()}
            for name, (position, at) in positions.items()
            if not name.startswith((STREAM, READ))
        },
        "streams": {
            name.removeprefix(STREAM): {"mode": mode, "since": at.isoformat()}
            for name, (mode, at) in positions.items()
            if name.startswith(STREAM)
        },
        "replies": read.replies,
        "acknowledgements": read.acknowledgements,
        "set_aside": {
            "count": read.set_aside,
            "latest": [
                {
                    "network": item["network"],
                    "remote_id": item["remote_id"],
                    "from": item["from"],
                    "error": item["error"],
                    "at": item["at"].isoformat(),
                }
                for item in read.set_aside_latest
            ],
        },
    }

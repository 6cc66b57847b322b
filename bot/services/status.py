"""What ``relais status`` reports: the store read, never changed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from bot.domain import PublicationState
from bot.services.documents import StatusDocument, StatusRow, bot_document, next_command, status_row
from bot.store.acknowledgements import AcknowledgementQueue
from bot.store.comments import READ, CommentStore
from bot.store.heartbeat import beats
from bot.store.ledger import Ledger, Row

STREAM = "stream:"  # the positions that say how a stream is read (``CommentStore.note_stream``)


def report(engine: Engine, *, store: str, upcoming: int, now: datetime) -> StatusDocument:
    """What was published, failed, is in doubt or was missed; the next ``upcoming``
    publications; where the collectors are; the replies and acknowledgements per state;
    what the store set aside; whether the bot runs (its heartbeat as of ``now``). ``store``
    says where the store is, for people."""
    ledger = Ledger(engine, "status")
    rows = sorted(ledger.rows().values(), key=lambda r: (r.due_at, r.key))
    settled = ledger.settlements()

    def row(r: Row) -> StatusRow:
        return status_row(r, settled.get(r.key), next_command(r.key, r.state))

    comments = CommentStore(engine)
    positions = comments.positions()
    aside = comments.set_aside_latest()
    return {
        "store": store,
        "bot": bot_document(beats(engine), now),
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
        "replies": comments.counts(),
        "acknowledgements": AcknowledgementQueue(engine, "status").counts(),
        "set_aside": {
            "count": sum(comments.set_aside_count().values()),
            "latest": [
                {
                    "network": item["network"],
                    "remote_id": item["remote_id"],
                    "from": item["from"],
                    "error": item["error"],
                    "at": item["at"].isoformat(),
                }
                for item in aside
            ],
        },
    }

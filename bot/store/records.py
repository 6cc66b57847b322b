"""What the store's tables hold, as plain records: read through SQLAlchemy by the ledger
and the heartbeat, and through ``sqlite3`` by ``bot.store.glance``, which must not import
SQLAlchemy (its import is half of a command's start)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

STALE_AFTER = timedelta(seconds=60)  # a heartbeat older than this: the process is gone
READ = "read:"  # the positions that say when a collector last read its updates to the end
BEATS_SHOWN = 20  # the processes ``relais status`` looks at, the latest first
SET_ASIDE_SHOWN = 20  # the items set aside it shows, the latest first
# The states of an acknowledgement (``bot.store.acknowledgements``).
QUEUED, SENT, FAILED, SKIPPED = "queued", "sent", "failed", "skipped"
STATES = (QUEUED, SENT, FAILED, SKIPPED)


@dataclass(frozen=True)
class Row:
    """A publication's row of the ledger (``bot.store.ledger``)."""

    key: str
    campaign: str
    publication_id: str
    channel: str
    network: str
    due_at: datetime
    state: str
    attempts: int
    remote_id: str | None
    remote_url: str | None
    last_error: str | None
    finished_at: datetime | None
    on_wire: bool = False
    first_wire_at: datetime | None = None
    resend: bool = False  # a person asked for it to be sent again, past its grace period

    @property
    def in_doubt(self) -> bool:
        """Whether an earlier request may have published it."""
        return in_doubt(self.network, self.on_wire, self.first_wire_at)


@dataclass(frozen=True)
class Settlement:
    """The latest decision a person recorded about a publication."""

    key: str
    at: datetime
    actor: str
    action: str
    previous_state: str
    reason: str | None
    url: str | None


@dataclass(frozen=True)
class Beat:
    """A ``relais run`` process as its heartbeat row tells (``bot.store.heartbeat``)."""

    owner: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    stopped_at: datetime | None

    def alive(self, now: datetime, stale_after: timedelta = STALE_AFTER) -> bool:
        """Whether this process is still running, as far as the store can tell."""
        return self.stopped_at is None and now - self.seen_at < stale_after

    @property
    def gone_at(self) -> datetime:
        """When it stopped, or was last seen."""
        return self.stopped_at or self.seen_at


# An item a collector set aside: ids and why, never content ("from": where it was read).
SetAside = TypedDict(
    "SetAside", {"network": str, "remote_id": str, "from": str, "error": str, "at": datetime}
)


@dataclass(frozen=True)
class StatusReading:
    """Everything ``relais status`` reports, as the store holds it."""

    rows: dict[str, Row]
    settlements: dict[str, Settlement]
    beats: list[Beat]  # the latest first
    positions: dict[str, tuple[str, datetime]]  # collector position name: (position, updated)
    replies: dict[str, int]  # replies per moderation state
    acknowledgements: dict[str, int]  # per state, every state
    set_aside: int
    set_aside_latest: list[SetAside]  # the latest first


def in_doubt(network: str, on_wire: bool, first_wire_at: datetime | None) -> bool:
    """Whether an earlier request of a publication may have published it: one whose outcome
    was never known, or, on a network whose timeouts are retried under an idempotency key
    (Mastodon), any that went out."""
    return bool(on_wire) or (first_wire_at is not None and repeat_window(network) is not None)


def repeat_window(network: str) -> timedelta | None:
    """How long a send of ``network`` that may have gone out can be sent again safely."""
    from bot import networks

    return networks.profile(network).repeat_window

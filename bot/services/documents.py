"""The documents Relais shows, one typed shape each: the plan, the status, the collected
replies. The CLI's ``--format json`` prints them, the tests read them, and the web desk
will render them, so that the faces cannot drift apart (datasette's way: one document
feeds both the JSON and the page). Times are ISO 8601 with an offset.

Light on purpose: nothing here imports a database library, so ``relais plan`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict
from zoneinfo import ZoneInfo

from bot.domain import Publication, PublicationState

if TYPE_CHECKING:
    from bot.services.moderation import Detail
    from bot.store.comments import Comment, Event
    from bot.store.ledger import Row

# -- the plan ----------------------------------------------------------------------------


class MediaItem(TypedDict):
    file: str  # as the user would type it: relative to the working directory if below it
    alt: str


class PlanRow(TypedDict):
    """One publication of ``relais plan``: when, where, and the text as its network gets it."""

    id: str
    campaign: str
    channel: str
    network: str
    local_time: str
    utc_time: str
    timezone: str
    state: str
    text: str
    length: int
    limit: int
    media: list[MediaItem]
    warning: str | None


class PlanDocument(TypedDict):
    publications: list[PlanRow]


def plan_document(
    publications: Sequence[Publication], states: Mapping[str, PublicationState]
) -> PlanDocument:
    """``relais plan --format json``: the publications in the order given, each with the
    state the store records (also timed by benchmarks/campaign_load.py)."""
    from bot.core.campaigns import display_path

    times: dict[tuple[datetime, ZoneInfo], tuple[str, str]] = {}  # (a post's channels share theirs)
    # Looked up rather than asked of each enum member (``.value`` is a slow property).
    names = {state: state.value for state in PublicationState}
    rows: list[PlanRow] = []
    for p in publications:
        when = times.get((p.at, p.timezone))
        if when is None:
            when = times[p.at, p.timezone] = (p.local_at.isoformat(), p.at.isoformat())
        channel = p.channel
        rows.append(
            {
                "id": p.id,
                "campaign": p.campaign,
                "channel": channel.name,
                "network": str(channel.network),
                "local_time": when[0],
                "utc_time": when[1],
                "timezone": p.timezone.key,
                "state": names[states[p.key]],
                "text": p.text,
                "length": p.length,
                "limit": p.limit,
                "media": [{"file": display_path(m.path), "alt": m.alt} for m in p.media] if p.media else [],
                "warning": p.warning,
            }
        )
    return {"publications": rows}


# -- the status --------------------------------------------------------------------------


class StatusRow(TypedDict):
    """A publication as the store records it."""

    campaign: str
    id: str
    channel: str
    network: str
    due: str
    state: str
    attempts: int
    reason: str | None  # why it failed, is in doubt or was missed
    remote_id: str | None
    url: str | None
    finished: str | None


class CollectorPosition(TypedDict):
    position: str
    updated: str


# An item the store refused: what names it and why, never what it says or who said it.
SetAsideItem = TypedDict(
    "SetAsideItem", {"network": str, "remote_id": str, "from": str, "error": str, "at": str}
)


class SetAside(TypedDict):
    count: int
    latest: list[SetAsideItem]


class StreamMode(TypedDict):
    mode: str  # "streaming", "reconnecting: why", "polling: why"
    since: str


class StatusDocument(TypedDict):
    """``relais status --format json``."""

    store: str  # where the store is (no password)
    counts: dict[str, int]  # publications per state, every state
    publications: list[StatusRow]  # settled or in doubt, by due time
    next: list[StatusRow]  # the next pending ones
    collectors: dict[str, CollectorPosition]
    streams: dict[str, StreamMode]  # "mastodon:mentions", "mastodon:<hashtag>"
    replies: dict[str, int]  # per state, the states that have some
    acknowledgements: dict[str, int]
    set_aside: SetAside


def status_row(row: Row) -> StatusRow:
    return {
        "campaign": row.campaign,
        "id": row.publication_id,
        "channel": row.channel,
        "network": row.network,
        "due": row.due_at.isoformat(),
        "state": row.state,
        "attempts": row.attempts,
        "reason": row.last_error,
        "remote_id": row.remote_id,
        "url": row.remote_url,
        "finished": row.finished_at.isoformat() if row.finished_at else None,
    }


# -- the collected replies ---------------------------------------------------------------


class Author(TypedDict):
    handle: str
    name: str
    nobot: bool  # the author asks bots to leave them alone


class CommentItem(TypedDict):
    """A collected reply, as a list shows it."""

    id: int
    network: str
    remote_id: str
    url: str | None
    campaign: str | None
    answers: str | None  # the key of the publication it answers
    author: Author
    text: str  # exactly as written: escape it wherever it is shown
    language: str | None
    hashtags: list[str]
    private: bool
    created: str
    collected: str
    edited: str | None
    state: str
    reason: str | None
    decided_by: str | None
    decided: str | None
    version: int  # what a decision on it says it saw


class CommentsDocument(TypedDict):
    """``relais comments list --format json``."""

    comments: list[CommentItem]


class EventItem(TypedDict):
    at: str
    kind: str  # collected, edited, approved, rejected, flagged, pending
    actor: str  # a moderator, the author (an edit), or "relais"
    reason: str | None
    previous_text: str | None  # an edit: the text before it


class AnsweredPublication(TypedDict):
    """The publication a reply answers, as the store records it."""

    key: str
    campaign: str
    id: str
    channel: str
    network: str
    state: str
    url: str | None


class CommentDetail(TypedDict):
    """``relais comments show --format json``: one reply in its context."""

    comment: CommentItem
    answers: AnsweredPublication | None
    parent: CommentItem | None  # the stored reply it answers
    history: list[EventItem]  # oldest first


def comment_item(c: Comment) -> CommentItem:
    return {
        "id": c.id,
        "network": c.network,
        "remote_id": c.remote_id,
        "url": c.url,
        "campaign": c.campaign,
        "answers": c.publication_key,
        "author": {"handle": c.author_handle, "name": c.author_name, "nobot": c.author_nobot},
        "text": c.text,
        "language": c.language,
        "hashtags": c.hashtags.split(),
        "private": c.private,
        "created": c.created_at.isoformat(),
        "collected": c.collected_at.isoformat(),
        "edited": c.edited_at.isoformat() if c.edited_at else None,
        "state": c.state,
        "reason": c.reason,
        "decided_by": c.decided_by,
        "decided": c.decided_at.isoformat() if c.decided_at else None,
        "version": c.version,
    }


def comments_document(comments: Iterable[Comment]) -> CommentsDocument:
    return {"comments": [comment_item(c) for c in comments]}


def event_item(e: Event) -> EventItem:
    return {
        "at": e.at.isoformat(),
        "kind": e.kind,
        "actor": e.actor,
        "reason": e.reason,
        "previous_text": e.previous_text,
    }


def comment_detail(detail: Detail) -> CommentDetail:
    answers = detail.answers
    return {
        "comment": comment_item(detail.comment),
        "answers": None
        if answers is None
        else {
            "key": answers.key,
            "campaign": answers.campaign,
            "id": answers.publication_id,
            "channel": answers.channel,
            "network": answers.network,
            "state": answers.state,
            "url": answers.remote_url,
        },
        "parent": None if detail.parent is None else comment_item(detail.parent),
        "history": [event_item(e) for e in detail.history],
    }

"""The documents Relais shows, one typed shape each: the plan, the status, the collected
replies. The CLI's ``--format json`` prints them, the tests read them, and the web desk
will render them, so that the faces cannot drift apart (datasette's way: one document
feeds both the JSON and the page). Times are ISO 8601 with an offset.

Light on purpose: nothing here imports a database library, so ``relais plan`` stays fast.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypedDict
from zoneinfo import ZoneInfo

from bot.domain import Publication, PublicationState

if TYPE_CHECKING:
    from bot.findings import Finding
    from bot.services.moderation import AuthorView, Conflict, Decision, Detail, Queue
    from bot.store.comments import Comment, Event
    from bot.store.decisions import DecisionRow
    from bot.store.heartbeat import Beat
    from bot.store.ledger import Row, Settlement

# The zone a campaign's times are shown in (None: a reply to no known campaign); the faces
# build it from the campaign files. Without one, times are in UTC.
Zones = Callable[[str | None], ZoneInfo]


UTC_ZONE = ZoneInfo("UTC")


def _utc(campaign: str | None) -> ZoneInfo:
    return UTC_ZONE


def _when(at: datetime | None, zone: ZoneInfo) -> str | None:
    return None if at is None else at.astimezone(zone).isoformat()


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
    command: str | None  # what settles it (relais resolve …), when it needs a person
    settled: SettledItem | None  # the latest decision a person recorded about it


class SettledItem(TypedDict):
    """A person's decision about a publication (``relais resolve``)."""

    by: str
    at: str
    action: str  # published, resend, skip
    was: str  # the state it was in
    reason: str | None
    url: str | None


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


class ProcessItem(TypedDict):
    """A ``relais run`` process, as its heartbeat tells."""

    host: str
    pid: int
    started: str
    seen: str  # last beat
    seen_seconds_ago: float
    stopped: str | None  # when it stopped cleanly


class BotDocument(TypedDict):
    """Whether the bot runs on this store: its processes alive now, else the last one."""

    running: bool
    processes: list[ProcessItem]  # alive now, latest seen first
    last: ProcessItem | None  # the latest seen, alive or not; None: no bot ever ran here


class StreamMode(TypedDict):
    mode: str  # "streaming", "reconnecting: why", "polling: why"
    since: str


class StatusDocument(TypedDict):
    """``relais status --format json``."""

    store: str  # where the store is (no password)
    bot: BotDocument
    counts: dict[str, int]  # publications per state, every state
    publications: list[StatusRow]  # settled or in doubt, by due time
    next: list[StatusRow]  # the next pending ones
    collectors: dict[str, CollectorPosition]
    streams: dict[str, StreamMode]  # "mastodon:mentions", "mastodon:<hashtag>"
    replies: dict[str, int]  # per state, the states that have some
    acknowledgements: dict[str, int]
    set_aside: SetAside


def process_item(beat: Beat, now: datetime) -> ProcessItem:
    return {
        "host": beat.host,
        "pid": beat.pid,
        "started": beat.started_at.isoformat(),
        "seen": beat.seen_at.isoformat(),
        "seen_seconds_ago": round((now - beat.seen_at).total_seconds(), 1),
        "stopped": beat.stopped_at.isoformat() if beat.stopped_at else None,
    }


def _vanished(beat: Beat) -> bool:
    """Whether ``beat``'s process ran on this host and is gone (killed: it never said it
    stopped, and its last beat may be fresh); from another host only the beat's age tells."""
    import os
    import socket

    if beat.host != socket.gethostname()[:255]:
        return False
    try:
        os.kill(beat.pid, 0)  # no signal sent: whether the pid exists
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists, as another user
        return False
    return False


def bot_document(beats: Sequence[Beat], now: datetime, stale_after: timedelta | None = None) -> BotDocument:
    """From the heartbeats, latest seen first; a beat older than ``stale_after`` (default:
    the heartbeat's own) is a process gone."""
    alive = [
        process_item(b, now)
        for b in beats
        if (b.alive(now, stale_after) if stale_after else b.alive(now)) and not _vanished(b)
    ]
    return {
        "running": bool(alive),
        "processes": alive,
        "last": process_item(beats[0], now) if beats else None,
    }


def next_command(key: str, state: str) -> str | None:
    """The command that settles a row in ``state``, for ``relais status``; None when it
    needs none (``bot.services.resolve`` does the settling)."""
    quoted = shlex.quote(key)
    if state == PublicationState.UNKNOWN:
        return f"relais resolve {quoted} --published [--url URL] | --resend | --skip --as NAME"
    if state == PublicationState.FAILED:
        return f"relais resolve {quoted} --resend (once the cause is fixed) | --skip --as NAME"
    if state == PublicationState.MISSED:
        return f"relais resolve {quoted} --resend | --skip --as NAME"
    return None


def status_row(row: Row, settled: Settlement | None = None, command: str | None = None) -> StatusRow:
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
        "command": command,
        "settled": None
        if settled is None
        else {
            "by": settled.actor,
            "at": settled.at.isoformat(),
            "action": settled.action,
            "was": settled.previous_state,
            "reason": settled.reason,
            "url": settled.url,
        },
    }


# -- the pre-flight ----------------------------------------------------------------------


class CheckItem(TypedDict):
    level: str  # ok, warning, error
    subject: str  # store, telegram, telegram @chat, mastodon…
    message: str
    fix: str | None


class CheckDocument(TypedDict):
    """``relais check --format json``."""

    ok: bool  # no error (warnings allowed): the exit status is 0
    errors: int
    warnings: int
    checks: list[CheckItem]


def check_document(findings: Sequence[Finding]) -> CheckDocument:
    items: list[CheckItem] = [
        {"level": str(f.level), "subject": f.subject, "message": f.message, "fix": f.fix} for f in findings
    ]
    errors = sum(i["level"] == "error" for i in items)
    return {
        "ok": not errors,
        "errors": errors,
        "warnings": sum(i["level"] == "warning" for i in items),
        "checks": items,
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
    reason_code: str | None  # a rejection's: spam, off_topic, abusive, personal_information, other
    decided_by: str | None
    decided: str | None
    version: int  # what a decision on it says it saw
    timezone: str  # the campaign's zone, which its times are given in


class CommentsDocument(TypedDict):
    """``relais comments list --format json``."""

    comments: list[CommentItem]


class EventItem(TypedDict):
    at: str
    kind: str  # collected, edited, approved, rejected, flagged, pending
    actor: str  # a moderator, the author (an edit), or "relais"
    reason: str | None
    reason_code: str | None
    previous_text: str | None  # an edit: the text before it
    decision: int | None  # the moderator's decision it belongs to (it can be undone)
    undoes: int | None  # that decision undid this one


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


def comment_item(c: Comment, zones: Zones = _utc) -> CommentItem:
    zone = zones(c.campaign)
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
        "created": c.created_at.astimezone(zone).isoformat(),
        "collected": c.collected_at.astimezone(zone).isoformat(),
        "edited": _when(c.edited_at, zone),
        "state": c.state,
        "reason": c.reason,
        "reason_code": c.reason_code,
        "decided_by": c.decided_by,
        "decided": _when(c.decided_at, zone),
        "version": c.version,
        "timezone": zone.key,
    }


def comments_document(comments: Iterable[Comment], zones: Zones = _utc) -> CommentsDocument:
    return {"comments": [comment_item(c, zones) for c in comments]}


def event_item(e: Event, zone: ZoneInfo = UTC_ZONE) -> EventItem:
    return {
        "at": e.at.astimezone(zone).isoformat(),
        "kind": e.kind,
        "actor": e.actor,
        "reason": e.reason,
        "reason_code": e.reason_code,
        "previous_text": e.previous_text,
        "decision": e.decision,
        "undoes": e.undoes,
    }


def comment_detail(detail: Detail, zones: Zones = _utc) -> CommentDetail:
    answers = detail.answers
    zone = zones(detail.comment.campaign)
    return {
        "comment": comment_item(detail.comment, zones),
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
        "parent": None if detail.parent is None else comment_item(detail.parent, zones),
        "history": [event_item(e, zone) for e in detail.history],
    }


# -- the moderators' queue and decisions -------------------------------------------------


class QueueDocument(TypedDict):
    """``relais comments list --format json`` and the desk's queue: a page of replies,
    "shown of total", the cursor of the next page, and the tabs' counts."""

    comments: list[CommentItem]
    shown: int
    total: int  # all the filter selects ("50 of 525")
    next: int | None  # ``--after`` / ``after=`` of the next page; None on the last one
    order: str  # oldest or newest (first)
    counts: dict[str, int]  # per state, every state, the filter's own states set aside


def queue_document(queue: Queue, *, newest_first: bool = False, zones: Zones = _utc) -> QueueDocument:
    page = queue.page
    return {
        "comments": [comment_item(c, zones) for c in page.comments],
        "shown": len(page.comments),
        "total": page.total,
        "next": page.next,
        "order": "newest" if newest_first else "oldest",
        "counts": {state.value: n for state, n in queue.counts.items()},
    }


class DecisionDocument(TypedDict):
    """A decision as recorded: ``relais comments approve|reject|flag|review|undo --format
    json``, and the desk's answer to a decision."""

    decision: int  # what ``undo`` takes
    state: str  # approved, rejected, flagged, pending; "undo" for an undo
    actor: str
    at: str
    reason_code: str | None
    reason: str | None
    undoes: int | None  # an undo: the decision it undid
    count: int
    comments: list[CommentItem]  # as they now stand (their new versions)


def decision_document(decision: Decision, zones: Zones = _utc) -> DecisionDocument:
    return {
        "decision": decision.id,
        "state": decision.state,
        "actor": decision.actor,
        "at": decision.at.isoformat(),
        "reason_code": decision.reason_code,
        "reason": decision.reason,
        "undoes": decision.undoes,
        "count": len(decision.comments),
        "comments": [comment_item(c, zones) for c in decision.comments],
    }


class DecisionItem(TypedDict):
    """One decision of the history (each can be undone, once)."""

    id: int
    at: str
    actor: str
    state: str
    reason_code: str | None
    reason: str | None
    count: int
    undoes: int | None
    undone_by: int | None
    undone_at: str | None


class DecisionsDocument(TypedDict):
    """``relais comments decisions --format json``: the history, newest first."""

    decisions: list[DecisionItem]


def decision_item(row: DecisionRow) -> DecisionItem:
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "actor": row.actor,
        "state": row.state,
        "reason_code": row.reason_code,
        "reason": row.reason,
        "count": row.count,
        "undoes": row.undoes,
        "undone_by": row.undone_by,
        "undone_at": row.undone_at.isoformat() if row.undone_at else None,
    }


def decisions_document(rows: Iterable[DecisionRow]) -> DecisionsDocument:
    return {"decisions": [decision_item(r) for r in rows]}


class AuthorReply(TypedDict):
    comment: CommentItem
    history: list[EventItem]


class AuthorDocument(TypedDict):
    """``relais comments author`` and the desk's author view: every reply of one author
    across campaigns, newest first, with the decisions taken."""

    network: str
    handle: str
    name: str | None
    total: int
    counts: dict[str, int]
    replies: list[AuthorReply]


def author_document(view: AuthorView, zones: Zones = _utc) -> AuthorDocument:
    return {
        "network": view.network,
        "handle": view.handle,
        "name": view.name,
        "total": view.total,
        "counts": {state.value: n for state, n in view.counts.items()},
        "replies": [
            {
                "comment": comment_item(c, zones),
                "history": [event_item(e, zones(c.campaign)) for e in view.histories.get(c.id, [])],
            }
            for c in view.comments
        ],
    }


class ConflictDocument(TypedDict):
    """What a refused decision says (the page's 409): why, and the replies as they stand."""

    error: str  # decided_meanwhile, overturning, match_changed
    message: str
    comments: list[CommentItem]


def conflict_document(error: Conflict, zones: Zones = _utc) -> ConflictDocument:
    from bot.services.moderation import DecidedMeanwhile, Overturning

    kind = (
        "decided_meanwhile"
        if isinstance(error, DecidedMeanwhile)
        else "overturning"
        if isinstance(error, Overturning)
        else "match_changed"
    )
    return {"error": kind, "message": str(error), "comments": [comment_item(c, zones) for c in error.replies]}

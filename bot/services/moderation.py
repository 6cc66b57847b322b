"""Moderation: every rule about what happens to a reply, whichever face asks (the CLI, the
web desk, Telegram buttons).

- automatic moderation: why a reply should wait for a moderator, per campaign rules
  (``auto_flags``), and what an author's edit does to a decision (``after_edit``);
- the moderators' queue: replies selected by state, words, campaign, network, language,
  author and date, a page at a time behind a stable cursor, with counts per state;
- one reply with its context (the post or reply it answers) and its history;
- decisions: on one reply or many, all or nothing, recorded with who, when and why, and
  refused when someone decided the reply (or its author edited it) since the moderator saw
  it (``DecidedMeanwhile``).

The errors are small typed exceptions whose message is one line for a person; each face
says it its own way (the CLI adds a hint, the page a 409).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.clock import Clock
from bot.domain import CommentState, Moderation, Reply
from bot.store.comments import Comment, CommentQuery, CommentStore, Event, Verdict
from bot.store.ledger import Ledger, Row

__all__ = [  # CommentQuery too: the faces build queries without reaching into the store
    "PAGE_SIZE",
    "CommentQuery",
    "DecidedMeanwhile",
    "Detail",
    "InvalidRequest",
    "ModerationError",
    "ModerationService",
    "NoSuchReply",
    "Page",
    "after_edit",
    "auto_flags",
]

PAGE_SIZE = 50
ACTOR_LENGTH = 200  # what the store keeps of a moderator's name
_LINK = re.compile(
    r"(?i)\b(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|org|net|info|ca|fr|io|ly|me|co)(?:/\S*)?\b"
)


# -- errors ----------------------------------------------------------------------------


class ModerationError(Exception):
    """A request the moderation rules refuse; the message says why, in one line."""


class NoSuchReply(ModerationError):
    """No reply has this id (never collected, or deleted by its author since)."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = sorted(ids)
        super().__init__(f"no reply {', '.join(map(str, self.ids))}")


class DecidedMeanwhile(ModerationError):
    """Someone decided these replies (or their authors edited them) after the moderator saw
    them: nothing was decided. ``replies`` holds them as they now stand."""

    def __init__(self, replies: Sequence[Comment]) -> None:
        self.replies = list(replies)
        said = "; ".join(_what_happened(c) for c in self.replies)
        super().__init__(f"changed since you saw it: {said}")


class InvalidRequest(ModerationError):
    """A request that cannot mean anything (a page of no reply, a decision by nobody)."""


def _what_happened(c: Comment) -> str:
    who = f" by {c.decided_by}" if c.decided_by else ""
    when = f" at {c.decided_at:%Y-%m-%d %H:%M} UTC" if c.decided_at else ""
    return f"reply {c.id} is {c.state}{who}{when} (version {c.version})"


# -- automatic moderation ----------------------------------------------------------------


def _fold(text: str) -> str:
    """Lowercase without accents, so "Casino", "CASINÒ" and "casino" are the same word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def auto_flags(reply: Reply, rules: Moderation, *, repeated: bool) -> tuple[str, ...]:
    """The reasons to hold ``reply`` for review, each written for the moderator."""
    reasons = []
    folded = _fold(reply.text)
    banned = [w for w in rules.banned_words if re.search(rf"(?<!\w){re.escape(_fold(w))}(?!\w)", folded)]
    if banned:
        reasons.append(f"contains a banned word ({', '.join(banned)})")
    if rules.hold_links and _LINK.search(reply.text):
        reasons.append("contains a link")
    if repeated:
        reasons.append("the same text was already posted by this author")
    return tuple(reasons)


def after_edit(state: str, flags: tuple[str, ...]) -> Verdict | None:
    """What an author's edit does to a reply's moderation (``flags``: the reasons the new
    text gives to hold it). A decision was about the old text: an approved or rejected reply
    goes back to review, flagged and saying why; a pending reply the new text gives a reason
    to hold is flagged; otherwise nothing changes (a flagged reply stays flagged)."""
    if state in (CommentState.APPROVED, CommentState.REJECTED):
        why = f"edited after it was {state}"
        return Verdict(CommentState.FLAGGED, "; ".join((why, *flags)), why)
    if flags and state == CommentState.PENDING:
        return Verdict(CommentState.FLAGGED, "; ".join(flags), "; ".join(flags))
    return None


# -- the moderators' queue ---------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """A page of the queue: ``comments`` in order, ``total`` matching the query in all,
    and ``next``, the cursor of the following page (None on the last one)."""

    comments: list[Comment]
    total: int
    next: int | None


@dataclass(frozen=True)
class Detail:
    """One reply with its context and its history."""

    comment: Comment
    history: list[Event]  # oldest first
    answers: Row | None  # the publication it answers, as the ledger has it
    parent: Comment | None  # the stored reply it answers, when it answers one


class ModerationService:
    """The moderation rules over a comment store; ``clock`` dates the decisions."""

    def __init__(self, store: CommentStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def page(
        self,
        query: CommentQuery | None = None,
        *,
        after: int | None = None,
        limit: int | None = PAGE_SIZE,
        newest_first: bool = False,
    ) -> Page:
        """The replies ``query`` selects, oldest first unless ``newest_first``, ``limit`` at
        a time (None: all), from the one after the cursor ``after`` (a page's ``next``)."""
        if limit is not None and limit < 1:
            raise InvalidRequest(f"a page holds at least one reply, not {limit}")
        query = query or CommentQuery()
        if query.since and query.until and query.since >= query.until:
            raise InvalidRequest("the date range is empty: its start is not before its end")
        found = self.store.find(
            query, after=after, limit=None if limit is None else limit + 1, newest_first=newest_first
        )
        more = limit is not None and len(found) > limit
        shown = found[:limit] if more else found
        total = len(found) if limit is None and after is None else self.store.count(query)
        return Page(shown, total, shown[-1].id if more else None)

    def counts(self, query: CommentQuery | None = None) -> dict[CommentState, int]:
        """How many replies in each state (every state, 0 included) among those ``query``
        selects, its states set aside: the tabs of a queue."""
        found = self.store.counts(query)
        return {state: found.get(state.value, 0) for state in CommentState}

    def show(self, comment_id: int) -> Detail:
        """One reply, what it answers and its history."""
        found = self.store.get(comment_id)
        if found is None:
            raise NoSuchReply([comment_id])
        comment, history = found
        answers = None
        if comment.publication_key:
            ledger = Ledger(self.store.engine, "moderation")
            answers = ledger.rows([comment.publication_key]).get(comment.publication_key)
        parent = None
        if comment.in_reply_to:
            parent = self.store.by_remote_id(comment.network, comment.in_reply_to)
        return Detail(comment, history, answers, parent)

    def decide(
        self,
        ids: Sequence[int],
        state: CommentState,
        *,
        actor: str,
        reason: str | None = None,
        seen: Mapping[int, int] | None = None,
    ) -> list[Comment]:
        """Record ``actor``'s decision on each reply of ``ids``, all or nothing; returns them
        as they now stand (their new versions). ``seen`` gives the version the moderator saw
        of some or all of them: a reply whose version moved on since (someone decided it, its
        author edited it) refuses the whole batch (``DecidedMeanwhile``); one without a
        version seen is decided as it stands. An approval queues the reply's acknowledgement
        in the same transaction; a reply decided again gets the decision again (it is in its
        history twice), its acknowledgement still going out once."""
        actor = actor.strip()
        if not actor:
            raise InvalidRequest("a decision needs the moderator's name")
        if len(actor) > ACTOR_LENGTH:
            raise InvalidRequest(f"a moderator's name has at most {ACTOR_LENGTH} characters")
        wanted = list(dict.fromkeys(ids))
        seen = seen or {}
        with self.store.deciding(wanted) as batch:
            missing = [i for i in wanted if i not in batch.current]
            if missing:
                raise NoSuchReply(missing)
            moved = [batch.current[i] for i in wanted if i in seen and batch.current[i].version != seen[i]]
            if moved:
                raise DecidedMeanwhile(moved)
            return batch.record(
                wanted,
                state,
                actor=actor,
                reason=reason,
                now=self.clock.now(),
                acknowledge=state == CommentState.APPROVED,
            )

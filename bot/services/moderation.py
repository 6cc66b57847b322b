"""Moderation: every rule about what happens to a reply, whichever face asks (the CLI, the
web desk, Telegram buttons).

- automatic moderation: why a reply should wait for a moderator, per campaign rules
  (``auto_flags``), and what an author's edit does to a decision (``after_edit``);
- the moderators' queue: replies selected by state, words, campaign, network, language,
  author and date, a page at a time behind a stable cursor, with counts per state;
- one reply with its context (the post or reply it answers) and its history;
- decisions: approve, reject (with a ``ReasonCode``), flag, back to review; on one reply,
  many, or all those a filter selects; all or nothing, recorded with who, when and why;
  refused when someone decided the reply (or its author edited it) since the moderator saw
  it (``DecidedMeanwhile``) or when it would overturn a colleague's approval or rejection
  (``Overturning``), unless forced;
- undo: a moderator's last decision, or any decision of the history;
- the author view: every reply of one author, across campaigns, with its decisions.

The faces call (see each method): ``page``, ``counts``, ``show``, ``author``, ``decide``,
``decide_matching``, ``undo``, ``undo_last``, ``decisions``; ``bot.services.documents``
turns what they return into the documents the CLI prints and the page renders.

The errors are small typed exceptions whose message is one line for a person; each face
says it its own way (the CLI adds a hint, the page a 409).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.domain import TEXT_CRITERIA, CommentQuery, CommentState, Moderation, ReasonCode, Reply, storable
from bot.store.comments import SYSTEM_ACTOR, Comment, CommentStore, Decisions, Event, Verdict
from bot.store.decisions import UNDO, Change, DecisionLog, DecisionRow
from bot.store.ledger import Ledger, Row

__all__ = [  # CommentQuery and ReasonCode too (bot.domain's): the faces need not look elsewhere
    "PAGE_SIZE",
    "AuthorView",
    "CommentQuery",
    "Conflict",
    "DecidedMeanwhile",
    "Decision",
    "DecisionRow",
    "Detail",
    "InvalidRequest",
    "Match",
    "MatchChanged",
    "ModerationError",
    "ModerationService",
    "NoSuchDecision",
    "NoSuchReply",
    "NotYours",
    "Overturning",
    "Page",
    "Queue",
    "ReasonCode",
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


class NoSuchDecision(ModerationError):
    """No decision has this id, or the moderator has none left to undo."""


class Conflict(ModerationError):
    """What the moderator saw is no longer so, or the decision would undo a colleague's:
    nothing was decided (a page answers 409). ``replies`` holds them as they now stand."""

    def __init__(self, message: str, replies: Sequence[Comment]) -> None:
        self.replies = list(replies)
        super().__init__(message)


class DecidedMeanwhile(Conflict):
    """Someone decided these replies (or their authors edited them) after the moderator saw
    them: nothing was decided. ``replies`` holds them as they now stand."""

    def __init__(self, replies: Sequence[Comment]) -> None:
        said = "; ".join(_what_happened(c) for c in replies)
        super().__init__(f"changed since you saw it: {said}", replies)


class Overturning(Conflict):
    """The decision would overturn another moderator's approval or rejection of these
    replies: nothing was decided; decide again with ``force`` to overturn it."""

    def __init__(self, replies: Sequence[Comment]) -> None:
        said = "; ".join(_what_happened(c) for c in replies)
        super().__init__(f"a colleague decided it: {said}", replies)


class NotYours(Overturning):
    """Undoing a colleague's decision overturns it: refused, saying whose, unless forced."""

    def __init__(self, decision_id: int, actor: str, replies: Sequence[Comment]) -> None:
        Conflict.__init__(self, f"decision {decision_id} is {actor}'s, not yours", replies)
        self.decision_id = decision_id
        self.actor = actor


class MatchChanged(Conflict):
    """A decision on "all N matching this filter" found another number: nothing was decided."""

    def __init__(self, expected: int, found: Sequence[Comment]) -> None:
        said = (
            f"the filter now selects {len(found)} replies, not the {expected} you saw"
            if len(found) != expected
            else f"the {expected} replies the filter selects are not those you saw"
        )
        super().__init__(said, found)
        self.expected = expected


@dataclass(frozen=True)
class Match:
    """What a filter selects, as a moderator is asked to confirm it: how many replies, and
    a fingerprint of which (their ids and versions), so that the decision confirmed is
    refused if other replies now make up the same number."""

    count: int
    fingerprint: str


def fingerprint(versions: Sequence[tuple[int, int]]) -> str:
    """A short digest of replies' ids and versions (``Match.fingerprint``)."""
    return hashlib.sha256(",".join(f"{i}:{v}" for i, v in versions).encode()).hexdigest()[:32]


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


# The reasons Relais itself gives to hold a reply, as stored (in English; the desk says them
# in the moderator's language: ``bot.web.i18n.flag``).
BANNED_WORDS = "contains a banned word ({words})"
HAS_LINK = "contains a link"
REPEATED = "the same text was already posted by this author"
EDITED = "edited after it was {state}"


def auto_flags(reply: Reply, rules: Moderation, *, repeated: bool) -> tuple[str, ...]:
    """The reasons to hold ``reply`` for review, each written for the moderator."""
    reasons = []
    folded = _fold(reply.text)
    banned = [w for w in rules.banned_words if re.search(rf"(?<!\w){re.escape(_fold(w))}(?!\w)", folded)]
    if banned:
        reasons.append(BANNED_WORDS.format(words=", ".join(banned)))
    if rules.hold_links and _LINK.search(reply.text):
        reasons.append(HAS_LINK)
    if repeated:
        reasons.append(REPEATED)
    return tuple(reasons)


def after_edit(state: str, flags: tuple[str, ...]) -> Verdict | None:
    """What an author's edit does to a reply's moderation (``flags``: the reasons the new
    text gives to hold it). A decision was about the old text: an approved or rejected reply
    goes back to review, flagged and saying why; a pending reply the new text gives a reason
    to hold is flagged; otherwise nothing changes (a flagged reply stays flagged)."""
    if state in (CommentState.APPROVED, CommentState.REJECTED):
        why = EDITED.format(state=state)
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
class Queue:
    """What a queue shows at once: a page and the tabs' counts under the same filter."""

    page: Page
    counts: dict[CommentState, int]  # every state, its own state set aside (the tabs)


@dataclass(frozen=True)
class Decision:
    """A decision as recorded: ``state`` is what it made the replies (``undo``: each got
    back what it had before decision ``undoes``); ``comments`` as they now stand."""

    id: int
    state: str
    actor: str
    at: datetime
    reason_code: str | None
    reason: str | None
    comments: list[Comment]
    undoes: int | None = None


@dataclass(frozen=True)
class AuthorView:
    """Every reply of one author across campaigns, newest first, with each one's history."""

    network: str
    handle: str
    name: str | None  # as their latest reply gives it
    comments: list[Comment]
    total: int  # all their replies (``comments`` may hold fewer)
    counts: dict[CommentState, int]
    histories: dict[int, list[Event]]


@dataclass(frozen=True)
class Detail:
    """One reply with its context and its history."""

    comment: Comment
    history: list[Event]  # oldest first
    answers: Row | None  # the publication it answers, as the ledger has it
    parent: Comment | None  # the stored reply it answers, when it answers one


class ModerationService:
    """The moderation rules over a comment store; ``clock`` dates the decisions.

    ``acknowledges`` says whether a campaign asks for approved replies to be acknowledged;
    without it every approval queues one, and the acknowledgement worker, which reads the
    campaign files, skips those whose campaign does not ask."""

    def __init__(
        self,
        store: CommentStore,
        clock: Clock,
        *,
        acknowledges: Callable[[str | None], bool] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.acknowledges = acknowledges
        self.log = DecisionLog(store.engine)

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
        query = _checked(query)
        found = self.store.find(
            query, after=after, limit=None if limit is None else limit + 1, newest_first=newest_first
        )
        more = limit is not None and len(found) > limit
        shown = found[:limit] if more else found
        total = len(found) if limit is None and after is None else self.store.count(query)
        return Page(shown, total, shown[-1].id if more else None)

    def queue(
        self,
        query: CommentQuery | None = None,
        *,
        after: int | None = None,
        limit: int = PAGE_SIZE,
        newest_first: bool = False,
    ) -> Queue:
        """``page`` and ``counts`` at once, the page's total taken from the counts (one
        count instead of two): what the desk's queue and ``comments list`` show."""
        query = _checked(query)
        if limit < 1:
            raise InvalidRequest(f"a page holds at least one reply, not {limit}")
        counts = self.counts(query)
        found = self.store.find(query, after=after, limit=limit + 1, newest_first=newest_first)
        more = len(found) > limit
        shown = found[:limit]
        total = sum(n for state, n in counts.items() if not query.states or state.value in query.states)
        return Queue(Page(shown, total, shown[-1].id if more else None), counts)

    def position(self, query: CommentQuery | None, after: int, *, newest_first: bool = False) -> int:
        """Where the page that follows the cursor ``after`` starts among the replies
        ``query`` selects (1: the first), as they now stand: "51–100 of 525"."""
        return self.store.count(_checked(query), up_to=after, newest_first=newest_first) + 1

    def counts(self, query: CommentQuery | None = None) -> dict[CommentState, int]:
        """How many replies in each state (every state, 0 included) among those ``query``
        selects, its states set aside: the tabs of a queue."""
        found = self.store.counts(_checked(query))
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

    def existing(self, ranges: Sequence[tuple[int, int]]) -> list[int]:
        """The ids of the replies stored within these ranges (first and last included):
        a range (``12-40``) stands for those, its gaps left by deleted replies skipped."""
        return self.store.ids_within(ranges)

    def author(self, network: str, handle: str, *, limit: int = 200) -> AuthorView:
        """Every reply of the author ``handle`` (as shown, or the network's id) on
        ``network``, newest first (``limit`` of them), with their histories and counts."""
        query = CommentQuery(network=network, author=handle)
        page = self.page(query, limit=limit, newest_first=True)
        name = page.comments[0].author_name if page.comments else None
        histories = self.store.histories(c.id for c in page.comments)
        counts = {state: n for state, n in self.counts(query).items()}
        return AuthorView(network, handle, name, page.comments, page.total, counts, histories)

    def decide(
        self,
        ids: Sequence[int],
        state: CommentState,
        *,
        actor: str,
        reason: str | None = None,
        reason_code: str | None = None,
        seen: Mapping[int, int] | None = None,
        force: bool = False,
    ) -> Decision:
        """Record ``actor``'s decision on each reply of ``ids``, all or nothing.

        ``state``: approved, rejected (``reason_code`` required: a ``ReasonCode``), flagged,
        or pending (back to review); ``reason``: free text. ``seen`` gives the version the
        moderator saw of some or all of them: a reply whose version moved on since (someone
        decided it, its author edited it) refuses the whole batch (``DecidedMeanwhile``);
        one without a version seen is decided as it stands. A reply another moderator
        approved or rejected, given another state, refuses it too (``Overturning``).
        ``force`` overrides both. An approval queues the reply's acknowledgement in the
        same transaction. Returns the decision with the replies as they now stand."""
        actor, reason, code = _decision(state, actor, reason, reason_code)
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            raise InvalidRequest("a decision needs at least one reply")
        seen = seen or {}
        with self.store.deciding(wanted) as batch:
            missing = [i for i in wanted if i not in batch.current]
            if missing:
                raise NoSuchReply(missing)
            if not force:
                moved = [
                    batch.current[i] for i in wanted if i in seen and batch.current[i].version != seen[i]
                ]
                if moved:
                    raise DecidedMeanwhile(moved)
            return self._record(batch, wanted, state, actor, reason, code, force)

    def decide_matching(
        self,
        query: CommentQuery,
        state: CommentState,
        *,
        actor: str,
        reason: str | None = None,
        reason_code: str | None = None,
        expected: int | None = None,
        force: bool = False,
        match: str | None = None,
    ) -> Decision:
        """``decide`` on every reply ``query`` selects ("all N matching this filter"), as
        one transaction finds them: ``expected``, the number the moderator was shown,
        refuses the decision if the filter now selects another number (``MatchChanged``),
        and ``match``, the fingerprint of the replies shown (``matching``), if they are
        not the same replies. A filter that selects nothing is refused (``InvalidRequest``)."""
        actor, reason, code = _decision(state, actor, reason, reason_code)
        with self.store.deciding_matching(_checked(query)) as batch:
            found = list(batch.current.values())
            if expected is not None and len(found) != expected:
                raise MatchChanged(expected, found)
            if match is not None and fingerprint([(c.id, c.version) for c in found]) != match:
                raise MatchChanged(len(found) if expected is None else expected, found)
            if not found:
                raise InvalidRequest("no reply matches this filter: nothing to decide")
            return self._record(batch, list(batch.current), state, actor, reason, code, force)

    def matching(self, query: CommentQuery) -> Match:
        """What ``query`` selects, for a moderator to confirm "all N matching" (then
        ``decide_matching`` with its count and fingerprint)."""
        return Match(*_counted(self.store.versions(_checked(query))))

    def undo(self, decision_id: int, *, actor: str, force: bool = False) -> Decision:
        """Undo decision ``decision_id`` (any time): each of its replies still stored gets
        back the moderation it had before it; recorded as ``actor``'s decision. Refused if a
        reply moved on since that decision (decided again, edited: ``DecidedMeanwhile``) or
        if it is a colleague's (``NotYours``: undoing it overturns it) unless ``force``, and
        if it was undone already."""
        actor = _moderator(actor)
        if self.log.get(decision_id) is None:
            raise NoSuchDecision(f"no decision {decision_id}")
        changes = self.log.changes(decision_id)
        with self.store.deciding([c.comment_id for c in changes]) as batch:
            decision = batch.decision(decision_id)
            assert decision is not None  # decisions are never deleted
            if decision.undone_by is not None:
                raise InvalidRequest(
                    f"decision {decision_id} was already undone (by decision {decision.undone_by})"
                )
            present = [c for c in changes if c.comment_id in batch.current]
            moved = [
                batch.current[c.comment_id] for c in present if not _stands(c, batch.current[c.comment_id])
            ]
            if moved and not force:
                raise DecidedMeanwhile(moved)
            if decision.actor != actor and not force:
                raise NotYours(decision_id, decision.actor, [batch.current[c.comment_id] for c in present])
            now = self.clock.now()
            undone, after = batch.restore(
                present, undoes=decision_id, actor=actor, now=now, acknowledge=False
            )
            self._unacknowledged(batch, [c for c in after if c.state == CommentState.APPROVED])
        return Decision(undone, UNDO, actor, now, None, None, after, decision_id)

    def undo_last(self, actor: str, *, force: bool = False, within: timedelta | None = None) -> Decision:
        """Undo ``actor``'s latest decision not undone yet (each call goes one further back);
        ``within``: only one taken that recently (the desk's ``u`` key: a decision just
        taken, never one from an hour ago that a reload made the latest)."""
        actor = _moderator(actor)
        last = self.log.last(actor)
        if last is None:
            raise NoSuchDecision(f"{actor} has no decision left to undo")
        if within is not None and last.at < self.clock.now() - within:
            raise NoSuchDecision(
                f"{actor}'s last decision ({last.id}) is older than {int(within.total_seconds())} s: "
                "undo it from the history"
            )
        return self.undo(last.id, actor=actor, force=force)

    def decisions(
        self, *, actor: str | None = None, before: int | None = None, limit: int = 50
    ) -> list[DecisionRow]:
        """The decisions, newest first (``actor``'s only, if given), ``limit`` at a time from
        the one before the cursor ``before`` (the last id of the previous page)."""
        if limit < 1:
            raise InvalidRequest(f"a page holds at least one decision, not {limit}")
        return self.log.history(actor=actor, before=before, limit=limit)

    def _record(
        self,
        batch: Decisions,
        ids: list[int],
        state: CommentState,
        actor: str,
        reason: str | None,
        reason_code: str | None,
        force: bool,
    ) -> Decision:
        if not force:
            overturned = [batch.current[i] for i in ids if _overturns(batch.current[i], state, actor)]
            if overturned:
                raise Overturning(overturned)
        now = self.clock.now()
        approving = state == CommentState.APPROVED
        decision, after = batch.record(
            ids, state, actor=actor, reason=reason, reason_code=reason_code, now=now, acknowledge=False
        )
        if approving:
            self._unacknowledged(batch, after)
        return Decision(decision, state.value, actor, now, reason_code, reason, after)

    def _unacknowledged(self, batch: Decisions, approved: Sequence[Comment]) -> None:
        """Queue the acknowledgement of these approved replies whose campaign asks for one."""
        wanted = [c.id for c in approved if self.acknowledges is None or self.acknowledges(c.campaign)]
        if wanted:
            batch.acknowledge(wanted, self.clock.now())


def _checked(query: CommentQuery | None) -> CommentQuery:
    """``query`` checked, its words made storable: a NUL or a lone surrogate (a pasted
    text, a form) selects nothing rather than failing the store (PITFALLS)."""
    query = query or CommentQuery()
    unstorable: dict[str, Any] = {
        name: storable(value)
        for name in TEXT_CRITERIA
        if isinstance(value := getattr(query, name), str) and storable(value) != value
    }
    if unstorable:
        query = replace(query, **unstorable)
    if query.since and query.until and query.since >= query.until:
        raise InvalidRequest("the date range is empty: its start is not before its end")
    if query.reason_code and query.reason_code not in set(ReasonCode):
        raise InvalidRequest(f"no reason code {query.reason_code!r}: {', '.join(ReasonCode)}")
    return query


def _counted(versions: list[tuple[int, int]]) -> tuple[int, str]:
    return len(versions), fingerprint(versions)


def _stands(change: Change, now: Comment) -> bool:
    """Whether ``now`` still has the moderation ``change`` gave it: its version, or (after
    a later decision was undone) the very same state, reason, moderator and time."""
    return now.version == change.version or change.stands(
        now.state, now.reason, now.reason_code, now.decided_by, now.decided_at
    )


def _moderator(actor: str) -> str:
    actor = storable(actor).strip()
    if not actor:
        raise InvalidRequest("a decision needs the moderator's name")
    if len(actor) > ACTOR_LENGTH:
        raise InvalidRequest(f"a moderator's name has at most {ACTOR_LENGTH} characters")
    if actor == SYSTEM_ACTOR:
        raise InvalidRequest(f"{SYSTEM_ACTOR!r} is Relais's own name, not a moderator's")
    return actor


def _decision(
    state: CommentState, actor: str, reason: str | None, reason_code: str | None
) -> tuple[str, str | None, str | None]:
    """The moderator, the reason and its code of a decision, checked."""
    actor = _moderator(actor)
    reason = storable(reason) if reason and reason.strip() else None  # kept as written
    if state == CommentState.REJECTED:
        if reason_code is None:
            raise InvalidRequest(f"a rejection needs a reason code: {', '.join(ReasonCode)}")
        if reason_code not in set(ReasonCode):
            raise InvalidRequest(f"no reason code {reason_code!r}: {', '.join(ReasonCode)}")
    elif reason_code is not None:
        raise InvalidRequest("only a rejection takes a reason code")
    return actor, reason, reason_code


def _overturns(current: Comment, state: CommentState, actor: str) -> bool:
    """Whether deciding ``state`` on ``current`` undoes another moderator's approval or
    rejection (a flag, Relais's own or a colleague's, asks for exactly that decision)."""
    return (
        current.state in (CommentState.APPROVED, CommentState.REJECTED)
        and current.state != state
        and current.decided_by not in (None, SYSTEM_ACTOR, actor)
    )

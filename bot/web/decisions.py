"""Decisions from the page: on one reply, on the ones selected, or on all the replies a
filter matches (after a confirmation that names how many), and undoing one. Each carries
the versions the moderator saw; every rule is the moderation service's. When a colleague
decided meanwhile (or the decision would overturn theirs), nothing is decided and the
answer says who and what: a 409 page, or JSON for the page's script."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from bot.domain import CommentState
from bot.services.documents import conflict_document, decision_document, decisions_document
from bot.services.moderation import Conflict as Refused
from bot.services.moderation import (
    Decision,
    InvalidRequest,
    MatchChanged,
    NoSuchDecision,
    NoSuchReply,
    NotYours,
    Overturning,
)
from bot.store.comments import Comment
from bot.web.errors import Conflict, DeskError, NotFound, wants_json
from bot.web.i18n import N_
from bot.web.login import _next
from bot.web.pages import checked_form, desk, language, moderator, render
from bot.web.queue import selection

ACTIONS = {
    "approve": CommentState.APPROVED,
    "reject": CommentState.REJECTED,
    "flag": CommentState.FLAGGED,
    "review": CommentState.PENDING,
}
NOTE_LENGTH = 500
UNDO_WINDOW = timedelta(seconds=30)  # `u` undoes a decision just taken; older ones from the history
PAGE = 50  # decisions a page of the history


def _versions(form: FormData) -> dict[int, int]:
    """The versions the moderator saw: ``v`` fields written ``id:version``."""
    seen: dict[int, int] = {}
    for value in form.getlist("v"):
        left, _, right = str(value).partition(":")
        if _number(left) and _number(right):
            seen[int(left)] = int(right)
    return seen


def _number(text: str) -> bool:
    """An id or a version as a form gives it: ASCII digits (``int`` reads ``١٢`` too)."""
    return text.isascii() and text.isdigit() and len(text) < 12


def _ids(values: list[Any]) -> list[int]:
    found = [int(v) for v in map(str, values) if _number(v)]
    if len(found) != len(values):
        raise DeskError("A reply is named by its number.")
    return found


def _why(form: FormData, state: CommentState) -> tuple[str | None, str | None]:
    """The reason code (a rejection's, from the short list) and the moderator's note."""
    code = str(form.get("code") or "") or None  # "reason" is the queue's filter by flag reason
    note = str(form.get("note") or "").strip()[:NOTE_LENGTH] or None
    if state == CommentState.REJECTED and code is None:
        raise DeskError("Choose why the reply is rejected.")
    return (code if state == CommentState.REJECTED else None), note


def _state(form: FormData, name: str | None = None) -> CommentState:
    state = ACTIONS.get(name if name is not None else str(form.get("action") or ""))
    if state is None:
        raise DeskError("Choose what to do: approve, reject, flag or back to review.")
    return state


async def decide(request: Request) -> Response:
    """A reply's own button (``one`` = ``id:action``), or the selection (``ids``) with the
    action chosen; ``scope=matching`` asks to confirm a decision on the whole filter."""
    me = await moderator(request)
    form = await checked_form(request)
    if form.get("scope") == "matching":
        return await _confirm(request, form)
    one = str(form.get("one") or "")
    if one:
        reply, _, action = one.partition(":")
        ids, state = _ids([reply]), _state(form, action)
    else:
        ids, state = _ids(form.getlist("ids")), _state(form)
    if not ids:
        raise DeskError("Select at least one reply.")
    code, note = _why(form, state)
    here = desk(request)
    seen = {i: v for i, v in _versions(form).items() if i in ids}
    with _refusals(request, form):
        decision = await here.run(
            here.moderation.decide,
            ids,
            state,
            actor=me.name,
            reason=note,
            reason_code=code,
            seen=seen,
            force=form.get("force") == "1",
        )
    return _decided(request, form, decision)


async def decide_matching(request: Request) -> Response:
    """The confirmed "all N matching": decided if the filter still selects N replies."""
    me = await moderator(request)
    form = await checked_form(request)
    here = desk(request)
    chosen = selection(form)
    state = _state(form)
    code, note = _why(form, state)
    expected = _ids([form.get("expected") or ""])[0]
    match = str(form.get("match") or "")
    if not match:  # the confirmation names which replies, not only how many
        raise DeskError("This form has expired or did not come from the desk: reload the page and try again.")
    with _refusals(request, form):
        decision = await here.run(
            here.moderation.decide_matching,
            chosen.query(here, language(request)),
            state,
            actor=me.name,
            reason=note,
            reason_code=code,
            expected=expected,
            force=form.get("force") == "1",
            match=match,
        )
    return _decided(request, form, decision)


async def undo(request: Request) -> Response:
    """Undo a decision (``decision``, from the history or the notice after deciding), or
    the moderator's own latest one if taken within ``UNDO_WINDOW`` (no ``decision``: the
    ``u`` key)."""
    me = await moderator(request)
    form = await checked_form(request)
    here = desk(request)
    given = str(form.get("decision") or "")
    with _refusals(request, form):
        if given:
            force = form.get("force") == "1"  # a colleague's: the 409 page's button
            decision = await here.run(here.moderation.undo, _ids([given])[0], actor=me.name, force=force)
        else:
            decision = await here.run(here.moderation.undo_last, me.name, within=UNDO_WINDOW)
    return _decided(request, form, decision)


async def _confirm(request: Request, form: FormData) -> Response:
    here = desk(request)
    chosen = selection(form)
    state = _state(form)
    code, note = _why(form, state)  # refused now rather than after the confirmation
    match = await here.run(here.moderation.matching, chosen.query(here, language(request)))
    count = match.count
    if not count:
        raise DeskError("No reply matches this filter: nothing to decide.")
    document = {
        "action": str(form.get("action")),
        "state": state.value,
        "count": count,
        "match": match.fingerprint,
        "filters": chosen.filters,
        "tab": chosen.tab,
        "code": code or "",
        "note": note or "",
        "back": chosen.address(),
    }
    return await render(request, "confirm.html", document)


class _refusals:
    """The service's refusals as the desk's errors (a 409 names who decided what)."""

    def __init__(self, request: Request, form: FormData) -> None:
        self.form = form
        self.zones = desk(request).zone

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> None:
        back = _next(self.form.get("back"))
        if isinstance(error, Refused):
            said = conflict_document(error, self.zones)
            if isinstance(error, NotYours):
                message = N_("This decision is a colleague's: nothing was undone.")
                retry: dict[str, Any] | None = {"undo": error.decision_id}
            elif isinstance(error, Overturning):
                message = N_("A colleague already decided these replies: nothing was decided.")
                retry = _retry(self.form, error.replies)
            elif isinstance(error, MatchChanged):
                message = N_(
                    "The replies matching this filter changed since you confirmed: nothing was decided."
                )
                retry = None
            else:
                message = N_("Someone decided these replies since you saw them: nothing was decided.")
                retry = None
            comments = said["comments"][:50]
            raise Conflict(message, kind=said["error"], comments=comments, back=back, retry=retry) from None
        if isinstance(error, NoSuchReply):
            raise NotFound("This reply no longer exists (its author may have deleted it).", ids=error.ids)
        if isinstance(error, NoSuchDecision):
            raise NotFound("There is no decision left to undo.")
        if isinstance(error, InvalidRequest):
            raise DeskError("The moderation rules refuse this request.", reason=str(error)) from None


def _retry(form: FormData, replies: list[Comment]) -> dict[str, Any] | None:
    """What the 409 page sends to overturn a colleague's decision anyway: the same
    decision, on the versions now seen."""
    action = str(form.get("action") or "")
    one = str(form.get("one") or "")
    if one:
        action = one.partition(":")[2]
    if action not in ACTIONS or form.get("scope") == "matching" or form.get("expected"):
        return None
    return {
        "action": action,
        "code": str(form.get("code") or ""),
        "note": str(form.get("note") or ""),
        "ids": [c.id for c in replies],
        "versions": [f"{c.id}:{c.version}" for c in replies],
    }


def _decided(request: Request, form: FormData, decision: Decision) -> Response:
    if wants_json(request):
        return JSONResponse(decision_document(decision, desk(request).zone))
    back = _next(form.get("back"))
    joiner = "&" if "?" in back else "?"
    done = f"done={len(decision.comments)}&as={decision.state}&decision={decision.id}"
    return RedirectResponse(f"{back}{joiner}{done}", status_code=303)


async def decisions_page(request: Request) -> Response:
    """The decisions, newest first (the moderator's own with ``mine=1``), 50 a page: each
    can be undone from here, any time, once."""
    me = await moderator(request)
    here = desk(request)
    params = request.query_params
    mine = params.get("mine") == "1"
    before = params.get("before", "")
    cursor = int(before) if _number(before) else None
    rows = await here.run(
        here.moderation.decisions, actor=me.name if mine else None, before=cursor, limit=PAGE + 1
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    following = f"/decisions?{'mine=1&' if mine else ''}before={rows[-1].id}" if more else None
    document = {"decisions": rows, "mine": mine, "next": following}
    return await render(request, "decisions.html", document, data=decisions_document(rows))

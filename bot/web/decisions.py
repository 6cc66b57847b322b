"""Decisions from the page: on one reply, on the ones selected, or on all the replies a
filter matches (after a confirmation that names how many). Each carries the versions the
moderator saw; when a colleague decided meanwhile nothing is decided and the answer says
who and what (a 409 page, or JSON for the page's script)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from bot.domain import CommentState
from bot.services.moderation import DecidedMeanwhile, InvalidRequest, NoSuchReply
from bot.store.comments import Comment
from bot.web.errors import Conflict, DeskError, NotFound, wants_json
from bot.web.login import _next
from bot.web.pages import checked_form, desk, moderator, render
from bot.web.queue import REASONS, selection

ACTIONS = {
    "approve": CommentState.APPROVED,
    "reject": CommentState.REJECTED,
    "flag": CommentState.FLAGGED,
    "review": CommentState.PENDING,
}
NOTE_LENGTH = 500


def _versions(form: FormData) -> dict[int, int]:
    """The versions the moderator saw: ``v`` fields written ``id:version``."""
    seen: dict[int, int] = {}
    for value in form.getlist("v"):
        left, _, right = str(value).partition(":")
        if left.isdigit() and right.isdigit():
            seen[int(left)] = int(right)
    return seen


def _ids(values: list[Any]) -> list[int]:
    found = [int(v) for v in map(str, values) if v.isdigit() and len(v) < 12]
    if len(found) != len(values):
        raise DeskError("A reply is named by its number.")
    return found


def _reason(form: FormData, state: CommentState) -> str | None:
    """Why, as the archive keeps it: a reason from the short list for a rejection (and
    the moderator's words, if any)."""
    code = str(form.get("reason") or "")
    note = " ".join(str(form.get("note") or "").split())[:NOTE_LENGTH]
    if state == CommentState.REJECTED:
        if code not in REASONS:
            raise DeskError("Choose why the reply is rejected.")
        return f"{code}: {note}" if note else code
    return note or None


def _action(form: FormData) -> tuple[list[int], CommentState]:
    """Which replies and what: a reply's own button (``one`` = ``id:action``), or the
    selection (``ids``) with the action chosen (``action``)."""
    one = str(form.get("one") or "")
    if one:
        reply, _, action = one.partition(":")
        ids, name = _ids([reply]), action
    else:
        ids, name = _ids(form.getlist("ids")), str(form.get("action") or "")
    if name not in ACTIONS:
        raise DeskError("Choose what to do: approve, reject, flag or back to review.")
    if not ids:
        raise DeskError("Select at least one reply.")
    return ids, ACTIONS[name]


async def decide(request: Request) -> Response:
    me = await moderator(request)
    form = await checked_form(request)
    if form.get("scope") == "matching":
        return await _confirm(request, form)
    ids, state = _action(form)
    seen = _versions(form)
    return await _decided(request, form, ids, state, seen, me.name)


async def decide_matching(request: Request) -> Response:
    """The confirmed "all N matching": decided if the filter still matches the N replies
    the confirmation named (their ids and versions), nothing otherwise."""
    me = await moderator(request)
    form = await checked_form(request)
    here = desk(request)
    chosen = selection(form)
    state = ACTIONS.get(str(form.get("action") or ""))
    if state is None:
        raise DeskError("Choose what to do: approve, reject, flag or back to review.")
    seen = _versions(form)
    page = await here.run(here.moderation.page, chosen.query(here), limit=None)
    now = {c.id for c in page.comments}
    if now != set(seen):
        changed = [c for c in page.comments if c.id not in seen]
        raise Conflict(
            "The replies matching this filter changed since you confirmed: nothing was decided.",
            replies=[_said(c) for c in changed[:20]],
            back=chosen.address(),
        )
    return await _decided(request, form, sorted(now), state, seen, me.name)


async def _confirm(request: Request, form: FormData) -> Response:
    here = desk(request)
    chosen = selection(form)
    state = ACTIONS.get(str(form.get("action") or ""))
    if state is None:
        raise DeskError("Choose what to do: approve, reject, flag or back to review.")
    _reason(form, state)  # refused now rather than after the confirmation
    page = await here.run(here.moderation.page, chosen.query(here), limit=None)
    if not page.comments:
        raise DeskError("No reply matches this filter: nothing to decide.")
    document = {
        "action": str(form.get("action")),
        "state": state.value,
        "count": len(page.comments),
        "versions": [f"{c.id}:{c.version}" for c in page.comments],
        "filters": chosen.filters,
        "tab": chosen.tab,
        "reason": str(form.get("reason") or ""),
        "note": str(form.get("note") or ""),
        "back": chosen.address(),
    }
    return await render(request, "confirm.html", document)


async def _decided(
    request: Request, form: FormData, ids: list[int], state: CommentState, seen: dict[int, int], actor: str
) -> Response:
    here = desk(request)
    reason = _reason(form, state)
    try:
        decided = await here.run(here.moderation.decide, ids, state, actor=actor, reason=reason, seen=seen)
    except DecidedMeanwhile as error:
        raise Conflict(
            "Someone decided these replies since you saw them: nothing was decided.",
            replies=[_said(c) for c in error.replies],
            back=_next(form.get("back")),
        ) from None
    except NoSuchReply as error:
        raise NotFound(
            "This reply no longer exists (its author may have deleted it).", ids=error.ids
        ) from None
    except InvalidRequest as error:
        raise DeskError(str(error)) from None
    if wants_json(request):
        return JSONResponse(
            {
                "decided": [{"id": c.id, "state": c.state, "version": c.version} for c in decided],
            }
        )
    back = _next(form.get("back"))
    joiner = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{joiner}done={len(decided)}&as={state.value}", status_code=303)


def _said(c: Comment) -> dict[str, Any]:
    """Who did what to a reply, for the 409: the state, by whom, when, its version now."""
    return {
        "id": c.id,
        "state": c.state,
        "by": c.decided_by,
        "at": c.decided_at.isoformat() if c.decided_at else None,
        "version": c.version,
        "campaign": c.campaign,
    }

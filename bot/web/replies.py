"""One reply: its text, what it answers, its history, and the decisions on it alone."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from bot.services.documents import author_document, comment_detail
from bot.services.moderation import NoSuchReply
from bot.web.errors import NotFound
from bot.web.pages import desk, moderator, render
from bot.web.queue import REASONS, shown

LARGEST_ID = 2**63 - 1


async def reply_page(request: Request) -> Response:
    await moderator(request)
    here = desk(request)
    reply_id = request.path_params["reply_id"]
    try:
        if reply_id > LARGEST_ID:  # no store holds it (SQLite cannot even be asked)
            raise NoSuchReply([reply_id])
        detail = await here.run(here.moderation.show, reply_id)
    except NoSuchReply:
        raise NotFound("There is no reply with this number (its author may have deleted it).") from None
    c = detail.comment
    await here.remember_posts([c.publication_key] if c.publication_key else [])
    document = {
        "reply": shown(c, here),
        "history": detail.history,
        "answers": detail.answers,
        "parent": detail.parent,
        "reasons": REASONS,
        "rejecting": request.query_params.get("reject") == "1",
        "undone": {e.undoes for e in detail.history if e.undoes is not None},
    }
    return await render(request, "reply.html", document, data=comment_detail(detail, here.zone))


async def author_page(request: Request) -> Response:
    """Every reply by one author, across campaigns, with the decisions taken."""
    await moderator(request)
    here = desk(request)
    network, handle = request.path_params["network"], request.path_params["handle"]
    view = await here.run(here.moderation.author, network, handle)
    if not view.comments:
        raise NotFound("No reply by this author.")
    document = {
        "network": network,
        "handle": handle,
        "name": view.name,
        "replies": [shown(c, here) for c in view.comments],
        "total": view.total,
        "counts": {state.value: n for state, n in view.counts.items()},
    }
    return await render(request, "author.html", document, data=author_document(view, here.zone))

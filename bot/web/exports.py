"""Export from the page: the choices of ``relais export`` (format, state, campaign),
pseudonymised by default; authors' names for admins only."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from bot import networks
from bot.domain import CommentState
from bot.services.export import FORMATS, UNVERIFIED, ExportOptions, states_for, write
from bot.services.moderation import CommentQuery
from bot.store.comments import Comment
from bot.web.errors import DeskError, Forbidden
from bot.web.pages import Desk, desk, moderator, render

log = logging.getLogger(__name__)
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
STATES = [*(s.value for s in CommentState), "all"]


async def export_page(request: Request) -> Response:
    await moderator(request)
    document = {"formats": FORMATS, "states": STATES, "campaigns": sorted(desk(request).campaigns)}
    return await render(request, "export.html", document)


async def download(request: Request) -> Response:
    me = await moderator(request)
    here = desk(request)
    params = request.query_params
    fmt = params.get("format", "csv")
    state = params.get("status") or None
    if fmt not in FORMATS or (state is not None and state not in STATES):
        raise DeskError("Choose a format and a state from the lists.")
    with_authors = params.get("authors") == "1"
    if with_authors and not me.admin:
        raise Forbidden("Only an admin can export the authors' names.")
    options = ExportOptions(with_authors=with_authors, with_private=params.get("private") == "1")
    campaign = params.get("campaign") or None
    query = CommentQuery(states=tuple(states_for(state)), campaign=campaign)
    handle, name = tempfile.mkstemp(prefix="relais-export-", suffix=f".{fmt}")
    os.close(handle)
    path = Path(name)
    unverified = params.get("unverified") == "1"
    try:
        selected = await here.run(here.moderation.page, query, limit=None)
        comments = selected.comments if unverified else await _verified(here, selected.comments)
        note = UNVERIFIED if unverified else None
        await here.run(write, path, fmt, comments, options, note=note)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    filename = f"relais-{campaign or 'replies'}-{'names' if with_authors else 'pseudonymised'}.{fmt}"
    return FileResponse(
        path,
        media_type=MEDIA[fmt],
        filename=filename,
        headers={"Cache-Control": "no-store"},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


async def _verified(here: Desk, comments: list[Comment]) -> list[Comment]:
    """The replies still there once those not looked at in the last hour are looked up
    again (the gone ones leave the store too); a DeskError when that cannot be done."""
    if here.verify is None:
        looked_up = {p.name for p in networks.with_lookups()}
        if any(c.network in looked_up for c in comments):
            raise DeskError(
                "The Mastodon replies cannot be checked again: this desk has no Mastodon account. "
                "Tick the box to export without checking."
            )
        return comments
    try:
        verified = await here.verify(here.store, comments)
    except Exception as error:
        log.warning("export: the replies could not be checked again (%s)", type(error).__name__)
        raise DeskError(
            "The replies could not be checked again with Mastodon. Try again later, or tick the box "
            "to export without checking."
        ) from None
    if verified.removed:
        log.info("export: %d of %d replies looked up again were deleted", verified.removed, verified.checked)
    return list(verified.comments)

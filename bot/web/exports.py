"""Export from the page: the choices of ``relais export`` (format, state, campaign),
pseudonymised by default; authors' names for admins only."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from bot.domain import CommentState
from bot.services.export import FORMATS, ExportOptions, states_for, write
from bot.services.moderation import CommentQuery
from bot.web.errors import DeskError, Forbidden
from bot.web.pages import desk, moderator, render

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
    try:
        selected = await here.run(here.moderation.page, query, limit=None)
        await here.run(write, path, fmt, selected.comments, options)
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

"""Every error the desk answers, in one place: what the moderator reads, as a page (a form
was sent, a link followed) or as JSON (the page's own ``fetch``), never a traceback."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from bot.web.i18n import N_


class DeskError(Exception):
    """An answer other than the page asked for: ``status``, a ``title`` and a ``message``
    (both msgids, translated when shown), ``details`` for the page and the JSON alike."""

    status = 400
    title = N_("This request cannot be done")

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details


class LoginNeeded(DeskError):
    status = 401
    title = N_("Please log in")


class Forbidden(DeskError):
    status = 403
    title = N_("Not allowed")


class NotFound(DeskError):
    status = 404
    title = N_("Not found")


class Conflict(DeskError):
    """Someone decided (or an author edited) a reply since the moderator saw it: nothing
    was decided. ``details["replies"]``: who decided what, reply by reply."""

    status = 409
    title = N_("Decided meanwhile")


class TooManyAttempts(DeskError):
    status = 429
    title = N_("Too many attempts")


def wants_json(request: Request) -> bool:
    """A fetch of the page's own script (it asks for JSON), rather than a browser's form."""
    return "application/json" in request.headers.get("accept", "")


async def desk_error(request: Request, error: Exception) -> Response:
    from bot.web.pages import render  # the page needs the templates; they need nothing here

    assert isinstance(error, DeskError)
    if isinstance(error, LoginNeeded) and not wants_json(request):
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = "/login" if request.method != "GET" or wanted == "/" else f"/login?next={_quote(wanted)}"
        return RedirectResponse(target, status_code=303)
    headers: Mapping[str, str] = {}
    if isinstance(error, TooManyAttempts):
        headers = {"Retry-After": str(error.details.get("seconds", 1))}
    if wants_json(request):
        body = {"error": error.message, "status": error.status} | _plain(error.details)
        return JSONResponse(body, status_code=error.status, headers=headers)
    return await render(
        request,
        "error.html",
        {"error": error, "details": error.details},
        status=error.status,
        headers=headers,
    )


async def http_error(request: Request, error: Exception) -> Response:
    """Starlette's own errors (an unknown route, a method not allowed) said the desk's way."""
    assert isinstance(error, HTTPException)
    titled = {404: NotFound("There is no such page."), 405: DeskError("This address does not take that.")}
    known = titled.get(error.status_code, DeskError("This request cannot be done."))
    known.status = error.status_code
    return await desk_error(request, known)


async def server_error(request: Request, error: Exception) -> Response:
    """An unexpected failure: a plain page, the traceback in the log only."""
    failure = DeskError("Something went wrong on the server; nothing was changed by this request.")
    failure.status = 500
    failure.title = N_("Server error")
    return await desk_error(request, failure)


def _plain(details: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if isinstance(v, str | int | float | bool | list | dict)}


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")

"""Logging in and out, and choosing the page's language."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.web import i18n
from bot.web.errors import LoginNeeded, TooManyAttempts
from bot.web.pages import checked_form, desk, finish, moderator, render, secure, session
from bot.web.security import LANGUAGE_COOKIE, Sessions


def _next(target: object) -> str:
    """Where to go after logging in: a path of the desk, never another site (a browser
    drops tabs and line breaks from an address: ``/<TAB>/evil.example`` is ``//evil.example``)."""
    if (
        isinstance(target, str)
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and target.isprintable()
        and not any(c.isspace() for c in target)
    ):
        return target
    return "/"


async def login_page(request: Request) -> Response:
    return await render(
        request, "login.html", {"next": _next(request.query_params.get("next")), "failed": False}
    )


async def login(request: Request) -> Response:
    form = await checked_form(request)
    here = desk(request)
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    address = request.client.host if request.client else "unknown"
    keys = [f"name:{name.casefold()}", f"address:{address}"]
    wait = here.throttle.wait(keys, here.clock.now())
    if wait.total_seconds() > 0:
        seconds = max(1, int(wait.total_seconds() + 0.999))
        raise TooManyAttempts("Too many failed logins: wait a moment before trying again.", seconds=seconds)
    found = await here.run(here.accounts.login, name, password)
    if found is None:
        here.throttle.failed(keys, here.clock.now())
        document = {"next": _next(form.get("next")), "failed": True, "name": name}
        return await render(request, "login.html", document, status=401)
    here.throttle.succeeded(keys)
    key = await here.run(here.accounts.session_key, found.id)
    response = RedirectResponse(_next(form.get("next")), status_code=303)
    # a new session id at login: one fixed before it cannot be carried into the account
    here.sessions.write(response, Sessions.new(found.id, found.session_epoch, key), secure=secure(request))
    return response


async def logout(request: Request) -> Response:
    await checked_form(request)
    try:  # ended server-side: a copy of the cookie is no session either
        me = await moderator(request)
    except LoginNeeded:
        pass
    else:
        await desk(request).run(desk(request).accounts.logout, me.id)
    response = RedirectResponse("/login", status_code=303)
    desk(request).sessions.write(response, Sessions.new(), secure=secure(request))
    return response


async def choose_language(request: Request) -> Response:
    form = await checked_form(request)
    chosen = i18n.language_of(str(form.get("language", "")))
    back = _next(form.get("back"))
    response = RedirectResponse(back, status_code=303)
    response.set_cookie(
        LANGUAGE_COOKIE, chosen, max_age=365 * 86400, httponly=True, samesite="strict", secure=secure(request)
    )
    session(request)
    return finish(request, response)

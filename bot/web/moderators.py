"""Admins manage moderators from the page, as ``relais moderators`` does."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.services.accounts import AccountError
from bot.web.errors import DeskError
from bot.web.i18n import N_
from bot.web.pages import checked_form, desk, moderator, render

# The accounts service's refusals as the page says them (translated; the service's own
# lines name the moderator, in English, for the command line).
ACCOUNT_ERRORS = {
    "taken": N_("A moderator of this name already exists."),
    "unknown": N_("There is no moderator of this name."),
    "short": N_("A password has at least 10 characters."),
    "long": N_("A password has at most 1024 characters."),
    "last_admin": N_("This is the last admin: make another moderator admin first."),
    "name": N_(
        "A moderator's name is 1 to 64 letters, digits, '.', '_', '-' or '@' (no spaces), like ana.roy."
    ),
}


async def moderators_page(request: Request) -> Response:
    await moderator(request, admin=True)
    here = desk(request)
    found = await here.run(here.accounts.all)
    return await render(
        request, "moderators.html", {"moderators": found, "done": request.query_params.get("done")}
    )


async def change(request: Request) -> Response:
    """Add one, remove one, set a password, make admin or not: ``do`` says which."""
    me = await moderator(request, admin=True)
    form = await checked_form(request)
    here = desk(request)
    action = str(form.get("do") or "")
    name = str(form.get("name") or "").strip()
    password = str(form.get("password") or "")
    try:
        if action == "add":
            await here.run(here.accounts.add, name, password, admin=form.get("admin") == "1")
        elif action == "remove":
            if name == me.name:
                raise DeskError("You cannot remove yourself: ask another admin.")
            await here.run(here.accounts.remove, name)
        elif action == "password":
            await here.run(here.accounts.change_password, name, password)
        elif action in ("admin", "moderator"):
            await here.run(here.accounts.set_admin, name, action == "admin")
        else:
            raise DeskError("Choose what to do.")
    except AccountError as error:
        raise DeskError(ACCOUNT_ERRORS.get(error.kind, str(error))) from None
    return RedirectResponse(f"/moderators?done={action}", status_code=303)

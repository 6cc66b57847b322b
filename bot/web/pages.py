"""What every page shares: the desk's state, who is logged in, the CSRF check, and
rendering one document as HTML (a template) or JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from bot.clock import Clock
from bot.domain import Campaign, Publication
from bot.services.accounts import Accounts, Moderator
from bot.services.moderation import ModerationService
from bot.store.handle import Store
from bot.web import i18n
from bot.web.errors import Forbidden, LoginNeeded, wants_json
from bot.web.security import LANGUAGE_COOKIE, LoginThrottle, Session, Sessions

TEMPLATES = Path(__file__).parent / "templates"
T = TypeVar("T")
UTC_ZONE = ZoneInfo("UTC")


@dataclass
class Desk:
    """What the pages work with, made once by ``app.create_app``."""

    store: Store
    clock: Clock
    moderation: ModerationService
    accounts: Accounts
    sessions: Sessions
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    publications: dict[str, Publication] = field(default_factory=dict)  # by key, from the campaigns
    post_urls: dict[str, str] = field(default_factory=dict)  # by key: where each post is, once known
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    # Looks an export's replies up again before it is written (``bot.wiring.export_checker``):
    # ``await verify(store, comments)``; None where no network account is set (the demo).
    verify: Callable[..., Awaitable[Any]] | None = None
    demo_login: tuple[str, str] | None = None  # shown on the login page of ``relais web --demo``

    def zone(self, campaign: str | None) -> ZoneInfo:
        """The time zone a reply's times are shown in: its campaign's, else the first
        campaign's, else UTC."""
        if campaign in self.campaigns:
            return self.campaigns[campaign].timezone
        first = next(iter(self.campaigns.values()), None)
        return first.timezone if first else UTC_ZONE

    async def remember_posts(self, keys: list[str]) -> None:
        """Learn where these posts are on their networks (the ledger's links), once each."""
        wanted = sorted({k for k in keys if k not in self.post_urls})
        if wanted:
            rows = await self.run(self.store.ledger.rows, wanted)
            self.post_urls.update({k: r.remote_url for k, r in rows.items() if r.remote_url})

    async def run(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """A service call on the store's thread (the page's event loop never waits on it)."""
        return await self.store.run(function, *args, **kwargs)


def desk(request: Request) -> Desk:
    found: Desk = request.app.state.desk
    return found


def session(request: Request) -> Session:
    """The visitor's session (a new one, without a moderator, if the cookie is missing or
    does not verify); ``render`` writes a new one back."""
    found = getattr(request.state, "session", None)
    if found is None:
        found = desk(request).sessions.read(request)
        if found is None:
            found = Sessions.new()
            request.state.new_session = True
        request.state.session = found
    assert isinstance(found, Session)
    return found


async def moderator(request: Request, *, admin: bool = False) -> Moderator:
    """The logged-in moderator (``LoginNeeded`` otherwise); ``admin``: an admin only."""
    found = getattr(request.state, "moderator", None)
    if found is None:
        current = session(request)
        if current.moderator is not None and current.epoch is not None and current.key is not None:
            found = await desk(request).run(
                desk(request).accounts.current, current.moderator, current.epoch, current.key
            )
        if found is None:
            raise LoginNeeded("Your session has ended, or you have not logged in yet.")
        request.state.moderator = found
    if admin and not found.admin:
        raise Forbidden("Only an admin can do this.")
    assert isinstance(found, Moderator)
    return found


async def checked_form(request: Request) -> FormData:
    """The form sent, once its CSRF token (the ``csrf`` field, or the ``X-CSRF-Token``
    header of a fetch) is the session's, and the browser does not say that it came from
    another site (``Sec-Fetch-Site``, as datasette checks); ``Forbidden`` otherwise."""
    if request.headers.get("sec-fetch-site") == "cross-site":  # the browser says where it came from
        raise Forbidden("This form has expired or did not come from the desk: reload the page and try again.")
    form = await request.form()
    token = request.headers.get("x-csrf-token") or form.get("csrf")
    if not desk(request).sessions.csrf_ok(session(request), token if isinstance(token, str) else None):
        raise Forbidden("This form has expired or did not come from the desk: reload the page and try again.")
    return form


def language(request: Request) -> str:
    return i18n.language_of(request.cookies.get(LANGUAGE_COOKIE))


def gettext(request: Request) -> Callable[[str], str]:
    return i18n.translations(language(request)).gettext


@cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is text unless a template says otherwise (none does)
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def finish(request: Request, response: Response) -> Response:
    """Write the session cookie back if the visitor had none (or a stale one)."""
    if getattr(request.state, "new_session", False):
        desk(request).sessions.write(response, session(request), secure=secure(request))
    return response


async def render(
    request: Request,
    template: str,
    document: Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
) -> Response:
    """``document`` as the page ``template`` (with what every page shows), or as JSON when
    the page's script asks for it: ``data``, the service's typed document of what the page
    shows (``bot.services.documents``, as ``relais comments --format json`` prints it), or
    else ``document`` itself."""
    if wants_json(request) and template != "error.html":
        body = data if data is not None else _json(document)
        return finish(request, JSONResponse(body, status_code=status, headers=headers))
    lang = language(request)
    here = desk(request)
    try:
        me = await moderator(request)
    except (LoginNeeded, Forbidden):
        me = None
    context = {
        "reasons": i18n.REASON_WORDS,
        **document,
        "me": me,
        "csrf": here.sessions.csrf(session(request)),
        "lang": lang,
        "colon": i18n.COLONS[lang],
        "path": request.url.path,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "when": lambda moment, campaign=None: i18n.when(moment, here.zone(campaign), lang),
        "when_iso": lambda written: i18n.when_written(written, lang),
        "number": lambda n: i18n.number(n, lang),
        "demo_login": here.demo_login,
        "said": lambda word: i18n.word(i18n.REPLY_WORDS, word, lang),
        "flag": lambda reason: i18n.flag(reason, lang),
        "published": lambda word: i18n.word(i18n.PUBLICATION_WORDS, word, lang),
    }
    html = environment(lang).get_template(template).render(context)
    return finish(request, HTMLResponse(html, status_code=status, headers=headers))


def _json(value: Any) -> Any:
    """A document as JSON can hold it (times as ISO 8601, dataclasses as objects)."""
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return {k: _json(getattr(value, k)) for k in value.__dataclass_fields__}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)

"""The desk's application: its routes, its errors, and the headers every answer carries.

``create_app`` takes what the desk works with (an open store, a clock, the campaigns);
``relais web`` makes those and serves the app under uvicorn, tests drive it in process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.clock import Clock
from bot.domain import Campaign
from bot.services.accounts import Accounts
from bot.services.moderation import ModerationService
from bot.store.handle import Store
from bot.store.moderators import ModeratorStore
from bot.web import decisions, exports, login, moderators, publications, queue, replies
from bot.web.errors import DeskError, desk_error, http_error, server_error
from bot.web.pages import Desk
from bot.web.security import Sessions

STATIC = Path(__file__).parent / "static"
# Nothing from another site, no inline script or style; forms post to the desk only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # a link to a profile does not tell where it was
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds ``HEADERS`` to every answer (pages, JSON, files, errors), and to every answer
    but the static files ``Cache-Control: no-store`` and ``Vary: Accept, Cookie`` unless
    it says otherwise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        page = not scope["path"].startswith("/static/")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = list(HEADERS)
                if page:  # a moderator's queue is kept by no cache; HTML or JSON by Accept
                    given = {name.lower() for name, _ in message.get("headers", [])}
                    if b"cache-control" not in given:
                        extra.append((b"cache-control", b"no-store"))
                    if b"vary" not in given:
                        extra.append((b"vary", b"Accept, Cookie"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, sending)


def routes() -> list[Route | Mount]:
    return [
        Route("/", queue.queue_page),
        Route("/live", queue.live),
        Route("/login", login.login_page, methods=["GET"]),
        Route("/login", login.login, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/language", login.choose_language, methods=["POST"]),
        Route("/decide", decisions.decide, methods=["POST"]),
        Route("/decide/matching", decisions.decide_matching, methods=["POST"]),
        Route("/undo", decisions.undo, methods=["POST"]),
        Route("/decisions", decisions.decisions_page),
        Route("/replies/{reply_id:int}", replies.reply_page),
        Route("/authors/{network}/{handle:path}", replies.author_page),
        Route("/export", exports.export_page),
        Route("/export/download", exports.download),
        Route("/publications", publications.publications_page),
        Route("/moderators", moderators.moderators_page, methods=["GET"]),
        Route("/moderators", moderators.change, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def create_app(
    store: Store,
    clock: Clock,
    campaigns: Iterable[Campaign] = (),
    *,
    demo_login: tuple[str, str] | None = None,
    hasher: PasswordHasher | None = None,
    verify: Callable[..., Awaitable[Any]] | None = None,
) -> ASGIApp:
    known = list(campaigns)
    by_slug = {c.slug: c for c in known}

    def acknowledges(slug: str | None) -> bool:
        """Whether the campaign asks for approved replies to be acknowledged (one the desk
        does not know is queued: the worker, which reads the files, decides)."""
        return by_slug[slug].acknowledge if slug in by_slug else True

    moderation = ModerationService(store.comments, clock, acknowledges=acknowledges if known else None)
    accounts_store = ModeratorStore(store.engine)
    desk = Desk(
        store=store,
        clock=clock,
        moderation=moderation,
        accounts=Accounts(accounts_store, clock, hasher),
        sessions=Sessions(accounts_store.key("session")),
        campaigns={c.slug: c for c in known},
        publications={p.key: p for c in known for p in c.publications},
        demo_login=demo_login,
        verify=verify,
    )
    app = Starlette(
        routes=routes(),
        exception_handlers={
            DeskError: desk_error,
            HTTPException: http_error,
            500: server_error,
        },
    )
    app.state.desk = desk
    return SecurityHeaders(app)

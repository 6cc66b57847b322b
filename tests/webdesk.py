"""The web desk driven in process (httpx's ASGI transport): a store with replies, two
moderators, and a client that logs in and sends forms with the page's CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from argon2 import PasswordHasher
from sqlalchemy import Engine

from bot.clock import SimulatedClock
from bot.domain import Campaign, Reply
from bot.services.accounts import Accounts
from bot.store.comments import Collected, CommentStore
from bot.store.handle import Store
from bot.store.moderators import ModeratorStore
from bot.web.app import create_app
from tests.data import Network

NOW = datetime(2012, 5, 2, 18, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'<meta name="csrf" content="([0-9a-f]+)">')


def reply(n: int, text: str, *, author: str = "alice", flags: tuple[str, ...] = ()) -> Collected:
    return Collected(
        Reply(
            Network.MASTODON,
            str(n),
            text,
            NOW - timedelta(days=1) + timedelta(minutes=n),
            f"id-{author}",
            f"@{author}@example.org",
            f"Nom {author}",
            url=f"https://example.org/@{author}/{n}",
            language="fr",
            hashtags=("gautrinweb2",),
        ),
        "gouverner-ensemble",
        "gouverner-ensemble/annonce/mastodon",
        flags,
    )


def add_replies(engine: Engine, items: list[Collected]) -> None:
    CommentStore(engine).save_page(None, None, items, now=NOW)


@dataclass
class Desk:
    client: httpx.AsyncClient
    engine: Engine
    clock: SimulatedClock
    csrf: str = ""
    cookies: dict[str, Any] = field(default_factory=dict)

    async def page(self, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.get(path, **kwargs)
        found = _CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def login(self, name: str, password: str = PASSWORD) -> httpx.Response:
        await self.page("/login")
        return await self.post("/login", {"name": name, "password": password})

    async def post(self, path: str, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return await self.client.post(path, data={"csrf": self.csrf, **data}, **kwargs)

    async def fetch(self, path: str, data: Any) -> httpx.Response:
        """As the page's script sends a decision: the token in a header, JSON asked for."""
        headers = {"X-CSRF-Token": self.csrf, "Accept": "application/json"}
        return await self.client.post(path, data=data, headers=headers)


# argon2 at its lowest cost: the tests check what is hashed and when, not how hard
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


async def open_desk(
    engine: Engine, campaigns: Sequence[Campaign] = (), verify: Callable[..., Any] | None = None
) -> AsyncIterator[Desk]:
    accounts = Accounts(ModeratorStore(engine), SimulatedClock(NOW), CHEAP)
    accounts.add("ana", PASSWORD, admin=True)
    accounts.add("bob", PASSWORD)
    clock = SimulatedClock(NOW)
    store = Store(engine)
    app = create_app(store, clock, campaigns, hasher=CHEAP, verify=verify)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as client:
        yield Desk(client, engine, clock)
    store._writer.shutdown(wait=True)

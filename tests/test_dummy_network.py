"""A third network, added the way a real one would be: a profile, an adapter (a sender, a
reader, its collecting loop, an inspector) and one registration, with nothing else of Relais
changed. A campaign then goes through it end to end: validated against its own limit,
checked by ``relais check``, published once to a loopback server that speaks its little HTTP
API, a reply collected, tied to the post, and looked up again by an export once its author
deleted it.

This module is the network's whole home: the profile (``Loopback``) names this module as its
adapter package, whose ``sender``, ``reader``, ``collect``, ``alerts`` and ``inspector``
composition calls; the profile's ``check`` is what ``relais check`` says of it.
In ``bot/`` the same network would take ``bot/networks/loopback.py``, a
``bot/adapters/loopback/`` package and a ``register`` line; its credentials would be its
profile's ``settings``, which this test, registering the network after the settings were
built, adds by subclassing them instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr

from bot import app, networks, wiring
from bot.domain import Campaign, Channel, ForwardLink, Publication, Removal, Reply
from bot.findings import Finding, Level, Unreachable, ask
from bot.networks import ChannelSpec, Flavour, NonEmpty, Profile
from bot.ports import NotConfigured, Notify, OnWire, Page, PermanentError, Receipt, Sender
from bot.services.collector import Feed, Feeds
from bot.settings import Settings
from bot.store import database
from bot.store.comments import CommentStore
from bot.store.ledger import Ledger
from tests.conftest import Project

NAME = "loopback"
LIMIT = 280
POLL = 0.05  # seconds between two readings (the network has no long polling)
ZONE = ZoneInfo("America/Montreal")


# -- the profile ---------------------------------------------------------------------------------
class LoopbackChannelSpec(ChannelSpec):
    network: Literal["loopback"]
    room: NonEmpty
    language: NonEmpty | None = None


class Loopback(Profile):
    name = NAME
    title = "Loopback"
    flavour = Flavour.PLAIN
    adapter = __name__
    channel_spec = LoopbackChannelSpec
    lookups = True  # GET /messages/<id>
    credentials = ("loopback_url",)

    def channel(self, name: str, spec: Any) -> Channel:
        return Channel(name, NAME, chat=spec.room, language=spec.language)

    def length(self, shown: str, warning: str | None = None) -> int:
        return len(shown)

    def limit(self, channel: Channel, media: bool) -> int:
        return LIMIT

    async def check(self, inspector: Any, campaigns: Sequence[Campaign], settings: Any) -> list[Finding]:
        try:
            me = await ask(NAME, inspector.me, server="loopback_url")
        except Unreachable as error:
            return [error.finding]
        return [Finding(Level.OK, NAME, f"the server knows the account: @{me}")]


# -- the adapter -----------------------------------------------------------------------------
class LoopbackSettings(Settings):
    loopback_url: str | None = None


class LoopbackSender:
    def __init__(self, url: str) -> None:
        self._http = httpx.AsyncClient(base_url=url, timeout=5.0)

    async def start(self) -> None:
        return None

    async def publish(self, publication: Publication, *, on_wire: OnWire) -> Receipt:
        await on_wire()
        answer = await self._http.post(
            "/messages", json={"room": publication.channel.chat, "text": publication.text}
        )
        if answer.status_code != 200:
            raise PermanentError(f"the loopback server refused: {answer.status_code}")
        return Receipt(remote_id=answer.json()["id"])

    async def close(self) -> None:
        await self._http.aclose()


class LoopbackReader:
    def __init__(self, url: str) -> None:
        self._http = httpx.AsyncClient(base_url=url, timeout=5.0)

    async def start(self) -> None:
        return None

    network = NAME

    async def updates(self, after: str | None) -> Page:
        answer = await self._http.get("/updates", params={"after": after or "0"})
        messages = answer.json()["messages"]
        replies: list[Reply | Removal | ForwardLink] = [_reply(m) for m in messages]
        return Page(items=replies, cursor=messages[-1]["id"] if messages else after)

    async def lookup(self, remote_id: str, *, ask_origin: bool = False) -> Reply | Removal:
        answer = await self._http.get(f"/messages/{remote_id}")
        return Removal(NAME, remote_id) if answer.status_code == 404 else _reply(answer.json())

    def rate_budget(self) -> tuple[int, float] | None:
        return None  # no rate limit

    async def acknowledge(self, remote_id: str) -> None:
        return None

    async def close(self) -> None:
        await self._http.aclose()


def _reply(m: dict[str, Any]) -> Reply:
    return Reply(
        network=NAME,
        remote_id=m["id"],
        text=m["text"],
        created_at=datetime.fromisoformat(m["at"]),
        author_id=m["author"],
        author_handle=f"@{m['author']}",
        author_name=m["author"],
        hashtags=tuple(w[1:].lower() for w in m["text"].split() if w.startswith("#")),
        in_reply_to=m.get("reply_to"),
    )


def sender(settings: Any) -> Sender:
    if not settings.loopback_url:
        raise NotConfigured("a campaign has a Loopback channel but loopback_url is not set")
    return LoopbackSender(settings.loopback_url)


def reader(settings: Any) -> LoopbackReader | None:
    return LoopbackReader(settings.loopback_url) if settings.loopback_url else None


def collect(collector: Any, source: Any, lock: Any, stop: asyncio.Event) -> Coroutine[Any, Any, None]:
    """The collector's one loop, driving this network's one feed."""

    async def read_updates() -> None:
        after = await collector.store.run(collector.comments.position, f"{NAME}:updates")
        page = await source.updates(after)
        await collector.save(NAME, f"{NAME}:updates", page, source)

    feeds = Feeds(f"{NAME} collector", (Feed(f"{NAME}:updates", read_updates, POLL),), first_retry=1.0)
    return collector.follow(feeds, lock, stop)


def alerts(settings: Any, sender: Sender) -> Notify | None:
    return None


class LoopbackInspector:
    def __init__(self, url: str) -> None:
        self._http = httpx.AsyncClient(base_url=url, timeout=5.0)

    async def me(self) -> str:
        answer = await self._http.get("/me")
        if answer.status_code != 200:
            raise PermanentError(f"the loopback server refused: {answer.status_code}")
        name: str = answer.json()["name"]
        return name

    async def close(self) -> None:
        await self._http.aclose()


def inspector(settings: Any) -> LoopbackInspector:
    if not settings.loopback_url:
        raise NotConfigured("loopback_url is not set")
    return LoopbackInspector(settings.loopback_url)


# -- the loopback server -----------------------------------------------------------------------
class Server:
    """The network itself: rooms of messages, posted and read over HTTP."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.posts: list[dict[str, Any]] = []
        self.posted = asyncio.Event()
        self.read_after: list[str] = []
        self._read_past: dict[str, asyncio.Event] = {}
        self.url = ""

    def reply(self, author: str, text: str, reply_to: str) -> str:
        number = str(len(self.messages) + 1)
        at = datetime.now(UTC).isoformat()
        self.messages.append({"id": number, "author": author, "text": text, "reply_to": reply_to, "at": at})
        return number

    def read_past(self, message: str) -> asyncio.Event:
        """Set once a reader asked for what comes after ``message``: it has had it."""
        return self._read_past.setdefault(message, asyncio.Event())

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.json()
        number = str(len(self.messages) + 1)
        message = {"id": number, "author": "relais", "at": datetime.now(UTC).isoformat(), **body}
        self.messages.append(message)
        self.posts.append(message)
        self.posted.set()
        return web.json_response({"id": number})

    async def _message(self, request: web.Request) -> web.Response:
        found = [m for m in self.messages if m["id"] == request.match_info["id"] and not m.get("deleted")]
        return web.json_response(found[0]) if found else web.json_response({}, status=404)

    async def _me(self, request: web.Request) -> web.Response:
        return web.json_response({"name": "relais"})

    async def _updates(self, request: web.Request) -> web.Response:
        after = request.query["after"]
        self.read_after.append(after)
        for message, event in self._read_past.items():
            if int(after) >= int(message):
                event.set()
        new = [m for m in self.messages if int(m["id"]) > int(after) and m["author"] != "relais"]
        return web.json_response({"messages": new})

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Server]:
        application = web.Application()
        application.router.add_post("/messages", self._post)
        application.router.add_get("/updates", self._updates)
        application.router.add_get("/me", self._me)
        application.router.add_get("/messages/{id}", self._message)
        runner = web.AppRunner(application)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        await web.SockSite(runner, sock).start()
        try:
            yield self
        finally:
            await runner.cleanup()


class LogEvent(logging.Handler):
    """Sets an event when a log record says ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self._loop.call_soon_threadsafe(self.event.set)


# -- the test --------------------------------------------------------------------------------------
@pytest.fixture
def loopback() -> Iterator[Profile]:
    profile = Loopback()
    networks.register(profile)  # the registration line
    try:
        yield profile
    finally:
        networks.unregister(NAME)


CAMPAIGN = """\
campaign: essai
timezone: America/Montreal
language: fr-CA
hashtags: [essai]
channels:
  salon: {{network: loopback, room: accueil}}
posts:
  - {{id: bonjour, at: "{at}", text: "**Bonjour** à tous #essai"}}
"""


def test_an_unknown_network_is_refused_and_a_registered_one_has_its_own_rules(
    project: Project, loopback: Profile
) -> None:
    project.campaign(CAMPAIGN.format(at="2030-05-02 09:00").replace("loopback", "nowhere"))
    assert project.problems() == [
        "schedules/c.yaml:6:20: unknown network 'nowhere'; write network: telegram or network: mastodon "
        "or network: loopback"
    ]

    project.campaign(CAMPAIGN.format(at="2030-05-02 09:00").replace("à tous", "x" * LIMIT))
    assert project.problems() == [
        f"schedules/c.yaml:8:49: 'bonjour' is too long for salon: the loopback message has {LIMIT + 15} "
        f"characters, the limit is {LIMIT}"
    ]

    project.campaign(CAMPAIGN.format(at="2030-05-02 09:00"))
    unset = asyncio.run(app.network_checks(LoopbackSettings(), project.load().campaigns))  # relais check
    assert Finding(Level.ERROR, NAME, "loopback_url is not set") in unset


@pytest.mark.slow
async def test_a_campaign_goes_through_a_third_network_end_to_end(
    project: Project, loopback: Profile
) -> None:
    now = datetime.now(UTC)
    local = (now - timedelta(minutes=1)).astimezone(ZONE)
    project.campaign(CAMPAIGN.format(at=f"{local:%Y-%m-%d %H:%M}"))
    result = project.load()
    assert result.errors == []
    (campaign,) = result.campaigns
    (publication,) = campaign.publications
    assert (publication.text, publication.length, publication.limit) == ("Bonjour à tous #essai", 21, LIMIT)

    url = f"sqlite:///{project.root / 'relais.db'}"
    published = LogEvent(f"{publication.key}: published")
    logger = logging.getLogger("bot.services.publisher")
    level = logger.level
    logger.addHandler(published)
    logger.setLevel(logging.INFO)
    try:
        async with Server().running() as server:
            settings = LoopbackSettings(
                database_url=SecretStr(url),
                schedules_dir=project.root / "schedules",
                messages_dir=project.root / "messages",
                loopback_url=server.url,
            )
            used = app.networks_used(result.campaigns)
            assert used == {NAME}
            findings = await app.network_checks(settings, result.campaigns)  # relais check
            assert Finding(Level.OK, NAME, "the server knows the account: @relais") in findings
            assert {f.subject for f in findings} == {NAME, "alerts"}  # and no other network
            senders = app.build_senders(settings, used)
            sources = app.build_sources(settings, used)
            bot = asyncio.create_task(
                app.serve(settings, result.campaigns, senders, database_url=url, sources=sources)
            )
            await asyncio.wait_for(published.event.wait(), timeout=30)
            reply = server.reply("alice", "Merci ! #essai", reply_to=server.posts[0]["id"])
            await asyncio.wait_for(server.read_past(reply).wait(), timeout=30)
            signal.raise_signal(signal.SIGTERM)  # relais run stops on SIGTERM
            await asyncio.wait_for(bot, timeout=30)
            engine = database.create(url)
            try:
                stored = CommentStore(engine).find()
            finally:
                engine.dispose()
            next(m for m in server.messages if m["id"] == reply)["deleted"] = True  # by its author
            verified = await wiring.verify_export(
                settings, url, stored, lambda done, total: None
            )  # relais export
    finally:
        logger.removeHandler(published)
        logger.setLevel(level)

    assert [(p["room"], p["text"]) for p in server.posts] == [("accueil", "Bonjour à tous #essai")]
    engine = database.create(url)
    try:
        row = Ledger(engine, owner="test").rows()[publication.key]
        assert (row.state, row.network, row.remote_id, row.attempts) == ("published", NAME, "1", 1)
        (comment,) = stored
        assert (comment.network, comment.remote_id, comment.text, comment.author_handle) == (
            NAME,
            reply,
            "Merci ! #essai",
            "@alice",
        )
        assert (comment.campaign, comment.publication_key) == ("essai", publication.key)
        assert (verified.checked, verified.removed, verified.comments) == (1, 1, [])
        assert CommentStore(engine).find() == []  # gone from the store too
    finally:
        engine.dispose()

"""Fuzzing the collectors end to end: random Unicode (control characters, NUL, lone
surrogates), odd JSON shapes (fields missing, of the wrong type, null, huge integers),
served by the loopback fakes over HTTP, read by the real readers, stored by the real
collector on SQLite and PostgreSQL. Whatever comes, the collector keeps going (its position
passes every update) and stores nothing twice.

The suite runs 20 examples of each. The thorough variants (marked slow) run when
``RELAIS_FUZZ_EXAMPLES`` says how many examples they take:
``RELAIS_FUZZ_EXAMPLES=1000 python3 dev.py test -m slow tests/test_fuzz_collect.py``."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from bot.adapters.mastodon.reader import MastodonReader
from bot.adapters.telegram.reader import TelegramReader
from bot.domain import storable
from bot.services.collector import Collector
from bot.store.schema import comment_events, comments
from tests.data import Network
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import FakeTelegram
from tests.inprocess import TAG, collector

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test

TOKEN = "1234567:TEST-relais-fake-token-0123456789abcdef"
MASTODON_TOKEN = "fuzz-test-token"
GROUP, CHANNEL = -1009876543210, -1001234567890
QUIET_GROUP = -1007770000000  # where a well-formed reply follows each example's junk
POSITION = "telegram:updates"
TIMELINE = f"/api/v1/timelines/tag/{TAG}"
MISSING = object()  # a field left out
FAST = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
THOROUGH_EXAMPLES = int(os.environ.get("RELAIS_FUZZ_EXAMPLES") or 0)
THOROUGH = settings(FAST, max_examples=max(THOROUGH_EXAMPLES, 1))
asked_for = pytest.mark.skipif(not THOROUGH_EXAMPLES, reason="RELAIS_FUZZ_EXAMPLES=N runs it with N examples")

# -- what a network may deliver -----------------------------------------------------------------

ODD_PIECES = st.sampled_from(
    [
        "\x00",
        "\ud800",
        "\udfff",
        "\ud83d",
        "\x1b[2J",
        "\u202e",
        "\ufeff",
        "\u200b",
        "\r\n",
        "\x7f",
        "\x85",
        "😀",
        "👩‍👩‍👧",
        "🇨🇦",
        f"#{TAG}",
        f"#{TAG.upper()}",
        "<script>",
        "'; DROP TABLE comments; --",
        "&#0;",
        "%s",
    ]
)
TEXT = st.lists(st.one_of(st.text(max_size=12), ODD_PIECES), max_size=6).map("".join)
HUGE = st.integers(min_value=-(2**80), max_value=2**80)
SCALAR = st.one_of(
    st.none(), st.booleans(), HUGE, st.floats(allow_nan=False, allow_infinity=False), TEXT, st.just("")
)
ODD_JSON = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=6,
)


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


@st.composite
def field(draw: st.DrawFn, documented: st.SearchStrategy[Any], damage: int) -> Any:
    """What the API documents; else, ``damage`` times in a hundred, an odd JSON value or
    nothing at all."""
    if damage and draw(st.integers(1, 100)) <= damage:
        return draw(st.one_of(ODD_JSON, st.just(MISSING)))
    return draw(documented)


def shaped(damage: int, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object whose fields may be odd or missing (see ``field``)."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        values = {name: draw(field(strategy, damage)) for name, strategy in fields.items()}
        return {name: value for name, value in values.items() if value is not MISSING}

    return build()


DAMAGE = st.sampled_from([0, 0, 0, 5, 30])  # intact (mostly), slightly damaged, badly damaged

# -- Telegram -----------------------------------------------------------------------------------

TG_IDS = st.integers(1, 50)  # odd ids (huge, negative, of another type) come from ``field``


@cache
def users(damage: int) -> st.SearchStrategy[dict[str, Any]]:
    return shaped(
        damage,
        id=st.integers(400, 420),
        is_bot=st.booleans(),
        first_name=TEXT,
        last_name=TEXT,
        username=TEXT,
        language_code=st.one_of(st.sampled_from(["fr", "en", "fr-CA"]), TEXT),
    )


@cache
def chats(damage: int) -> st.SearchStrategy[dict[str, Any]]:
    return shaped(
        damage,
        id=st.sampled_from([GROUP, CHANNEL, 401, -1005550000001]),
        type=st.sampled_from(["supergroup", "supergroup", "group", "private", "channel"]),
        title=TEXT,
        username=st.one_of(st.just("GautrinDiscussion"), TEXT),
    )


@cache
def entities(damage: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    kinds = st.sampled_from(["hashtag", "mention", "url", "bold"])
    return st.lists(
        shaped(damage, type=kinds, offset=st.integers(0, 40), length=st.integers(0, 40)), max_size=2
    )


@cache
def message_text(damage: int) -> st.SearchStrategy[tuple[str, list[Any]]]:
    """A text, often with a hashtag (the campaign's, mostly) where its entity says it is."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, list[Any]]:
        before, after = draw(TEXT), draw(TEXT)
        if draw(st.integers(0, 3)):
            tag = f"#{draw(st.sampled_from([TAG, TAG.upper(), TAG, 'autre']))}"
            entity = {"type": "hashtag", "offset": utf16(before), "length": utf16(tag)}
            return f"{before}{tag}{after}", [entity, *draw(entities(damage))]
        return before + after, draw(entities(damage))

    return build()


@cache
def optional_fields(damage: int, depth: int) -> dict[str, st.SearchStrategy[Any]]:
    """What a message may carry besides its text, by name."""
    origin = shaped(
        damage, type=st.just("channel"), chat=chats(damage), message_id=TG_IDS, date=st.integers(0, 2**31)
    )
    return {
        "message_thread_id": TG_IDS,
        "caption": TEXT,
        "caption_entities": entities(damage),
        "sender_chat": chats(damage),
        "is_automatic_forward": st.booleans(),
        "forward_origin": origin,
        **({"reply_to_message": telegram_messages(depth - 1)} if depth else {}),
    }


@cache
def telegram_messages(depth: int = 1) -> st.SearchStrategy[dict[str, Any]]:
    """A Message: the fields a reply needs, some others; each may be odd or missing."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        damage = draw(DAMAGE)
        text, found = draw(message_text(damage))
        fields: dict[str, st.SearchStrategy[Any]] = {
            "message_id": TG_IDS,
            "date": st.integers(1_600_000_000, 1_800_000_000),
            "chat": chats(damage),
            "from": users(damage),
            "text": st.just(text),
            "entities": st.just(found),
            "edit_date": st.integers(1_600_000_000, 1_800_000_000),  # read in edits only
        }
        extra = optional_fields(damage, depth)
        chosen = draw(st.sets(st.sampled_from(sorted(extra)), max_size=3))
        return draw(shaped(damage, **fields, **{name: extra[name] for name in sorted(chosen)}))

    return build()


UPDATES = st.lists(
    st.tuples(
        st.sampled_from(
            ["message", "message", "message", "edited_message", "channel_post", "edited_channel_post"]
        ),
        st.one_of(*[telegram_messages()] * 5, ODD_JSON),
    ),
    min_size=1,
    max_size=5,
)


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, rate_limited=False) as fake:
        fake.add_chat(GROUP, "supergroup", username="GautrinDiscussion", title="Discussion")
        fake.add_chat(QUIET_GROUP, "supergroup", title="Calme")
        yield fake


def stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(comments.c.remote_id)).scalars())


def counts(engine: Engine) -> tuple[int, int]:
    """Stored replies, and their "collected" events (one each, if none was stored twice)."""
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(comments)).scalar_one()
        collected = connection.execute(
            select(func.count()).select_from(comment_events).where(comment_events.c.kind == "collected")
        ).scalar_one()
    return stored, collected


def all_storable(engine: Engine) -> bool:
    with engine.connect() as connection:
        rows = connection.execute(
            select(comments.c.text, comments.c.author_name, comments.c.author_handle, comments.c.url)
        ).all()
    return all(storable(value) == value for row in rows for value in row if value is not None)


def run_telegram(engine: Engine, tg: FakeTelegram) -> Callable[[list[tuple[str, Any]]], None]:
    """One example: the updates queued at the fake, read and stored until none is left."""
    runner = asyncio.Runner()
    reader = TelegramReader(TOKEN, tg.url, timeout=5.0)
    collecting: Collector = collector(engine)

    async def read_all() -> None:
        while True:
            offset = await collecting.store.run(collecting.comments.position, POSITION)
            page = await reader.updates(offset, 0)
            await collecting.save(Network.TELEGRAM, POSITION, page)
            before = counts(engine)
            await collecting.save(Network.TELEGRAM, POSITION, page)  # read twice: stored once
            assert counts(engine) == before
            if not page.more:
                return

    def example(updates: list[tuple[str, Any]]) -> None:
        for kind, body in updates:
            tg.push_update({kind: body})
        last = tg.group_message(
            QUIET_GROUP, FakeTelegram.user(499, "Zoé"), f"Bien reçu #{TAG}"
        )  # after the junk
        runner.run(read_all())
        assert collecting.comments.position(POSITION) == str(last["update_id"] + 1)
        assert stored_ids(engine) >= {f"{QUIET_GROUP}:{last['message']['message_id']}"}
        stored, collected = counts(engine)
        assert stored == collected
        assert all_storable(engine)

    example.close = lambda: (runner.run(reader.close()), runner.close())  # type: ignore[attr-defined]
    return example


def _fuzz_telegram(engine: Engine, tg: FakeTelegram, updates_strategy: Any, profile: settings) -> None:
    example = run_telegram(engine, tg)
    try:
        profile(given(updates_strategy)(example))()
    finally:
        example.close()  # type: ignore[attr-defined]


def test_telegram_collector_survives_whatever_it_reads(engine: Engine, tg: FakeTelegram) -> None:
    _fuzz_telegram(engine, tg, UPDATES, FAST)


@pytest.mark.slow
@asked_for
def test_telegram_collector_survives_whatever_it_reads_thoroughly(engine: Engine, tg: FakeTelegram) -> None:
    _fuzz_telegram(engine, tg, UPDATES, THOROUGH)


# -- Mastodon -----------------------------------------------------------------------------------

HTML_PIECES = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<br>",
        "<br/>",
        '<a href="https://x.example/y">',
        "</a>",
        '<span class="invisible">',
        "</span>",
        "<script>alert(1)</script>",
        "<!--",
        "-->",
        "<![CDATA[",
        "&amp;",
        "&#0;",
        "&#xD800;",
        "&#99999999999;",
        "<",
        ">",
        f'<a class="mention hashtag" rel="tag">#<span>{TAG}</span></a>',
        "<pre>",
        "</pre>",
    ]
)
CONTENT = st.lists(st.one_of(TEXT, HTML_PIECES), max_size=10).map("".join)
DATES = st.one_of(
    st.sampled_from(
        ["2026-11-30T12:00:00.000Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "hier", ""]
    ),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
)
ACCOUNTS = shaped(
    5,
    id=st.one_of(st.integers(1, 30).map(str), HUGE.map(str)),
    acct=st.one_of(st.sampled_from(["alice@example.org", "bob", "relais"]), TEXT),
    username=TEXT,
    display_name=TEXT,
    note=st.one_of(CONTENT, st.just("<p>#nobot</p>")),
    fields=st.lists(shaped(5, name=TEXT, value=CONTENT), max_size=2),
)
TAGS = st.lists(
    shaped(5, name=st.one_of(st.sampled_from([TAG, TAG.upper(), f"#{TAG}"]), TEXT), url=TEXT), max_size=3
)


@st.composite
def statuses(draw: st.DrawFn) -> dict[str, Any]:
    """A status; its id, when it has a documented one, is the server's (given later)."""
    return draw(
        shaped(
            draw(DAMAGE),
            id=st.just(MISSING),
            account=ACCOUNTS,
            content=CONTENT,
            spoiler_text=TEXT,
            tags=TAGS,
            url=TEXT,
            uri=TEXT,
            language=st.one_of(st.sampled_from(["fr", "en", None]), TEXT),
            visibility=st.sampled_from(["public", "unlisted", "private", "direct"]),
            in_reply_to_id=st.one_of(st.none(), st.integers(1, 10**6).map(str)),
            created_at=DATES,
            edited_at=st.one_of(st.none(), DATES),
            reblog=st.none(),
        )
    )


@pytest.fixture
def md() -> Iterator[FakeMastodon]:
    with FakeMastodon(token=MASTODON_TOKEN) as fake:
        yield fake


def run_mastodon(engine: Engine, md: FakeMastodon) -> Callable[[list[Any]], None]:
    """One example: a page of the hashtag timeline (newest first, as Mastodon serves it),
    ending with a well-formed status newer than the rest, read and stored."""
    runner = asyncio.Runner()
    reader = MastodonReader(md.url, MASTODON_TOKEN, timeout=5.0)
    runner.run(reader.start())
    collecting: Collector = collector(engine)
    position = f"mastodon:tag:{TAG}"
    next_id = iter(range(10**12, 10**13, 1000))

    async def read(after: str | None) -> None:
        page = await reader.hashtag_page(TAG, after)
        await collecting.save(Network.MASTODON, position, page)
        before = counts(engine)
        await collecting.save(Network.MASTODON, None, page)  # read again (a catch-up): stored once
        assert counts(engine) == before

    def example(entries: list[Any]) -> None:
        numbered = []
        for entry in entries:  # the server numbers its statuses; odd ids come with odd shapes
            if isinstance(entry, dict) and "id" not in entry:
                entry = entry | {"id": str(next(next_id))}
            numbered.append(entry)
        last = md.add_remote_status("zoe@example.org", f"<p>Dernier #{TAG}</p>")
        last["id"] = str(next(next_id))
        md.malformed(path=TIMELINE, body=json.dumps([last, *reversed(numbered)]))
        runner.run(read(collecting.comments.position(position)))
        assert collecting.comments.position(position) == last["id"]
        assert last["id"] in stored_ids(engine)
        stored, collected = counts(engine)
        assert stored == collected
        assert all_storable(engine)

    example.close = lambda: (runner.run(reader.close()), runner.close())  # type: ignore[attr-defined]
    return example


PAGES = st.lists(st.one_of(statuses(), statuses(), ODD_JSON), max_size=8)


def _fuzz_mastodon(engine: Engine, md: FakeMastodon, profile: settings) -> None:
    example = run_mastodon(engine, md)
    try:
        profile(given(PAGES)(example))()
    finally:
        example.close()  # type: ignore[attr-defined]


def test_mastodon_collector_survives_whatever_it_reads(engine: Engine, md: FakeMastodon) -> None:
    _fuzz_mastodon(engine, md, FAST)


@pytest.mark.slow
@asked_for
def test_mastodon_collector_survives_whatever_it_reads_thoroughly(engine: Engine, md: FakeMastodon) -> None:
    _fuzz_mastodon(engine, md, THOROUGH)

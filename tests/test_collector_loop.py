"""The collectors' one loop, on a simulated clock: no real second is waited. A failing feed
backs off on its own ladder while the others keep their pace; a rate limit waits what the
network asks, a refusal the longest back-off; a success starts the ladder again. A real
store (SQLite and PostgreSQL) holds the lock and the positions."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from bot.adapters.mastodon.reader import MastodonReader
from bot.clock import SimulatedClock
from bot.ports import PermanentError, RateLimited, TemporaryError
from bot.services.collector import Collector, CollectorTiming, Feed, Feeds
from bot.store.handle import Store
from tests.fakes.mastodon_api import FakeMastodon
from tests.harness import MASTODON_TOKEN
from tests.inprocess import CAMPAIGN, TAG

START = datetime(2012, 5, 2, 12, 0, tzinfo=UTC)
TIMING = CollectorTiming(poll=30, longest_backoff=300)


@pytest.fixture
def store(engine: Engine) -> AsyncIterator[Store]:
    with Store(engine) as store:
        yield store


def waits_logged(caplog: pytest.LogCaptureFixture, label: str) -> list[str]:
    """What the loop said after each failure, in order: the wait, or the refusal."""
    said = []
    for record in caplog.records:
        message = record.getMessage()
        if record.name == "bot.services.collector" and message.startswith(f"{label}: "):
            found = re.search(r"(?:next round|trying again) in (\d+) s$", message)
            said.append(found.group(1) if found else message)
    return said


async def test_a_failing_feed_climbs_its_ladder_while_the_other_keeps_its_pace(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = SimulatedClock(START)
    stop = asyncio.Event()
    script: list[Exception | None] = [
        *[TemporaryError("HTTP 502")] * 6,
        PermanentError("HTTP 403 Forbidden"),
        None,
        TemporaryError("HTTP 502"),  # after a success: the ladder starts again
    ]
    flaky_at: list[float] = []
    steady_at: list[float] = []

    def seconds() -> float:
        return (clock.now() - START).total_seconds()

    async def flaky() -> None:
        flaky_at.append(seconds())
        outcome = script.pop(0) if script else None
        if outcome is not None:
            raise outcome

    async def steady() -> None:
        steady_at.append(seconds())
        if seconds() >= 1500:
            stop.set()

    feeds = Feeds("test collector", (Feed("flaky", flaky, 30), Feed("steady", steady, 30)), first_retry=30)
    collector = Collector(store, clock, lambda: [CAMPAIGN], TIMING)
    lock = store.lock("test")
    caplog.set_level(logging.INFO)
    began = time.monotonic()
    try:
        await asyncio.wait_for(collector.follow(feeds, lock, stop), timeout=30)
    finally:
        lock.release()

    assert time.monotonic() - began < 30  # 25 simulated minutes, no real wait
    assert flaky_at == [0, 30, 90, 210, 450, 750, 1050, 1350, 1380, 1410, 1440, 1470, 1500]
    assert waits_logged(caplog, "test collector") == [
        "30",
        "60",
        "120",
        "240",
        "300",
        "300",  # doubling, at most the longest back-off
        "test collector: HTTP 403 Forbidden",  # refused: the longest back-off, 300 s
        "30",  # a success in between: from the first step again
    ]
    assert steady_at == [30.0 * n for n in range(51)]  # never held up by the other


async def test_a_rate_limit_holds_every_feed_for_what_the_network_asks(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """The limit is the account's: the feeds after the limited one wait too."""
    clock = SimulatedClock(START)
    stop = asyncio.Event()
    read: list[tuple[str, float]] = []

    def feed(name: str) -> Feed:
        async def reading() -> None:
            at = (clock.now() - START).total_seconds()
            read.append((name, at))
            if name == "limited" and at == 60:
                raise RateLimited("HTTP 429", retry_after=42)
            if name == "after" and at >= 132:
                stop.set()

        return Feed(name, reading, 30)

    feeds = Feeds("test collector", (feed("before"), feed("limited"), feed("after")), first_retry=30)
    lock = store.lock("test")
    caplog.set_level(logging.INFO)
    try:
        await asyncio.wait_for(
            Collector(store, clock, lambda: [], TIMING).follow(feeds, lock, stop), timeout=30
        )
    finally:
        lock.release()
    assert [at for name, at in read if name == "after"] == [0, 30, 102, 132]  # not at 60
    assert [at for name, at in read if name == "before"] == [0, 30, 60, 102, 132]
    assert caplog.messages == ["test collector: rate limited; next round in 42 s"]


async def test_the_telegram_ladder_starts_at_one_second_and_reads_again_at_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A long poll is its own wait: after a success the feed is read again at once."""
    clock = SimulatedClock(START)
    stop = asyncio.Event()
    script: list[Exception | None] = [TemporaryError("HTTP 502")] * 3 + [None, None]
    read_at: list[float] = []

    async def updates() -> None:
        read_at.append((clock.now() - START).total_seconds())
        if not script:
            stop.set()
            return
        outcome = script.pop(0)
        if outcome is not None:
            raise outcome

    feeds = Feeds("tg collector", (Feed("updates", updates, 0.0),), first_retry=1.0, then="trying again in")
    lock = store.lock("tg")
    caplog.set_level(logging.INFO)
    try:
        await asyncio.wait_for(
            Collector(store, clock, lambda: [], TIMING).follow(feeds, lock, stop), timeout=30
        )
    finally:
        lock.release()
    assert read_at == [0, 1, 3, 7, 7, 7]
    assert waits_logged(caplog, "tg collector") == ["1", "2", "4"]


@pytest.mark.slow
async def test_the_mastodon_feeds_go_on_while_the_hashtag_timeline_fails(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """The real feeds over HTTP: the timeline answers 502 three times; the mentions are
    read at every poll meanwhile, and the reply is stored once the timeline answers."""
    clock = SimulatedClock(START)
    stop = asyncio.Event()
    with FakeMastodon(token=MASTODON_TOKEN) as fake:
        reply = fake.add_remote_status("alice@example.org", f"<p>Bravo #{TAG}</p>")
        fake.fail(path=f"/api/v1/timelines/tag/{TAG}", status=502, times=3)
        reader = MastodonReader(fake.url, MASTODON_TOKEN, timeout=5.0)
        await reader.start()
        collector = Collector(store, clock, lambda: [CAMPAIGN], TIMING)

        async def until_five_minutes() -> None:
            if clock.now() >= START.replace(minute=5):
                stop.set()

        feeds = collector.timeline_feeds(reader)
        feeds = dataclasses.replace(feeds, feeds=(*feeds.feeds, Feed("stop", until_five_minutes, 30)))
        lock = store.lock("mastodon")
        caplog.set_level(logging.INFO)
        try:
            await asyncio.wait_for(collector.follow(feeds, lock, stop), timeout=60)
        finally:
            lock.release()
            await reader.close()
        mentions = [r for r in fake.requests if r.path == "/api/v1/notifications"]

    assert waits_logged(caplog, "mastodon collector") == ["30", "60", "120"]
    assert len(mentions) == 11  # at 0, 30, ... 300 s: every poll, failures or not
    assert [c.remote_id for c in store.comments.find()] == [reply["id"]]


@pytest.mark.slow
async def test_the_telegram_collector_waits_at_most_thirty_seconds_after_a_gateway_outage(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Replies are to be read within 2 s: after a burst of 502s, the ladder of the real
    Telegram feed stops at 30 s (not the longest back-off of Mastodon's, 300 s)."""
    from bot.adapters.telegram.reader import TelegramReader
    from tests.fakes.telegram_api import FakeTelegram

    clock = SimulatedClock(START)
    stop = asyncio.Event()
    token = "123456:backoff-test-token-not-real"
    with FakeTelegram(token=token, rate_limited=False) as tg:
        tg.fail("getUpdates", status=502, times=9)
        reader = TelegramReader(token, tg.url, timeout=5.0)
        await reader.start()
        collector = Collector(store, clock, lambda: [], dataclasses.replace(TIMING, long_poll=0))

        async def after_the_outage() -> None:
            if len([r for r in tg.requests if r.method == "getUpdates"]) > 9:
                stop.set()

        feeds = collector.updates_feeds(reader)
        feeds = dataclasses.replace(feeds, feeds=(*feeds.feeds, Feed("stop", after_the_outage, 1.0)))
        lock = store.lock("telegram")
        caplog.set_level(logging.INFO)
        try:
            await asyncio.wait_for(collector.follow(feeds, lock, stop), timeout=60)
        finally:
            lock.release()
            await reader.close()

    assert waits_logged(caplog, "telegram collector") == ["1", "2", "4", "8", "16", "30", "30", "30", "30"]

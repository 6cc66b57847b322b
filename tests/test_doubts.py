"""A Telegram send in doubt, settled by looking: the real publisher, sender, reader and
collector, a real store, the loopback Telegram, which forwards each channel post into the
linked discussion group as Telegram does, and answers 502 before or after sending."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from bot.adapters.telegram.reader import TelegramReader
from bot.adapters.telegram.sender import TelegramSender
from bot.clock import SystemClock
from bot.domain import Campaign, Channel, Moderation, Publication, PublicationState
from bot.services.collector import Collector, CollectorTiming
from bot.services.doubts import Doubts, DoubtTiming
from bot.services.publisher import Publisher, RetryPolicy
from bot.store.handle import Store
from tests.data import Network
from tests.fakes.telegram_api import FakeTelegram

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test

TOKEN = "123456:doubt-test-token-not-real"
CHANNEL, GROUP = -1001234567890, -1009876543210
LONELY = -1001111111111  # a channel without a discussion group
FAST = RetryPolicy(attempts=3, initial=0.01, maximum=0.02)


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, rate_limited=False) as fake:
        fake.add_chat(CHANNEL, "channel", username="GautrinWeb2", title="Gautrin Web 2", linked_chat_id=GROUP)
        fake.add_chat(GROUP, "supergroup", title="Gautrin, discussion")
        fake.add_chat(LONELY, "channel", username="SansGroupe", title="Sans groupe")
        fake.forward_channel_posts = True
        yield fake


def publication(pub_id: str, chat: str = "@GautrinWeb2") -> Publication:
    return Publication(
        campaign="c",
        id=pub_id,
        channel=Channel("tg" if chat == "@GautrinWeb2" else "seul", Network.TELEGRAM, chat=chat),
        at=datetime.now(UTC),
        timezone=ZoneInfo("UTC"),
        text=f"<b>{pub_id}</b> : le rapport est en ligne",
        length=40,
        limit=4096,
        language="fr",
    )


class Bot:
    """The publisher and the Telegram collector of one process, on the real clock."""

    def __init__(self, engine: Engine, tg: FakeTelegram, wait: float, read_within: float | None = None) -> None:
        self.store = Store(engine)
        self.tg = tg
        self.sender = TelegramSender(TOKEN, tg.url, timeout=5.0, rate_limit=False)
        self.reader = TelegramReader(TOKEN, tg.url, timeout=5.0)
        clock = SystemClock()
        timing = DoubtTiming(wait=wait, prompt=wait / 3, read_within=read_within or wait)
        self.doubts = Doubts(self.store, clock, timing)
        self.publisher = Publisher(
            self.store, {Network.TELEGRAM: self.sender}, clock, retry=FAST, doubts=self.doubts
        )
        campaign = _campaign(())
        self.collector = Collector(self.store, clock, lambda: [campaign], CollectorTiming(long_poll=0.5))
        self.stop = asyncio.Event()
        self.lock = self.store.lock("telegram")

    async def __aenter__(self) -> Bot:
        await self.sender.start()
        await self.reader.start()
        self.collecting = asyncio.create_task(self.collector.run_updates(self.reader, self.lock, self.stop))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.wait_for(self.collecting, 10)
        self.lock.release()
        await self.sender.close()
        await self.reader.close()
        self.store.close()

    async def publish(self, *publications: Publication) -> None:
        await self.publisher.load([_campaign(publications)], datetime.now(UTC))
        for p in publications:
            await self.publisher.fire(p.key)
        await self.publisher.drain()

    def row(self, publication: Publication) -> tuple[str, str | None, str | None]:
        row = self.store.ledger.rows()[publication.key]
        return row.state, row.remote_id, row.remote_url

    async def copied(self, count: int) -> None:
        """Wait until ``count`` copies of channel posts are stored."""
        from bot.store.schema import remote_links

        def stored() -> int:
            with self.store.engine.connect() as connection:
                return len(connection.execute(remote_links.select()).all())

        deadline = time.monotonic() + 10
        while stored() < count:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)


def _campaign(publications: tuple[Publication, ...]) -> Campaign:
    return Campaign(
        "c",
        Path("c.yaml"),
        ZoneInfo("UTC"),
        "fr",
        ("gautrinweb2",),
        {},
        timedelta(minutes=15),
        False,
        Moderation(),
        publications,
    )


def texts(tg: FakeTelegram, chat: int) -> list[str | None]:
    return [m.text for m in tg.sent if m.chat_id == chat]


@pytest.fixture
async def bot(engine: Engine, tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(engine, tg, wait=3.0) as running:
        await running.publish(publication("premier"))  # its copy: forwards arrive for this channel
        await running.copied(1)
        yield running


async def test_a_502_after_a_real_send_ends_published_with_its_link(bot: Bot, tg: FakeTelegram) -> None:
    post = publication("second")
    tg.fail_after_sending("sendMessage", status=502)
    began = time.monotonic()
    await bot.publish(post)
    settled = time.monotonic() - began

    [sent] = [m for m in tg.sent if m.text and m.text.startswith("second")]
    assert bot.row(post) == (
        "published",
        f"{CHANNEL}:{sent.message_id}",
        f"https://t.me/GautrinWeb2/{sent.message_id}",
    )
    assert texts(tg, CHANNEL).count(sent.text) == 1  # never sent twice
    assert settled < 3  # seen as soon as its copy was stored, not at the end of the wait


@pytest.mark.slow  # waits on the real clock for the protocol's timings
async def test_a_502_before_any_send_ends_sent_once(bot: Bot, tg: FakeTelegram) -> None:
    post = publication("troisieme")
    tg.fail("sendMessage", status=502)  # the gateway failed before the Bot API saw it
    await bot.publish(post)

    sent = [m for m in tg.sent if m.text and m.text.startswith("troisieme")]
    assert len(sent) == 1
    state, remote_id, _ = bot.row(post)
    assert (state, remote_id) == ("published", f"{CHANNEL}:{sent[0].message_id}")
    attempts = [
        r for r in tg.requests if r.method == "sendMessage" and "troisieme" in str(r.params.get("text"))
    ]
    assert len(attempts) == 2  # the one in doubt, and the one sent once nothing was seen


async def test_where_nothing_can_be_seen_a_send_in_doubt_stays_unknown(bot: Bot, tg: FakeTelegram) -> None:
    post = publication("ailleurs", chat="@SansGroupe")
    tg.fail_after_sending("sendMessage", status=502)
    await bot.publish(post)

    assert bot.row(post)[0] == PublicationState.UNKNOWN
    assert texts(tg, LONELY) == ["ailleurs : le rapport est en ligne"]  # sent once, never again


# -- "not sent" needs positive evidence (review of issue 12, item 1) ---------------------------


@pytest.mark.slow  # waits on the real clock for the protocol's timings
async def test_copies_slower_than_the_wait_do_not_make_a_send_in_doubt_go_out_twice(
    engine: Engine, tg: FakeTelegram
) -> None:
    tg.forward_delay = 4.0  # the group's copies come later than the wait
    async with Bot(engine, tg, wait=2.0, read_within=6.0) as running:
        await running.publish(publication("premier"))
        await running.copied(1)
        post = publication("p7")
        tg.fail_after_sending("sendMessage", status=502)
        await running.publish(post)

        assert texts(tg, CHANNEL).count("p7 : le rapport est en ligne") == 1  # never twice
        [sent] = [m for m in tg.sent if m.text and m.text.startswith("p7")]
        # copies of this channel take longer than the wait: the bot waits for this one
        assert running.row(post)[:2] == ("published", f"{CHANNEL}:{sent.message_id}")


@pytest.mark.slow  # waits on the real clock for the protocol's timings
async def test_a_send_in_doubt_while_the_group_cannot_be_read_stays_unknown(
    bot: Bot, tg: FakeTelegram
) -> None:
    post = publication("p8")
    tg.fail("getUpdates", status=502, times=8)  # Telegram's gateway fails the collector too
    tg.fail_after_sending("sendMessage", status=502)
    await bot.publish(post)

    assert texts(tg, CHANNEL).count("p8 : le rapport est en ligne") == 1  # never twice
    assert bot.row(post)[0] == PublicationState.UNKNOWN


@pytest.mark.slow  # waits on the real clock for the protocol's timings
async def test_a_send_in_doubt_after_a_post_whose_copy_never_came_stays_unknown(
    bot: Bot, tg: FakeTelegram
) -> None:
    tg.forward_channel_posts = False  # the group was unlinked, or the bot removed from it
    await bot.publish(publication("deuxieme"))  # its copy never comes
    post = publication("p9")
    tg.fail_after_sending("sendMessage", status=502)
    await bot.publish(post)

    assert texts(tg, CHANNEL).count("p9 : le rapport est en ligne") == 1  # never twice
    assert bot.row(post)[0] == PublicationState.UNKNOWN


@pytest.mark.slow  # waits on the real clock for the protocol's timings
async def test_a_send_in_doubt_long_after_the_last_copy_came_stays_unknown(bot: Bot, tg: FakeTelegram) -> None:
    from bot.store.schema import publications, remote_links

    with bot.store.engine.begin() as connection:  # "premier" and its copy: two hours ago
        for table, column in ((remote_links, "posted_at"), (publications, "first_wire_at")):
            old = datetime.now(UTC) - timedelta(hours=2)
            connection.execute(table.update().values({column: old}))
    tg.forward_channel_posts = False  # copies stopped coming since
    post = publication("p10")
    tg.fail_after_sending("sendMessage", status=502)
    await bot.publish(post)

    assert texts(tg, CHANNEL).count("p10 : le rapport est en ligne") == 1  # never twice
    assert bot.row(post)[0] == PublicationState.UNKNOWN

"""How soon Relais hears its followers, and how soon it settles a send in doubt (issue 12).

Everything is real but the networks, which are the loopback fakes of tests/fakes (each in its
own thread): the collector's loops (``Collector.run_timelines`` with its streams,
``Collector.run_updates``'s long poll), the readers, the sender, the publisher, a
temporary SQLite store. Default timings (``CollectorTiming()``, ``DoubtTiming()``); the
Mastodon poll is left at 30 s, so what arrives sooner came by a stream.

(a) Mastodon: ``--replies`` statuses with the campaign hashtag are posted one at a time on the
    fake; for each, the seconds until it is in the store. Target: p95 < 3 s.
(b) Telegram: as many messages with the hashtag in a group; the seconds until stored.
    Target: p95 < 2 s.
(c) Deletions: each Mastodon reply of (a) is deleted by its author, one at a time; the
    seconds until it has left the store (the hashtag stream's ``delete``). Target: p95 < 5 s.
(d) Sends in doubt: ``--doubts`` posts to a channel with a discussion group, each answered
    502 after Telegram sent it; the seconds from its send to ``published`` (its copy seen in
    the group). The sender's flood limiter is off here (it would hold the later posts to
    one channel back before they are sent, which is not what is timed). Also one answered
    502 before anything was sent: the seconds until it is ``published`` by the send after
    the wait. Target: every one settled < 30 s.

    .venv/bin/python benchmarks/realtime.py [--replies 40] [--doubts 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.adapters.mastodon.reader import MastodonReader
from bot.adapters.telegram.reader import TelegramReader
from bot.adapters.telegram.sender import TelegramSender
from bot.clock import SystemClock
from bot.domain import Campaign, Channel, Moderation, Publication
from bot.services.collector import Collector
from bot.services.doubts import Doubts
from bot.services.publisher import Publisher
from bot.store import database
from bot.store.handle import Store
from tests.data import Network
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import FakeTelegram

TAG = "gautrinweb2"
MASTODON_TOKEN = "benchmark-mastodon-token"
TELEGRAM_TOKEN = "123456:benchmark-telegram-token"
CHANNEL, GROUP = -1001234567890, -1009876543210


def campaign(*publications: Publication) -> Campaign:
    return Campaign(
        "c",
        Path("c.yaml"),
        ZoneInfo("UTC"),
        "fr",
        (TAG,),
        {},
        timedelta(minutes=15),
        False,
        Moderation(),
        publications,
    )


def post(pub_id: str) -> Publication:
    return Publication(
        campaign="c",
        id=pub_id,
        channel=Channel("tg", Network.TELEGRAM, chat="@GautrinWeb2"),
        at=datetime.now(UTC),
        timezone=ZoneInfo("UTC"),
        text=f"<b>{pub_id}</b> : le rapport est en ligne",
        length=40,
        limit=4096,
        language="fr",
    )


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> float:
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise TimeoutError("not reached in time")
        await asyncio.sleep(0.01)
    return time.monotonic() - began


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]


def report(name: str, values: list[float], target: float) -> bool:
    ok = p95(values) < target
    print(
        f"{name}: n={len(values)} p50 {statistics.median(values):.3f} s, p95 {p95(values):.3f} s, "
        f"max {max(values):.3f} s (target p95 < {target:g} s) {'PASS' if ok else 'FAIL'}"
    )
    return ok


async def mastodon(store: Store, replies: int) -> tuple[list[float], list[float]]:
    stored = store.comments
    with FakeMastodon(token=MASTODON_TOKEN) as md:
        reader = MastodonReader(md.url, MASTODON_TOKEN)
        await reader.start()
        collector = Collector(store, SystemClock(), lambda: [campaign()])
        stop, lock = asyncio.Event(), store.lock("mastodon")
        task = asyncio.create_task(collector.run_timelines(reader, lock, stop))
        modes = lambda: stored.positions().get(f"stream:mastodon:{TAG}", ("",))[0]  # noqa: E731
        await until(lambda: modes() == "streaming")
        arrivals, deletions, ids = [], [], []
        for i in range(replies):
            status = md.add_remote_status(f"user{i}@example.org", f"<p>Avis {i} #{TAG}</p>")
            ids.append(status["id"])
            arrivals.append(
                await until(lambda s=status: stored.by_remote_id(Network.MASTODON, s["id"]) is not None)
            )
        for remote_id in ids:
            md.delete_status(remote_id)
            deletions.append(
                await until(lambda r=remote_id: stored.by_remote_id(Network.MASTODON, r) is None)
            )
        stop.set()
        await task
        lock.release()
        await reader.close()
    return arrivals, deletions


async def telegram(store: Store, replies: int) -> list[float]:
    stored = store.comments
    with FakeTelegram(token=TELEGRAM_TOKEN, rate_limited=False) as tg:
        tg.add_chat(GROUP, "supergroup", title="Discussion")
        reader = TelegramReader(TELEGRAM_TOKEN, tg.url)
        await reader.start()
        collector = Collector(store, SystemClock(), lambda: [campaign()])
        stop, lock = asyncio.Event(), store.lock("telegram")
        task = asyncio.create_task(collector.run_updates(reader, lock, stop))
        await asyncio.sleep(0.5)  # its first long poll is waiting
        arrivals = []
        for i in range(replies):
            message = tg.group_message(GROUP, tg.user(500 + i, f"P{i}"), f"Avis {i} #{TAG}")["message"]
            remote_id = f"{GROUP}:{message['message_id']}"
            arrivals.append(
                await until(lambda r=remote_id: stored.by_remote_id(Network.TELEGRAM, r) is not None)
            )
        stop.set()
        await task
        lock.release()
        await reader.close()
    return arrivals


async def doubts(store: Store, count: int) -> tuple[list[float], float]:
    with FakeTelegram(token=TELEGRAM_TOKEN, rate_limited=False) as tg:
        tg.add_chat(CHANNEL, "channel", username="GautrinWeb2", linked_chat_id=GROUP)
        tg.add_chat(GROUP, "supergroup", title="Discussion")
        tg.forward_channel_posts = True
        # Without the flood limiter (14 posts a minute to one channel, which would make the
        # later sends wait before they are written): what is timed is the doubt's settling.
        sender = TelegramSender(TELEGRAM_TOKEN, tg.url, rate_limit=False)
        reader = TelegramReader(TELEGRAM_TOKEN, tg.url)
        await sender.start()
        await reader.start()
        clock = SystemClock()
        publisher = Publisher(store, {Network.TELEGRAM: sender}, clock, doubts=Doubts(store, clock))
        collector = Collector(store, clock, lambda: [campaign()])
        stop, lock = asyncio.Event(), store.lock("telegram")
        task = asyncio.create_task(collector.run_updates(reader, lock, stop))

        async def publish(publication: Publication) -> float:
            await publisher.load([campaign(publication)], datetime.now(UTC))
            began = time.monotonic()
            await publisher.fire(publication.key)
            await publisher.drain()
            state = store.ledger.rows()[publication.key].state
            assert state == "published", state
            return time.monotonic() - began

        await publish(post("premier"))  # forwards are then known to arrive for this channel
        await until(lambda: store.comments.copied_chat(Network.TELEGRAM, "c", "tg") is not None)
        settled = []
        for i in range(count):
            tg.fail_after_sending("sendMessage", status=502)
            settled.append(await publish(post(f"doute-{i}")))
        tg.fail("sendMessage", status=502)
        resent = await publish(post("jamais-parti"))
        stop.set()
        await task
        lock.release()
        await sender.close()
        await reader.close()
    return settled, resent


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replies", type=int, default=40)
    parser.add_argument("--doubts", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        stores = []
        for name in ("mastodon", "telegram", "doubts"):  # one each: each fake numbers its updates anew
            engine = database.create(f"sqlite:///{folder}/{name}.db")
            database.upgrade(engine)
            stores.append(Store(engine))
        arrivals, deletions = await mastodon(stores[0], args.replies)
        telegram_arrivals = await telegram(stores[1], args.replies)
        settled, resent = await doubts(stores[2], args.doubts)
        for store in stores:
            store.close()
            store.engine.dispose()
    results = [
        report("(a) Mastodon hashtag reply in the store", arrivals, 3.0),
        report("(b) Telegram reply in the store", telegram_arrivals, 2.0),
        report("(c) Mastodon deletion gone from the store", deletions, 5.0),
        report("(d) Telegram send in doubt (502 after sending) settled, published", settled, 30.0),
        report("(d') Telegram send in doubt (502 before sending) settled, sent once", [resent], 30.0),
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

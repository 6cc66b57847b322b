"""The store, opened once, serves every service of a process at once, the publisher and a
web page beside it included, and lets go of everything when it closes. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from sqlalchemy import create_engine, text

from bot.adapters.console import ConsoleSender
from bot.clock import SimulatedClock
from bot.domain import Campaign, Channel, CommentState, Moderation, Publication, Reply
from bot.ports import OnWire, Page, Receipt
from bot.services.collector import Collector
from bot.services.moderation import ModerationService
from bot.services.publisher import Publisher
from bot.services.runner import Runner
from bot.services.timers import SimulatedTimers
from bot.store import database
from bot.store.comments import CommentQuery
from bot.store.handle import WRITER_THREAD, Store
from tests.data import Network

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test

NOW = datetime(2012, 5, 2, 18, 0, tzinfo=UTC)
ZONE = ZoneInfo("America/Montreal")
CHANNEL = Channel("masto", Network.MASTODON)
POSTS = 12
PAGES = 12


def campaign() -> Campaign:
    posts = tuple(
        Publication(
            campaign="c",
            id=f"p{i}",
            channel=CHANNEL,
            at=NOW + timedelta(minutes=i),
            timezone=ZONE,
            text=f"Annonce {i} #gautrinweb2",
            length=20,
            limit=500,
            language="fr",
        )
        for i in range(POSTS)
    )
    return Campaign(
        slug="c",
        source=Path("c.yaml"),
        timezone=ZONE,
        language="fr",
        hashtags=("gautrinweb2",),
        channels={"masto": CHANNEL},
        grace=timedelta(minutes=15),
        acknowledge=False,
        moderation=Moderation(),
        publications=posts,
    )


def reply(n: int) -> Reply:
    return Reply(
        network=Network.MASTODON,
        remote_id=str(n),
        text=f"Avis {n} #gautrinweb2",
        created_at=NOW,
        author_id=str(n),
        author_handle=f"@u{n}@example.org",
        author_name=f"U{n}",
        url=f"https://example.org/@u{n}/{n}",
        hashtags=("gautrinweb2",),
    )


class Console_(ConsoleSender):
    """The console channel, noting in ``order`` when each post goes out; after the first, it
    waits for ``collected``: a store the publisher kept to itself would never let it come."""

    def __init__(self, order: list[str], collected: asyncio.Event) -> None:
        super().__init__(Console(file=io.StringIO()))
        self.order = order
        self.collected = collected

    async def publish(self, publication: Publication, *, on_wire: OnWire) -> Receipt:
        receipt = await super().publish(publication, on_wire=on_wire)
        self.order.append("publish")
        await asyncio.wait_for(self.collected.wait(), 30)
        return receipt


async def test_one_store_serves_the_publisher_the_collector_and_a_desk_at_once_then_closes(
    database_url: str,
) -> None:
    order: list[str] = []
    collected, approved = asyncio.Event(), asyncio.Event()  # each service waits for another once
    with Store.open(database_url) as store:
        store.ledger.register()  # as relais run does
        database.upgrade(store.engine)
        clock = SimulatedClock(NOW)
        publisher = Publisher(store, {Network.MASTODON: Console_(order, collected)}, clock)
        collector = Collector(store, clock, lambda: [campaign()])
        threads: set[threading.Thread] = set()

        async def publish() -> None:
            timers = SimulatedTimers(clock)
            await Runner(publisher, timers, Path("."), Path(".")).apply([campaign()])
            await timers.run(after_each=publisher.drain)
            await publisher.stop()
            threads.add(await store.run(threading.current_thread))

        async def collect() -> None:
            for page in range(PAGES):
                await collector.save(
                    Network.MASTODON, "mastodon:tag:gautrinweb2", Page([reply(page)], str(page))
                )
                order.append("collect")
                collected.set()
                await asyncio.wait_for(approved.wait(), 30)
            threads.add(await store.run(threading.current_thread))

        async def moderate() -> None:  # a web page in the same process: the store, no publisher
            desk = ModerationService(store.comments, SimulatedClock(NOW))
            decided = 0
            while decided < PAGES:
                pending = await store.run(
                    store.comments.find, CommentQuery(states=(CommentState.PENDING.value,)), limit=None
                )
                if pending:
                    await store.run(desk.decide, [c.id for c in pending], CommentState.APPROVED, actor="ana")
                    decided += len(pending)
                    order.append("approve")
                    approved.set()
                else:
                    await asyncio.sleep(0)  # nothing collected yet: let the collector go on
            threads.add(await store.run(threading.current_thread))

        await asyncio.gather(publish(), collect(), moderate())

        assert {r.state for r in store.ledger.rows().values()} == {"published"}
        assert len(store.ledger.rows()) == POSTS
        assert [c.state for c in store.comments.find(limit=None)] == ["approved"] * PAGES
        # at once: each service's work came between the others', not after it (each waits for
        # another once: a store lent to one service alone would stop them all, till the timeout)
        assert order.index("collect") < max(i for i, what in enumerate(order) if what == "publish")
        assert order.index("publish") < max(i for i, what in enumerate(order) if what == "collect")
        assert "approve" in order[: max(i for i, what in enumerate(order) if what == "collect")]
        # on one thread, the store's, which is not the event loop's
        [writer] = threads
        assert writer.name.startswith(WRITER_THREAD)
        assert writer is not threading.current_thread()

    # closed: its thread is gone, it takes no more calls, and it holds nothing in the database
    assert not writer.is_alive()
    with pytest.raises(RuntimeError):
        await store.run(threading.current_thread)
    if database_url.startswith("sqlite"):
        with Store.open(database_url) as again:
            again.ledger.register()  # would raise StoreInUse had the first kept its lock file
    else:
        observer = create_engine(database_url)
        with observer.connect() as connection:
            others = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
        observer.dispose()
        assert others == 0

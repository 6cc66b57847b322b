"""The recheck of stored Mastodon replies, for the edits and deletions no stream reported:
by risk (young replies often, old ones rarely) and within a budget of lookups, on a real
store (SQLite and PostgreSQL) and, for the lookups, the loopback Mastodon."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from bot.adapters.mastodon.reader import MastodonReader
from bot.clock import SimulatedClock
from bot.domain import Reply
from bot.services.collector import Collector, CollectorTiming
from bot.store.comments import Collected, CommentStore
from bot.store.handle import Store
from tests.data import Network
from tests.fakes.mastodon_api import FakeMastodon
from tests.harness import MASTODON_TOKEN
from tests.inprocess import CAMPAIGN

NOW = datetime(2012, 5, 2, 12, 0, tzinfo=UTC)
TIERS = CollectorTiming().recheck_tiers


def store_reply(comments: CommentStore, remote_id: str, age: timedelta, checked: timedelta | None) -> None:
    created = NOW - age
    reply = Reply(Network.MASTODON, remote_id, "texte", created, "1", "@a@example.org", "A")
    comments.save_page(None, None, [Collected(reply, "c", None)], now=created)
    if checked is not None:
        comments.mark_checked(Network.MASTODON, [remote_id], NOW - checked)


@pytest.fixture
def comments(engine: Engine) -> CommentStore:
    return CommentStore(engine)


def test_replies_are_due_by_their_age_and_when_they_were_last_looked_at(comments: CommentStore) -> None:
    minute, hour, day = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
    store_reply(comments, "1", 10 * minute, checked=None)  # young, never looked at again: due
    store_reply(comments, "2", 10 * minute, checked=minute)  # young, just looked at
    store_reply(comments, "3", 20 * minute, checked=5 * minute)  # young, looked at 5 min ago: due
    store_reply(comments, "4", 5 * hour, checked=10 * minute)  # a day old at most: every 15 min
    store_reply(comments, "5", 5 * hour, checked=20 * minute)  # due
    store_reply(comments, "6", 3 * day, checked=hour)  # a week at most: every 2 h
    store_reply(comments, "7", 3 * day, checked=3 * hour)  # due
    store_reply(comments, "8", 30 * day, checked=20 * hour)  # older: daily
    store_reply(comments, "9", 30 * day, checked=25 * hour)  # due

    assert comments.due_for_recheck(Network.MASTODON, NOW, TIERS, 100) == ["1", "3", "5", "7", "9"]
    assert comments.due_for_recheck(Network.MASTODON, NOW, TIERS, 2) == ["1", "3"]  # the young first
    # after a restart, what the streams of the process before may have missed: the young ones
    restarted = NOW - 30 * timedelta(seconds=1)
    due = comments.due_for_recheck(Network.MASTODON, NOW, TIERS, 100, stale_before=restarted)
    assert due == ["1", "3", "2", "5", "7", "9"]


@pytest.fixture
def store(engine: Engine) -> Iterator[Store]:
    with Store(engine) as store:
        yield store


@pytest.mark.slow
async def test_a_recheck_looks_up_no_more_than_its_budget(store: Store) -> None:
    with FakeMastodon(token=MASTODON_TOKEN) as md:
        statuses = [md.add_remote_status(f"u{i}@example.org", f"<p>Avis {i}</p>") for i in range(30)]
        for status in statuses:
            store_reply(store.comments, status["id"], timedelta(minutes=5), checked=None)
        md.delete_status(statuses[0]["id"])
        reader = MastodonReader(md.url, MASTODON_TOKEN, timeout=5.0, streaming=False)
        await reader.start()
        clock = SimulatedClock(NOW)
        collector = Collector(store, clock, lambda: [CAMPAIGN], CollectorTiming(recheck_budget=20))
        try:
            await collector.recheck_due(reader)
            first = [r.path for r in md.requests if r.path.startswith("/api/v1/statuses/")]
            await collector.recheck_due(reader)  # the rest; the first 20 are not due again yet
            second = [r.path for r in md.requests if r.path.startswith("/api/v1/statuses/")][len(first) :]
        finally:
            await reader.close()
    assert len(first) == 20
    assert len(second) == 10
    assert set(first).isdisjoint(second)
    assert len(store.comments.find(limit=None)) == 29  # the deleted one is gone

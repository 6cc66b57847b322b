"""The publishing service with a real store (SQLite and PostgreSQL) and a scripted sender.

The networks themselves are exercised over HTTP in the adapter and end-to-end tests; here
the sender is a small stand-in that plays a script of outcomes, so that every decision of
the publisher (retry, wait, give up, never repeat, miss) can be checked exactly."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from bot.adapters.mastodon.sender import MastodonSender
from bot.clock import SimulatedClock
from bot.domain import Campaign, Channel, Moderation, Publication
from bot.ports import OnWire, OutcomeUnknown, PermanentError, RateLimited, Receipt, TemporaryError
from bot.services.alerts import Alerts, alert_text
from bot.services.publisher import Publisher, RetryPolicy, lateness
from bot.services.runner import Runner
from bot.services.timers import SimulatedTimers
from bot.store.handle import Store
from bot.store.ledger import Ledger, Row
from tests.data import Network
from tests.fakes.mastodon_api import FakeMastodon
from tests.harness import MASTODON_TOKEN

START = datetime(2012, 5, 2, 12, 0, tzinfo=UTC)
ZONE = ZoneInfo("America/Montreal")
MASTODON = Channel("masto", Network.MASTODON)
TELEGRAM = Channel("tg", Network.TELEGRAM, chat="@GautrinWeb2")
HERE = Path(".")  # the runner's schedules/ and messages/: not read by these tests
FAST = RetryPolicy(attempts=4, initial=0.001, maximum=0.002)


@dataclass
class ScriptedSender:
    """Plays ``script`` (exceptions or None for success), then succeeds. Each call puts a
    request on the wire (``on_wire``) before its outcome."""

    script: list[Exception | None] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, publication: Publication, *, on_wire: OnWire) -> Receipt:
        await on_wire()
        self.sent.append(publication.key)
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        return Receipt(remote_id=str(len(self.sent)), url=f"https://example.org/{len(self.sent)}")


def pub(
    pub_id: str, at: datetime, channel: Channel = MASTODON, not_after: datetime | None = None
) -> Publication:
    return Publication(
        campaign="c",
        id=pub_id,
        channel=channel,
        at=at,
        timezone=ZONE,
        text="x",
        length=1,
        limit=500,
        language="fr",
        not_after=not_after,
    )


def campaign(*publications: Publication) -> Campaign:
    return Campaign(
        slug="c",
        source=Path("c.yaml"),
        timezone=ZONE,
        language="fr",
        hashtags=(),
        channels={"masto": MASTODON, "tg": TELEGRAM},
        grace=timedelta(minutes=15),
        acknowledge=False,
        moderation=Moderation(),
        publications=publications,
    )


@pytest.fixture
def world(engine: Engine) -> Iterator[tuple[Store, SimulatedClock]]:
    with Store(engine, "me") as store:
        yield store, SimulatedClock(START)


async def play(
    store: Store,
    clock: SimulatedClock,
    senders: dict,
    *publications: Publication,
    retry: RetryPolicy = FAST,
    grace: timedelta = timedelta(minutes=15),
) -> dict[str, tuple[str, int, str | None]]:
    publisher = Publisher(store, senders, clock, retry=retry)
    timers = SimulatedTimers(clock)
    await Runner(publisher, timers, HERE, HERE).apply(
        [dataclasses.replace(campaign(*publications), grace=grace)]
    )
    await timers.run(after_each=publisher.drain)
    await publisher.stop()
    return {k: (r.state, r.attempts, r.last_error) for k, r in store.ledger.rows().items()}


async def test_publishes_each_publication_once_at_its_time(world) -> None:
    store, clock = world
    ledger = store.ledger
    sender = ScriptedSender()
    rows = await play(
        store,
        clock,
        {Network.MASTODON: sender, Network.TELEGRAM: sender},
        pub("a", START + timedelta(hours=1)),
        pub("b", START + timedelta(hours=2), TELEGRAM),
    )
    assert rows == {"c/a/masto": ("published", 1, None), "c/b/tg": ("published", 1, None)}
    assert sender.sent == ["c/a/masto", "c/b/tg"]
    assert clock.now() == START + timedelta(hours=2)
    assert ledger.rows()["c/b/tg"].remote_url == "https://example.org/2"
    # a second run over the same ledger sends nothing again
    assert (
        await play(
            store,
            clock,
            {Network.MASTODON: sender, Network.TELEGRAM: sender},
            pub("a", START + timedelta(hours=1)),
            pub("b", START + timedelta(hours=2), TELEGRAM),
        )
        == rows
    )
    assert sender.sent == ["c/a/masto", "c/b/tg"]


async def test_temporary_errors_are_retried_then_published(world) -> None:
    store, clock = world
    sender = ScriptedSender([TemporaryError("HTTP 502"), TemporaryError("connection refused")])
    rows = await play(store, clock, {Network.MASTODON: sender}, pub("a", START + timedelta(minutes=1)))
    assert rows == {"c/a/masto": ("published", 3, None)}


async def test_retries_are_bounded(world) -> None:
    store, clock = world
    sender = ScriptedSender([TemporaryError("HTTP 500")] * 10)
    rows = await play(store, clock, {Network.MASTODON: sender}, pub("a", START + timedelta(minutes=1)))
    assert rows == {"c/a/masto": ("failed", 4, "gave up retrying: HTTP 500")}
    assert len(sender.sent) == 4


async def test_a_rate_limit_waits_what_the_server_asks(world) -> None:
    store, clock = world
    sender = ScriptedSender([RateLimited("429", retry_after=42)])
    rows = await play(
        store,
        clock,
        {Network.MASTODON: sender},
        pub("a", START + timedelta(minutes=1)),
        retry=RetryPolicy(attempts=3, initial=1, maximum=1),
    )
    assert clock.now() == START + timedelta(minutes=1, seconds=42)  # the clock waited, not a guess
    assert rows["c/a/masto"][:2] == ("published", 2)


async def test_permanent_errors_fail_at_once_with_the_server_reason(world) -> None:
    store, clock = world
    sender = ScriptedSender([PermanentError("Validation failed: Text character limit of 500 exceeded")])
    rows = await play(store, clock, {Network.MASTODON: sender}, pub("a", START + timedelta(minutes=1)))
    assert rows == {"c/a/masto": ("failed", 1, "Validation failed: Text character limit of 500 exceeded")}


async def test_an_unknown_outcome_is_never_sent_again(world) -> None:
    store, clock = world
    sender = ScriptedSender([OutcomeUnknown("timed out after the request was sent")])
    rows = await play(
        store, clock, {Network.TELEGRAM: sender}, pub("a", START + timedelta(minutes=1), TELEGRAM)
    )
    assert rows == {"c/a/tg": ("unknown", 1, "timed out after the request was sent")}
    assert sender.sent == ["c/a/tg"]
    await play(store, clock, {Network.TELEGRAM: sender}, pub("a", START + timedelta(minutes=1), TELEGRAM))
    assert sender.sent == ["c/a/tg"]


async def test_overdue_within_grace_is_sent_at_start_beyond_grace_is_missed(world) -> None:
    store, clock = world
    sender = ScriptedSender()
    rows = await play(
        store,
        clock,
        {Network.MASTODON: sender},
        pub("late", START - timedelta(minutes=14)),
        pub("too-late", START - timedelta(minutes=16)),
    )
    assert rows["c/late/masto"][0] == "published"
    assert rows["c/too-late/masto"] == (
        "missed",
        0,
        "missed: it was due 16 min ago, more than the grace period of 15 min",
    )
    assert sender.sent == ["c/late/masto"]


async def test_a_reminder_is_never_sent_after_its_livestream_started(world) -> None:
    store, clock = world
    sender = ScriptedSender()
    starts = START - timedelta(minutes=5)
    rows = await play(
        store,
        clock,
        {Network.MASTODON: sender},
        pub("live@10m", starts - timedelta(minutes=10), not_after=starts),
        pub("live@start", starts, not_after=starts + timedelta(hours=1)),
    )
    assert rows["c/live@10m/masto"] == ("missed", 0, "missed: its livestream had already started")
    assert rows["c/live@start/masto"][0] == "published"


async def test_retries_stop_at_the_deadline(world) -> None:
    store, clock = world
    sender = ScriptedSender([RateLimited("429", retry_after=3600)])  # would go past the grace period
    rows = await play(store, clock, {Network.MASTODON: sender}, pub("a", START + timedelta(minutes=1)))
    assert rows == {"c/a/masto": ("failed", 1, "gave up retrying: 429")}


async def test_a_failing_channel_does_not_delay_another(world) -> None:
    store, clock = world
    ledger = store.ledger
    stuck = asyncio.Event()

    class Hanging(ScriptedSender):  # on the wire, its answer slow to come
        async def publish(self, publication: Publication, *, on_wire: OnWire) -> Receipt:
            await on_wire()
            await stuck.wait()
            return await super().publish(publication, on_wire=on_wire)

    fast = ScriptedSender()
    publisher = Publisher(store, {Network.MASTODON: Hanging(), Network.TELEGRAM: fast}, clock, retry=FAST)
    timers = SimulatedTimers(clock)
    runner = Runner(publisher, timers, HERE, HERE)
    await runner.apply(
        [campaign(pub("a", START + timedelta(minutes=1)), pub("a", START + timedelta(minutes=1), TELEGRAM))]
    )
    await timers.run()
    await asyncio.wait_for(_until(lambda: ledger.rows()["c/a/tg"].state == "published"), timeout=5)
    assert ledger.rows()["c/a/masto"].state == "sending"
    stuck.set()
    await publisher.stop()
    assert ledger.rows()["c/a/masto"].state == "published"


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_alerts_are_sent_once_per_problem(world) -> None:
    store, clock = world
    told: list[str] = []

    async def notify(text: str) -> None:
        told.append(text)

    alerts = Alerts(store, clock, notify)
    publisher = Publisher(
        store,
        {Network.MASTODON: ScriptedSender([PermanentError("HTTP 403 Forbidden")])},
        clock,
        retry=FAST,
        on_outcome=alerts.flush,
    )
    timers = SimulatedTimers(clock)
    runner = Runner(publisher, timers, HERE, HERE, on_change=alerts.flush)
    await runner.apply(
        [campaign(pub("a", START + timedelta(minutes=1)), pub("old", START - timedelta(days=1)))]
    )
    await timers.run(after_each=publisher.drain)
    await alerts.flush()
    await publisher.stop()
    assert told == [
        "Relais: old (c) was missed on masto, due 2012-05-01 12:00 UTC.\n"
        "missed: it was due 1 day ago, more than the grace period of 15 min",
        "Relais: a (c) was not published on masto, due 2012-05-02 12:01 UTC.\nHTTP 403 Forbidden",
    ]


def test_lateness_rules() -> None:
    at = START
    assert lateness(pub("a", at), at + timedelta(minutes=14, seconds=59), timedelta(minutes=15)) is None
    assert lateness(pub("a", at), at + timedelta(minutes=15), timedelta(minutes=15)) is not None
    assert (
        lateness(
            pub("x@start", at, not_after=at + timedelta(hours=1)), at + timedelta(hours=2), timedelta(hours=3)
        )
        == "its livestream had ended"
    )
    assert alert_text  # imported for the alert test above


async def test_a_channel_whose_network_has_no_account_fails_with_a_reason(world) -> None:
    store, clock = world
    rows = await play(
        store, clock, {Network.TELEGRAM: ScriptedSender()}, pub("a", START + timedelta(minutes=1))
    )
    assert rows == {
        "c/a/masto": ("failed", 0, "this relais run has no mastodon account: restart it with its settings")
    }


async def test_a_stop_during_a_retry_wait_leaves_the_publication_pending(world) -> None:
    store, _ = world
    ledger = store.ledger
    clock = SimulatedClock(START, speed=1.0)  # real seconds: the wait is really long
    attempted = asyncio.Event()

    class Limited(ScriptedSender):
        async def publish(self, publication: Publication, *, on_wire: OnWire) -> Receipt:
            attempted.set()
            return await super().publish(publication, on_wire=on_wire)

    sender = Limited([RateLimited("429", retry_after=600)])
    publisher = Publisher(store, {Network.MASTODON: sender}, clock, retry=FAST)
    timers = SimulatedTimers(clock)
    await Runner(publisher, timers, HERE, HERE).apply([campaign(pub("a", START))])
    await timers.run()
    await asyncio.wait_for(attempted.wait(), timeout=5)
    await asyncio.wait_for(publisher.stop(), timeout=5)  # does not sit out the 600 s
    row = ledger.rows()["c/a/masto"]
    assert (row.state, row.attempts) == ("pending", 1)
    assert len(sender.sent) == 1


async def test_a_post_tried_before_a_crash_and_now_too_late_is_unknown_not_missed(engine: Engine) -> None:
    ledger = Ledger(engine, "dead")
    late = pub("a", START - timedelta(minutes=20))
    ledger.sync([late], START - timedelta(minutes=20))
    ledger.claim([late.key], START - timedelta(minutes=20))
    ledger.wire(late.key, START - timedelta(minutes=20))
    with Store(engine, "me") as survivor:
        assert [r.state for r in survivor.ledger.recover(START - timedelta(minutes=19))] == [
            "pending"
        ]  # Mastodon: retry
        rows = await play(survivor, SimulatedClock(START), {Network.MASTODON: ScriptedSender()}, late)
    assert rows["c/a/masto"][0] == "unknown"
    assert rows["c/a/masto"][2].endswith("an earlier attempt may have published it")


# -- a Mastodon post in doubt, over HTTP: retried only while the server remembers its key ----


def long_grace(*publications: Publication) -> Campaign:
    return dataclasses.replace(campaign(*publications), grace=timedelta(hours=2))


async def _timed_out_then_stopped(store: Store, fake: FakeMastodon, late: Publication) -> None:
    """The first attempt reaches the server, whose answer comes after the client gave up;
    the bot is stopped while it waits to try again: the row is given back to ``pending``."""
    sender = MastodonSender(fake.url, MASTODON_TOKEN, timeout=0.5)
    await sender.start()
    fake.delay(seconds=3, path="/api/v1/statuses")
    clock = SimulatedClock(START, speed=1.0)  # the retry wait is real: the stop cuts it short
    publisher = Publisher(
        store, {Network.MASTODON: sender}, clock, retry=RetryPolicy(initial=600, maximum=600)
    )
    ledger = store.ledger
    timers = SimulatedTimers(clock)
    await Runner(publisher, timers, HERE, HERE).apply([long_grace(late)])
    await timers.run()
    await asyncio.wait_for(_until(lambda: ledger.rows()[late.key].last_error is not None), timeout=10)
    await asyncio.wait_for(publisher.stop(), timeout=10)
    await sender.close()
    assert ledger.rows()[late.key].state == "pending"
    assert len(fake.statuses) == 1  # the first attempt did publish it


async def _restart(store: Store, fake: FakeMastodon, late: Publication, at: datetime) -> Row:
    sender = MastodonSender(fake.url, MASTODON_TOKEN, timeout=5)
    await sender.start()
    try:
        await play(store, SimulatedClock(at), {Network.MASTODON: sender}, late, grace=timedelta(hours=2))
    finally:
        await sender.close()
    return store.ledger.rows()[late.key]


@pytest.mark.slow
async def test_a_post_given_back_after_a_timeout_is_not_sent_once_its_key_is_forgotten(world) -> None:
    store, _ = world
    late = pub("a", START)
    with FakeMastodon(token=MASTODON_TOKEN) as fake:
        await _timed_out_then_stopped(store, fake, late)
        fake.forget_idempotency_keys()  # what the server does after about an hour
        posts_before = len([r for r in fake.requests if r.path == "/api/v1/statuses"])
        row = await _restart(store, fake, late, START + timedelta(minutes=55))  # within grace
        assert row.state == "unknown", row
        assert "idempotency" in (row.last_error or ""), row.last_error
        assert len(fake.statuses) == 1
        assert len([r for r in fake.requests if r.path == "/api/v1/statuses"]) == posts_before


@pytest.mark.slow
async def test_a_post_given_back_after_a_timeout_is_sent_again_with_its_key_inside_the_window(
    world,
) -> None:
    store, _ = world
    late = pub("a", START)
    with FakeMastodon(token=MASTODON_TOKEN) as fake:
        await _timed_out_then_stopped(store, fake, late)
        row = await _restart(store, fake, late, START + timedelta(minutes=10))
        assert row.state == "published", row
        assert len(fake.statuses) == 1
        [first, again] = [r for r in fake.requests if r.path == "/api/v1/statuses"]
        assert first.idempotency_key == again.idempotency_key


# -- a stop gives back what is not on the wire; a sweep takes over what no one sends ----------


async def test_a_stop_gives_back_at_once_a_send_still_waiting_for_a_rate_limit(world) -> None:
    store, clock = world
    ledger = store.ledger
    waiting = asyncio.Event()

    class Paced(ScriptedSender):  # waits for its turn (a flood limiter) before the wire
        async def publish(self, publication: Publication, *, on_wire: OnWire) -> Receipt:
            waiting.set()
            await asyncio.Event().wait()  # its turn never comes before the stop
            return await super().publish(publication, on_wire=on_wire)

    publisher = Publisher(store, {Network.TELEGRAM: Paced()}, clock, retry=FAST)
    timers = SimulatedTimers(clock)
    await Runner(publisher, timers, HERE, HERE).apply([campaign(pub("a", START, TELEGRAM))])
    await timers.run()
    await asyncio.wait_for(waiting.wait(), timeout=5)
    await asyncio.wait_for(publisher.stop(), timeout=5)
    row = ledger.rows()["c/a/tg"]
    assert (row.state, row.attempts, row.on_wire) == ("pending", 0, False)
    # and a crash at that point would not have put it in doubt either
    assert not row.in_doubt


async def test_a_sweep_sends_a_row_claimed_by_this_process_that_no_task_sends(world) -> None:
    """A claim whose answer a store outage lost: the row is this process's, no task sends it."""
    store, clock = world
    ledger = store.ledger
    sender = ScriptedSender()
    publisher = Publisher(store, {Network.TELEGRAM: sender}, clock, retry=FAST)
    timers = SimulatedTimers(clock)
    late = pub("a", START, TELEGRAM)
    await Runner(publisher, timers, HERE, HERE).apply([campaign(late)])
    timers.cancel(late.key)
    ledger.claim([late.key], START)  # committed, but the process never heard back
    assert [r.state for r in await publisher.sweep()] == ["pending"]
    await publisher.drain()
    await publisher.stop()
    assert ledger.rows()[late.key].state == "published"
    assert sender.sent == [late.key]


@pytest.mark.slow
async def test_a_due_row_skipped_while_another_process_held_it_is_sent_by_the_next_sweep(
    postgres_url: str,
) -> None:
    """Two processes on one PostgreSQL store: this one's timer fires while the other holds
    the row in a claim (``FOR UPDATE``) that then never commits (the process died). The
    claim skipped the row; no timer is left for it, so the sweep must send it."""
    from bot.store import database

    engine = database.create(postgres_url)
    database.upgrade(engine)
    clock = SimulatedClock(START)
    sender = ScriptedSender()
    try:
        with Store(engine, "survivor") as store:
            publisher = Publisher(store, {Network.TELEGRAM: sender}, clock, retry=FAST)
            timers = SimulatedTimers(clock)
            due = pub("a", START, TELEGRAM)
            await Runner(publisher, timers, HERE, HERE).apply([campaign(due)])
            with engine.connect() as other:  # the other process, mid-claim
                other.exec_driver_sql(
                    "SELECT key FROM publications WHERE key = %s FOR UPDATE", (due.key,)
                ).all()
                await timers.run(after_each=publisher.drain)  # fires; the claim skips the held row
                assert sender.sent == []
                other.rollback()  # the other process dies before its claim commits
            assert store.ledger.rows()[due.key].state == "pending"
            await publisher.sweep()
            await publisher.drain()
            await publisher.stop()
            assert sender.sent == [due.key]
            assert store.ledger.rows()[due.key].state == "published"
    finally:
        engine.dispose()

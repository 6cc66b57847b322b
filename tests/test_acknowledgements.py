"""Acknowledgements (a Mastodon favourite, a Telegram 👍) go to approved replies only,
once, through their own queue, at their own pace, never in the collector's way.

Over HTTP against the loopback servers; the store on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from bot.adapters.mastodon.reader import MastodonReader
from bot.adapters.telegram.reader import TelegramReader
from bot.clock import SimulatedClock, SystemClock
from bot.domain import Campaign, CommentState, Moderation, Removal, Reply
from bot.services.acknowledgements import Acknowledger
from bot.services.collector import Collector, CollectorTiming
from bot.services.moderation import ModerationService
from bot.store import database
from bot.store.acknowledgements import LEASE, AcknowledgementQueue, Entry
from bot.store.comments import Collected, CollectorLock, CommentStore
from bot.store.handle import Store
from tests.data import Network, stamp
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.harness import CHAT, CHAT_ID, MASTODON_TOKEN, Deployment, replies_stored

GROUP_ID = -1009876543210
NOW = datetime(2012, 5, 2, 18, 0, tzinfo=UTC)
SPAM = "Doublez vos bitcoins sur https://crypto-x10.example #gautrinweb2"
CASINO = "Le meilleur casino en ligne #gautrinweb2"


def campaign(*, acknowledge: bool = True) -> Campaign:
    return Campaign(
        slug="c",
        source=Path("c.yaml"),
        timezone=ZoneInfo("America/Montreal"),
        language="fr",
        hashtags=("gautrinweb2",),
        channels={},
        grace=timedelta(minutes=15),
        acknowledge=acknowledge,
        moderation=Moderation(banned_words=("casino",), hold_links=True),
    )


def comment_ids(store: CommentStore) -> dict[str, int]:
    """The stored replies' ids by remote id."""
    return {c.remote_id: c.id for c in store.find(limit=None)}


def decide(store: CommentStore, ids: list[int], state: CommentState, *, actor: str) -> None:
    """A moderator's decision, through the moderation service."""
    ModerationService(store, SimulatedClock(NOW)).decide(ids, state, actor=actor)


# -- end to end: `relais run` and `relais comments approve` ---------------------------------


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with FakeTelegram() as telegram, FakeMastodon(token=MASTODON_TOKEN) as mastodon:
        deployment = Deployment(tmp_path, telegram, mastodon, f"sqlite:///{tmp_path / 'relais.db'}")
        telegram.add_chat(GROUP_ID, "supergroup", title="Discussion", linked_chat_id=CHAT_ID)
        deployment.extra_env["RELAIS_POLL_SECONDS"] = "0.2"
        yield deployment


def write_campaign(deployment: Deployment, *, acknowledge: bool = True) -> None:
    tomorrow = stamp(datetime.now(UTC) + timedelta(days=1))
    (deployment.root / "schedules" / "c.yaml").write_text(
        "campaign: c\ntimezone: America/Montreal\nlanguage: fr-CA\nhashtags: [gautrinweb2]\n"
        f'channels:\n  tg: {{network: telegram, chat: "{CHAT}"}}\n  masto: {{network: mastodon}}\n'
        f"acknowledge: {str(acknowledge).lower()}\n"
        "moderation: {banned_words: [casino], hold_links: true}\n"
        f'posts:\n  - {{id: annonce, at: "{tomorrow}", text: "post annonce"}}\n',
        encoding="utf-8",
    )


def stored(deployment: Deployment) -> list[dict]:
    result = deployment.relais("comments", "list", "--limit", "0", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["comments"]


def test_only_approved_replies_are_acknowledged_and_spam_never(deployment: Deployment) -> None:
    """With acknowledge: true, the flagged scam and casino spam get nothing, the good replies
    nothing until a moderator approves them, then one favourite or 👍 each."""
    telegram, mastodon = deployment.telegram, deployment.mastodon
    write_campaign(deployment)
    good = mastodon.add_remote_status("alice@example.org", "<p>Merci pour le rapport #gautrinweb2</p>")
    mastodon.add_remote_status("scam@spam.example", f"<p>{SPAM}</p>")
    mastodon.add_remote_status("casino@spam.example", f"<p>{CASINO}</p>")
    spammer = telegram.user(666, "Promo")
    telegram.group_message(GROUP_ID, spammer, CASINO)
    telegram.group_message(GROUP_ID, spammer, SPAM)
    liked = telegram.group_message(
        GROUP_ID, telegram.user(501, "Élise"), "Bravo pour la consultation #gautrinweb2"
    )
    bot = deployment.start()
    # Everything is stored (and, before the fix, acknowledged) once the collectors ask for
    # what comes after it. On Mastodon that is a read after the newest status when polled,
    # but a stream that connects first carries the rest with no such read: so the store.
    assert replies_stored(deployment, "mastodon", 3)
    telegram.wait_for(
        lambda tg: any(
            r.method == "getUpdates" and str(r.params.get("offset")) == str(liked["update_id"] + 1)
            for r in tg.requests
        ),
        timeout=30,
    )
    assert mastodon.favourite_requests == []
    assert telegram.reaction_requests == []
    replies = stored(deployment)
    assert Counter((c["network"], c["text"], c["state"]) for c in replies) == Counter(
        {
            ("mastodon", "Merci pour le rapport #gautrinweb2", "pending"): 1,
            ("mastodon", SPAM, "flagged"): 1,
            ("mastodon", CASINO, "flagged"): 1,
            ("telegram", "Bravo pour la consultation #gautrinweb2", "pending"): 1,
            ("telegram", SPAM, "flagged"): 1,
            ("telegram", CASINO, "flagged"): 1,
        }
    )
    approve = [str(c["id"]) for c in replies if c["state"] == "pending"]
    assert deployment.relais("comments", "approve", *approve, "--as", "ana").returncode == 0
    assert mastodon.wait_for(lambda: mastodon.favourite_requests == [good["id"]], timeout=20)
    telegram.wait_for(lambda tg: len(tg.reaction_requests) == 1, timeout=20)
    status = deployment.status()
    table = deployment.relais("status").stdout
    assert bot.stop() == 0, bot.log
    assert mastodon.favourite_requests == [good["id"]]
    assert telegram.reaction_requests == [(str(GROUP_ID), str(liked["message"]["message_id"]))]
    assert status["acknowledgements"] == {"queued": 0, "sent": 2, "failed": 0, "skipped": 0}
    assert "acknowledgements: 0 queued, 2 sent, 0 failed, 0 skipped" in table
    assert DEFAULT_TOKEN not in bot.log


# -- the collector never waits for an acknowledgement ---------------------------------------


@pytest.fixture
async def mastodon_reader() -> AsyncIterator[tuple[FakeMastodon, MastodonReader]]:
    with FakeMastodon(token=MASTODON_TOKEN) as fake:
        reader = MastodonReader(fake.url, MASTODON_TOKEN)
        await reader.start()
        yield fake, reader
        await reader.close()


@pytest.fixture
async def telegram_reader() -> AsyncIterator[tuple[FakeTelegram, TelegramReader]]:
    with FakeTelegram() as fake:
        fake.add_chat(GROUP_ID, "supergroup", title="Discussion")
        reader = TelegramReader(DEFAULT_TOKEN, fake.url, timeout=5.0)
        await reader.start()
        yield fake, reader
        await reader.close()


@pytest.mark.slow
async def test_a_mastodon_reply_after_a_burst_is_stored_without_waiting_for_acknowledgements(
    engine: Engine, mastodon_reader: tuple[FakeMastodon, MastodonReader]
) -> None:
    fake, reader = mastodon_reader
    collector = Collector(Store(engine), SimulatedClock(NOW), lambda: [campaign()])
    store = collector.comments
    earlier = [
        fake.add_remote_status(f"a{i}@example.org", f"<p>Avis {i} #gautrinweb2</p>") for i in range(40)
    ]
    await collector.timeline_round(reader, 1)
    decide(store, list(comment_ids(store).values()), CommentState.APPROVED, actor="ana")
    burst = [
        fake.add_remote_status(f"b{i}@example.org", f"<p>Rafale {i} #gautrinweb2</p>") for i in range(40)
    ]
    late = fake.add_remote_status("late@example.org", "<p>Après la rafale #gautrinweb2</p>")
    mark = len(fake.requests)
    await collector.timeline_round(reader, 2)
    assert set(comment_ids(store)) == {s["id"] for s in [*earlier, *burst, late]}
    # the round made reads only: 40 queued and 40 new replies cost it no request
    assert [r.method for r in fake.requests[mark:]] == ["GET"] * len(fake.requests[mark:])
    assert fake.favourite_requests == []


@pytest.mark.slow
async def test_a_telegram_reply_after_a_burst_is_stored_while_acknowledgements_wait_their_turn(
    engine: Engine, telegram_reader: tuple[FakeTelegram, TelegramReader]
) -> None:
    """40 replies in one page, all approved at once: their 👍 go at the worker's pace (and
    the reader's limiter's, 14 a minute in a group), and the next reply is stored at once."""
    fake, reader = telegram_reader
    bot = Store(engine, "w")  # one store, shared by the collector and the worker, as in relais run
    store = bot.comments
    clock = SystemClock()
    collector = Collector(bot, clock, lambda: [campaign()], CollectorTiming(long_poll=5))
    worker = Acknowledger(Network.TELEGRAM, reader, bot, clock, lambda: [campaign()])
    lock = CollectorLock(engine, "telegram")
    for i in range(40):
        fake.group_message(GROUP_ID, fake.user(1000 + i, f"U{i}"), f"Avis {i} #gautrinweb2")
    stop = asyncio.Event()
    tasks = [asyncio.create_task(collector.run_updates(reader, lock, stop))]
    try:
        # the burst is stored once the next getUpdates confirms it
        await asyncio.to_thread(fake.wait_for, lambda tg: not tg.pending_updates, 10)
        decide(store, list(comment_ids(store).values()), CommentState.APPROVED, actor="ana")
        tasks.append(asyncio.create_task(worker.run(stop)))
        await asyncio.to_thread(fake.wait_for, lambda tg: len(tg.reaction_requests) >= 1, 10)
        late = fake.group_message(GROUP_ID, fake.user(2000, "Tard"), "Après la rafale #gautrinweb2")
        await asyncio.to_thread(
            fake.wait_for,
            lambda tg: any(
                r.method == "getUpdates" and str(r.params.get("offset")) == str(late["update_id"] + 1)
                for r in tg.requests
            ),
            10,
        )
        still_queued = AcknowledgementQueue(engine, "test").counts()["queued"]
    finally:
        stop.set()
        for task in tasks:
            task.cancel()  # a collector stuck in acknowledgements would not see the stop
        await asyncio.gather(*tasks, return_exceptions=True)
        lock.release()
        bot.close()
    assert f"{GROUP_ID}:{late['message']['message_id']}" in comment_ids(store)
    assert still_queued >= 20  # stored long before the queue could drain


# -- the queue and its worker, in this process, on a simulated clock -------------------------


@dataclass
class Desk:
    """One network's collector and acknowledgement worker over the loopback server, a real
    store, and a simulated clock; ``post`` and ``collect`` play the followers and the bot."""

    network: Network
    fake: FakeMastodon | FakeTelegram
    reader: MastodonReader | TelegramReader
    opened: Store  # as the bot holds it
    clock: SimulatedClock
    campaigns: list[Campaign]
    messages: dict[str, dict] = field(default_factory=dict)  # Telegram: what was posted

    @property
    def store(self) -> CommentStore:
        return self.opened.comments

    @property
    def queue(self) -> AcknowledgementQueue:
        return self.opened.acknowledgements

    @property
    def collector(self) -> Collector:
        return Collector(self.opened, self.clock, lambda: self.campaigns, CollectorTiming(long_poll=0))

    def worker(self, owner: str = "worker") -> Acknowledger:
        """A worker of its own process (an ``owner`` of its own)."""
        return Acknowledger(
            self.network, self.reader, Store(self.opened.engine, owner), self.clock, lambda: self.campaigns
        )

    def post(self, text: str = "Bravo #gautrinweb2", *, author: int = 1, nobot: bool = False) -> str:
        """A follower's reply; its remote id."""
        if isinstance(self.fake, FakeMastodon):
            account = f"user{author}@example.org"
            if nobot:
                self.fake.update_account(account, note="<p>Pas de robots, merci : #nobot</p>")
            return self.fake.add_remote_status(account, f"<p>{text}</p>")["id"]
        message = self.fake.group_message(GROUP_ID, self.fake.user(author, f"User {author}"), text)["message"]
        self.messages[f"{GROUP_ID}:{message['message_id']}"] = message
        return f"{GROUP_ID}:{message['message_id']}"

    async def edit(self, remote_id: str, text: str) -> None:
        """Its author edits a reply, and the collector sees it."""
        if isinstance(self.fake, FakeMastodon):
            self.fake.edit_status(remote_id, f"<p>{text}</p>")
            await self.collector.recheck(self.reader)  # type: ignore[arg-type]
        else:
            self.fake.edited_message(self.messages[remote_id], text)
            await self.collect()

    async def collect(self) -> None:
        if isinstance(self.reader, MastodonReader):
            await self.collector.timeline_round(self.reader, 1)
            return
        while True:
            page = await self.reader.updates(self.store.position("telegram:updates"), 0)
            await self.collector.save(Network.TELEGRAM, "telegram:updates", page)
            if not page.items:
                return

    def requests(self) -> list[str]:
        """The remote ids of the acknowledgement requests the server received, in order."""
        if isinstance(self.fake, FakeMastodon):
            return self.fake.favourite_requests
        return [f"{chat}:{message}" for chat, message in self.fake.reaction_requests]

    def approve(self, *remote_ids: str, state: CommentState = CommentState.APPROVED) -> None:
        ids = comment_ids(self.store)
        code = "spam" if state == CommentState.REJECTED else None
        ModerationService(self.store, self.clock).decide(
            [ids[r] for r in remote_ids], state, actor="ana", reason_code=code
        )

    def entries(self) -> dict[str, Entry]:
        by_comment = {c.id: c.remote_id for c in self.store.find(limit=None)}
        return {by_comment.get(e.comment_id, str(e.comment_id)): e for e in self.queue.entries()}


async def drain(desk: Desk, worker: Acknowledger, longest: timedelta = timedelta(hours=3)) -> None:
    """Let the worker run on the simulated clock until nothing is queued (or ``longest``)."""
    deadline = desk.clock.now() + longest
    while desk.clock.now() < deadline:
        when = await worker.step()
        if desk.queue.counts()["queued"] == 0:
            return
        await desk.clock.sleep_until(when)


@pytest.fixture(params=[Network.MASTODON, Network.TELEGRAM], ids=str)
async def desk(request: pytest.FixtureRequest, engine: Engine) -> AsyncIterator[Desk]:
    opened = Store(engine, "test")
    clock = SimulatedClock(NOW)
    if request.param == Network.MASTODON:
        with opened, FakeMastodon(token=MASTODON_TOKEN) as fake:
            reader = MastodonReader(fake.url, MASTODON_TOKEN)
            await reader.start()
            yield Desk(Network.MASTODON, fake, reader, opened, clock, [campaign()])
            await reader.close()
        return
    with opened, FakeTelegram(rate_limited=False) as fake:
        fake.add_chat(GROUP_ID, "supergroup", title="Discussion")
        # The adapter's own limiter paces in real time; here the worker's pace, on the
        # simulated clock, is what is tested.
        reader = TelegramReader(DEFAULT_TOKEN, fake.url, timeout=5.0, rate_limit=False)
        await reader.start()
        yield Desk(Network.TELEGRAM, fake, reader, opened, clock, [campaign()])
        await reader.close()


async def test_an_approved_reply_is_acknowledged_once_even_when_approved_twice(desk: Desk) -> None:
    worker = desk.worker()
    good = desk.post()
    await desk.collect()
    await drain(desk, worker)
    assert desk.requests() == []  # collected, not yet approved: nothing
    desk.approve(good)
    desk.approve(good)
    await drain(desk, worker)
    assert desk.requests() == [good]
    desk.approve(good, state=CommentState.FLAGGED)
    desk.approve(good)  # un-approved and approved again: still once
    await drain(desk, worker)
    assert desk.requests() == [good]
    assert desk.queue.counts() == {"queued": 0, "sent": 1, "failed": 0, "skipped": 0}
    [comment] = desk.store.find()
    assert comment.acknowledged_at == desk.entries()[good].sent_at is not None


async def test_a_reply_rejected_edited_or_deleted_after_approval_gets_nothing(desk: Desk) -> None:
    rejected, edited, deleted, kept = (desk.post(f"Avis {i} #gautrinweb2", author=i) for i in range(4))
    await desk.collect()
    desk.approve(rejected, edited, deleted, kept)
    desk.approve(rejected, state=CommentState.REJECTED)
    await desk.edit(edited, SPAM)  # its author turns it into spam
    if isinstance(desk.fake, FakeMastodon):  # another deletes theirs
        desk.fake.delete_status(deleted)
        await desk.collector.recheck(desk.reader)
    else:  # Telegram never tells bots of deletions
        desk.approve(deleted, state=CommentState.REJECTED)
    assert {c.remote_id: c.state for c in desk.store.find()}[edited] == "flagged"
    await drain(desk, desk.worker())
    assert desk.requests() == [kept]
    entries = desk.entries()
    assert entries[rejected].state == "skipped"
    assert "rejected" in (entries[rejected].last_error or "")
    assert entries[edited].state == "skipped"
    if isinstance(desk.fake, FakeMastodon):
        assert deleted not in entries  # gone with the reply
    desk.approve(rejected)  # approved again after all: it was never sent, so now it is
    await drain(desk, desk.worker())
    assert Counter(desk.requests()) == Counter({kept: 1, rejected: 1})


async def test_nothing_goes_out_for_a_campaign_that_stopped_acknowledging(desk: Desk) -> None:
    reply = desk.post()
    await desk.collect()
    desk.approve(reply)
    desk.campaigns = [campaign(acknowledge=False)]  # the file changed after the approval
    await drain(desk, desk.worker())
    assert desk.requests() == []
    assert desk.entries()[reply].state == "skipped"
    assert "acknowledge: false" in (desk.entries()[reply].last_error or "")


@pytest.mark.parametrize("desk", [Network.MASTODON], indirect=True, ids=str)  # profiles say #nobot there
async def test_a_nobot_author_is_never_acknowledged(desk: Desk) -> None:
    nobot = desk.post(nobot=True, author=7)
    other = desk.post(author=8)
    await desk.collect()
    desk.approve(nobot, other)
    await drain(desk, desk.worker())
    assert desk.requests() == [other]
    assert nobot not in desk.entries()


async def test_a_claim_whose_worker_died_is_taken_back_and_sent_once(desk: Desk) -> None:
    reply = desk.post()
    await desk.collect()
    desk.approve(reply)
    dead = AcknowledgementQueue(desk.store.engine, "dead")
    claimed = dead.claim(desk.network, desk.clock.now(), LEASE, {"c"})
    assert claimed is not None
    assert claimed.remote_id == reply
    worker = desk.worker()
    await worker.step()
    assert desk.requests() == []  # another process is on it, for all this one knows
    await desk.clock.sleep_until(desk.clock.now() + LEASE)
    await drain(desk, worker)
    await drain(desk, worker)
    assert desk.requests() == [reply]
    assert desk.entries()[reply].state == "sent"


async def test_at_start_a_previous_run_s_claim_on_sqlite_is_due_at_once(desk: Desk) -> None:
    """SQLite serves one process: a claim by another owner was a crashed run's. On
    PostgreSQL its owner may be alive and at work: the claim lapses in its time."""
    reply = desk.post()
    await desk.collect()
    desk.approve(reply)
    assert AcknowledgementQueue(desk.store.engine, "crashed").claim(desk.network, NOW, LEASE, {"c"})
    stop = asyncio.Event()
    task = asyncio.create_task(desk.worker("restarted").run(stop))
    try:
        await asyncio.to_thread(desk.fake.wait_for, lambda *_: len(desk.requests()) == 1, 10)
    finally:
        stop.set()
        await task
    [entry] = desk.queue.entries()
    assert entry.state == "sent"
    if desk.store.engine.dialect.name == "sqlite":
        assert entry.sent_at == NOW
    else:
        assert entry.sent_at is not None
        assert entry.sent_at >= NOW + LEASE


@pytest.mark.slow
async def test_twenty_approved_replies_all_get_theirs_after_the_worker_is_killed(desk: Desk) -> None:
    replies = [desk.post(f"Avis {i} #gautrinweb2", author=i) for i in range(20)]
    await desk.collect()
    desk.approve(*replies)
    worker = desk.worker("first")
    for _ in range(3):
        await worker.step()
    assert len(desk.requests()) == 3
    # the fourth answer never comes: the process is killed while it waits
    if isinstance(desk.fake, FakeMastodon):
        desk.fake.delay(60, path="/api/v1/statuses/", method="POST")
    else:
        desk.fake.delay(60, method="setMessageReaction")
    killed = asyncio.create_task(worker.step())
    await asyncio.to_thread(lambda: desk.fake.wait_for(lambda *_: len(desk.requests()) == 4, 10) or True)
    killed.cancel()
    await asyncio.gather(killed, return_exceptions=True)
    restarted = desk.worker("second")
    await drain(desk, restarted)
    sent = Counter(desk.requests())
    assert set(sent) == set(replies)
    assert sorted(sent.values()) == [1] * 19 + [2]  # only the one on the wire went twice
    assert desk.queue.counts() == {"queued": 0, "sent": 20, "failed": 0, "skipped": 0}


def sent_after(desk: Desk) -> list[float]:
    """Seconds after the start, on the simulated clock, at which each acknowledgement went."""
    return sorted((e.sent_at - NOW).total_seconds() for e in desk.queue.entries() if e.sent_at)


@pytest.mark.slow
async def test_the_worker_keeps_its_own_pace(desk: Desk) -> None:
    replies = [desk.post(f"Avis {i} #gautrinweb2", author=i) for i in range(15)]
    await desk.collect()
    desk.approve(*replies)
    worker = desk.worker()
    await drain(desk, worker)
    burst, every = worker.pace.burst, worker.pace.every
    assert sent_after(desk) == [0.0] * burst + [every * i for i in range(1, 16 - burst)]
    assert Counter(desk.requests()) == Counter(replies)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # retry_after's type
async def test_the_worker_waits_as_long_as_the_network_asks(desk: Desk) -> None:
    replies = [desk.post(f"Avis {i} #gautrinweb2", author=i) for i in range(3)]
    await desk.collect()
    desk.approve(*replies)
    if isinstance(desk.fake, FakeMastodon):  # a 429 with X-RateLimit-Reset two minutes ahead
        desk.fake.rate_limited(reset_in=120, path="/api/v1/statuses/", method="POST")
        asked = 115.0
    else:  # a 429 with parameters.retry_after
        desk.fake.retry_after(7, method="setMessageReaction")
        asked = 7.0
    worker = desk.worker()
    resume = await worker.step()
    assert len(desk.requests()) == 1
    assert (resume - NOW).total_seconds() >= asked
    assert await worker.step() == resume  # nothing more before then
    assert len(desk.requests()) == 1
    await drain(desk, worker)
    assert len(desk.requests()) == 4  # the refused one, then each once
    assert all(t >= asked for t in sent_after(desk))
    assert [e.attempts for e in desk.queue.entries()] == [1, 1, 1]  # a rate limit is no failure


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # retry_after's type
@pytest.mark.parametrize("desk", [Network.TELEGRAM], indirect=True, ids=str)
async def test_a_stop_cuts_a_long_wait_short(desk: Desk) -> None:
    reply = desk.post()
    await desk.collect()
    desk.approve(reply)
    desk.fake.retry_after(3600, method="setMessageReaction")  # wait an hour, says Telegram
    worker = Acknowledger(
        Network.TELEGRAM,
        desk.reader,
        Store(desk.store.engine, "real-time"),
        SystemClock(),
        lambda: desk.campaigns,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.to_thread(desk.fake.wait_for, lambda *_: len(desk.requests()) == 1, 10)
    stop.set()
    await asyncio.wait_for(task, timeout=5)  # not an hour
    assert desk.queue.counts()["queued"] == 1  # still owed, for the next run


@pytest.mark.slow
async def test_an_acknowledgement_the_network_keeps_refusing_is_given_up_with_why(desk: Desk) -> None:
    flaky, refused = desk.post(author=1), desk.post(author=2)
    await desk.collect()
    if isinstance(desk.fake, FakeMastodon):
        desk.fake.delete_status(refused)  # gone on the server, not yet from the store: a 404
        desk.approve(refused)
        await drain(desk, desk.worker())
        desk.fake.fail(path="/api/v1/statuses/", method="POST", status=500, times=100)
    else:
        desk.fake.bad_request("MESSAGE_ID_INVALID", method="setMessageReaction")
        desk.approve(refused)
        await drain(desk, desk.worker())
        desk.fake.fail("setMessageReaction", status=500, times=100)
    desk.approve(flaky)
    worker = desk.worker()
    await drain(desk, worker, longest=timedelta(days=1))
    entries = desk.entries()
    assert (entries[refused].state, entries[refused].attempts) == ("failed", 1)
    assert re.search("404|message_id_invalid", entries[refused].last_error or "", re.IGNORECASE)
    assert (entries[flaky].state, entries[flaky].attempts) == ("failed", worker.pace.attempts)
    assert (entries[flaky].last_error or "").startswith(f"gave up after {worker.pace.attempts} attempts: ")
    assert desk.queue.counts() == {"queued": 0, "sent": 0, "failed": 2, "skipped": 0}
    # retried with growing waits, not hammered
    assert desk.clock.now() - NOW >= timedelta(
        seconds=sum(30 * 2**i for i in range(worker.pace.attempts - 1))
    )


# -- the queue in the store -----------------------------------------------------------------


def collected(remote_id: str, *, nobot: bool = False) -> Collected:
    reply = Reply(
        network=Network.MASTODON,
        remote_id=remote_id,
        text="Bravo #gautrinweb2",
        created_at=NOW,
        author_id=remote_id,
        author_handle=f"@u{remote_id}@example.org",
        author_name="U",
        hashtags=("gautrinweb2",),
        author_nobot=nobot,
    )
    return Collected(reply, "c", None)


def test_an_approval_queues_one_acknowledgement_in_its_own_transaction(engine: Engine) -> None:
    store, queue = CommentStore(engine), AcknowledgementQueue(engine, "me")
    store.save_page(None, None, [collected("1"), collected("2", nobot=True), collected("3")], now=NOW)
    ids = comment_ids(store)
    decide(store, [ids["3"]], CommentState.FLAGGED, actor="ana")
    assert queue.entries() == []
    decide(store, [ids["1"], ids["2"]], CommentState.APPROVED, actor="ana")
    decide(store, [ids["1"], ids["2"]], CommentState.APPROVED, actor="bob")
    [entry] = queue.entries()
    assert (entry.comment_id, entry.remote_id, entry.state, entry.next_at) == (ids["1"], "1", "queued", NOW)
    store.save_page(None, None, [], [Removal(Network.MASTODON, "1")], now=NOW)  # its author deletes it
    assert queue.entries() == []


@pytest.mark.postgres
def test_processes_sharing_a_postgresql_store_share_the_queue(postgres_url: str) -> None:
    engine = database.create(postgres_url)
    database.upgrade(engine)
    store = CommentStore(engine)
    store.save_page(None, None, [collected(str(i)) for i in range(60)], now=NOW)
    ids = sorted(comment_ids(store).values())
    decide(store, ids, CommentState.APPROVED, actor="ana")
    claimed: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    start = threading.Barrier(len(claimed))

    def work(owner: str) -> None:
        queue = AcknowledgementQueue(engine, owner)
        start.wait()
        while (ack := queue.claim(Network.MASTODON, NOW, LEASE, {"c"})) is not None:
            claimed[owner].append(ack.comment_id)
            queue.sent(ack, NOW)

    threads = [threading.Thread(target=work, args=(owner,)) for owner in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    engine.dispose()
    assert sorted(i for found in claimed.values() for i in found) == ids  # each once, none left

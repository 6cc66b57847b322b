"""The crash soak of issue 7: ``relais run`` stopped at random points, round after round,
against the loopback fakes, and what that did counted from what the fakes received.

Each round starts from nothing: fresh fakes with their real limits (Telegram: 20 messages a
minute in one channel; the bot paces one channel at a burst of 4, then one every 4.3 s), a
fresh store, a fresh working directory. The scenarios:

- ``publish``: a burst of posts due at once to one Telegram channel and to Mastodon; the bot
  is SIGKILLed at a random point of the burst, restarted, killed again (up to ``kills`` times,
  until all is settled), then left alone until every publication is settled.
- ``collect``: followers reply while the bot is killed at random points and restarted:
  hashtag replies, comments on the campaign post, and answers to those comments (on
  Telegram in the channel's discussion group, parent and child in one getUpdates batch and
  in two; on Mastodon under the bot's status). The store is then compared with what the
  fakes served.
- ``two``: two ``relais run`` on one PostgreSQL store; one is SIGKILLed in the middle of a
  burst, the survivor keeps running and must settle the dead one's rows.
- ``sigterm``: SIGTERM in the middle of a burst: the time to exit; what never reached a
  network must be left ``pending``. Then a restart settles the rest.

(A store outage, a TCP proxy cutting PostgreSQL off mid-burst, is to come from
``tests/tcp_proxy.py``: a round function and an entry in ``SCENARIOS``.)

"On the wire" means the fake received a request for that post, whatever it answered. The
figures named in ``DEFECTS`` must be 0 (issue 7, "Done when"); the others are for reading.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot.adapters.telegram.transport import GROUP_BURST
from bot.store import database
from bot.store.ledger import Ledger, Row
from bot.store.schema import comments
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import (
    CHAT_ID,
    GROUP_ID,
    MASTODON_TOKEN,
    Bot,
    Deployment,
    kill_leftovers,
    mastodon_attempts,
    offset_reached,
    posted_ids,
    scratch_database,
    sent_ids,
    telegram_attempts,
    until,
)

STOP_LIMIT_S = 10.0  # issue 7: SIGTERM stops within 10 s, whatever is queued
FINAL = {"published", "unknown", "failed", "missed"}
DEFECTS = frozenset(
    {
        "telegram duplicates",
        "mastodon duplicates",
        "unknown, never on the wire",
        "lost",
        "sent, but marked failed or missed",
        "left sending",
        "left pending",
        "stops over 10 s",
        "unclean exits",
        "not on the wire, not pending",
        "telegram replies lost",
        "mastodon replies lost",
        "replies doubled",
        "rounds not played",
    }
)
# The order of the figures in a report; a figure never counted is shown as 0.
PUBLISHING = [
    "publications",
    "telegram sent",
    "mastodon sent",
    "telegram duplicates",
    "mastodon duplicates",
    "unknown, on the wire",
    "unknown, cut mid-request",
    "unknown, never on the wire",
    "lost",
    "sent, but marked failed or missed",
    "left sending",
    "left pending",
]
FIGURES = {
    "publish": ["rounds", "seconds a round", "kills", *PUBLISHING],
    "collect": [
        "rounds",
        "seconds a round",
        "kills",
        *[
            f"{network} {figure}"
            for network in ("telegram", "mastodon")
            for figure in (
                "replies served",
                "nested replies served",
                "replies stored",
                "replies lost",
                "nested replies lost",
            )
        ],
        "replies doubled",
        "others' messages stored",
    ],
    "two": ["rounds", "seconds a round", "kills", *PUBLISHING],
    "sigterm": [
        "rounds",
        "seconds a round",
        "stops over 10 s",
        "slowest stop (s)",
        "unclean exits",
        "not on the wire, not pending",
        *PUBLISHING,
    ],
}


class SoakError(Exception):
    """A round that could not be played (the bot did not start, a fake did not answer)."""


@dataclass
class Settings:
    burst: int = 8  # posts due at once to the channel; more than the pacer's burst of 4
    kills: int = 3  # at most this many SIGKILLs a round
    quiet: float = 10.0  # seconds with no send and no row changing: a running bot is stuck
    deadline: float = 120.0  # seconds a running bot gets to settle every publication
    collect: float = 30.0  # seconds a running bot gets to store every reply it was served
    stop_limit: float = 60.0  # seconds a stopping bot gets before it is killed


@dataclass
class Tally:
    """What a scenario's rounds did, counted."""

    scenario: str
    store: str
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # why rounds could not be played

    def __getitem__(self, name: str) -> int:
        return self.counts[name]

    def add(self, name: str, n: int | bool = 1) -> None:
        self.counts[name] += int(n)

    def figures(self) -> list[tuple[str, int]]:
        names = FIGURES.get(self.scenario, [])
        return [(n, self.counts[n]) for n in [*names, *sorted(self.counts.keys() - set(names))]]

    def defects(self) -> dict[str, int]:
        return {name: n for name, n in self.counts.items() if name in DEFECTS and n}

    def __str__(self) -> str:
        shown = ", ".join(f"{name} {n}" for name, n in self.figures() if n)
        return "\n".join([f"{self.scenario} on {self.store}: {shown}", *self.errors])


# -- what a round shares -------------------------------------------------------------------


class Store:
    """The round's store, read as the bot left it (nothing is written)."""

    def __init__(self, url: str) -> None:
        self.engine = database.create(url)

    def rows(self) -> list[Row]:
        try:
            return list(Ledger(self.engine, owner="soak").rows().values())
        except SQLAlchemyError:  # not migrated yet
            return []

    def texts(self) -> list[tuple[str, str]]:
        """(network, text) of every stored reply."""
        try:
            with self.engine.connect() as connection:
                return [tuple(r) for r in connection.execute(select(comments.c.network, comments.c.text))]
        except SQLAlchemyError:
            return []

    def settled(self) -> bool:
        rows = self.rows()
        return bool(rows) and all(r.state in FINAL for r in rows)


@contextlib.contextmanager
def fresh_round(
    root: Path, store: str, postgres_url: str | None, mastodon: dict | None = None
) -> Iterator[tuple[Deployment, Store]]:
    """A working directory, a store and fresh fakes; every bot is gone on the way out."""
    root.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        if store == "postgresql":
            if not postgres_url:
                raise SoakError("no PostgreSQL server: set RELAIS_TEST_POSTGRES_URL")
            url = stack.enter_context(scratch_database(postgres_url))
        else:
            url = f"sqlite:///{root / 'relais.db'}"
        telegram = stack.enter_context(FakeTelegram())
        fake = stack.enter_context(FakeMastodon(token=MASTODON_TOKEN, **(mastodon or {})))
        reader = Store(url)
        stack.callback(reader.engine.dispose)
        stack.callback(kill_leftovers)
        yield Deployment(root, telegram, fake, url), reader


def started(bot: Bot, line: str = "running;", timeout: float = 60.0) -> Bot:
    try:
        bot.wait_for_line(line, timeout=timeout)
    except AssertionError as error:
        raise SoakError(str(error)) from None
    return bot


def stop(bot: Bot, signum: int, limit: float) -> tuple[float, int | None]:
    """Signal the bot and wait for it: seconds to exit, and its exit code (None: it did
    not stop within ``limit`` and was killed)."""
    began = time.monotonic()
    bot.process.send_signal(signum)
    try:
        code: int | None = bot.process.wait(limit)
    except subprocess.TimeoutExpired:
        code = None
    took = time.monotonic() - began
    bot.stop(signal.SIGKILL)
    return took, code


def kill_somewhere(
    bot: Bot,
    rng: random.Random,
    progress: Callable[[], int],
    most: int,
    done: Callable[[], bool] = lambda: False,
) -> None:
    """SIGKILL a little after a random number (1 to ``most``) of requests reached the fakes
    (or once there is nothing left to do), or at a random moment of start-up."""
    if rng.random() < 0.2:  # start-up, migrations, recovery
        until(lambda: bot.process.poll() is not None, rng.uniform(0.2, 3.0))
    else:
        target = progress() + rng.randint(1, most)
        until(lambda: progress() >= target or done() or bot.process.poll() is not None, 60)
    time.sleep(rng.uniform(0, 0.2))  # anywhere between that request and the next
    bot.stop(signal.SIGKILL)


def slow_answers(deployment: Deployment, rng: random.Random) -> None:
    """Answer a few sends late: the request has arrived, its answer has not."""
    deployment.telegram.delay(rng.uniform(0.05, 0.4), method="sendMessage", times=rng.randint(1, 3))
    deployment.mastodon.delay(
        rng.uniform(0.05, 0.4), times=rng.randint(1, 3), path="/api/v1/statuses", method="POST"
    )


def burst(deployment: Deployment, count: int, at: datetime | None = None, spread: float = 0.0) -> None:
    """``count`` posts, each to the Telegram channel and to Mastodon, due at once (or
    ``spread`` seconds apart)."""
    at = at or datetime.now(UTC)
    deployment.campaign([(f"p{i}", at + timedelta(seconds=spread * i)) for i in range(count)])


def attempts(deployment: Deployment) -> int:
    """Send requests the fakes received so far, accepted or not."""
    return len(telegram_attempts(deployment.telegram)) + len(mastodon_attempts(deployment.mastodon))


def wait_settled(store: Store, deployment: Deployment, settings: Settings) -> None:
    """Wait until every publication is settled, or until nothing moved (no row changed
    state, no send reached a fake) for ``settings.quiet`` seconds: more than the channel
    pacer's 4.3 s between two sends, so a bot working through its queue is not stuck."""
    seen: object = None
    since = time.monotonic()

    def settled_or_stuck() -> bool:
        nonlocal seen, since
        rows = store.rows()
        if rows and all(r.state in FINAL for r in rows):
            return True
        now = (sorted((r.key, r.state) for r in rows), attempts(deployment))
        if now != seen:
            seen, since = now, time.monotonic()
        return time.monotonic() - since >= settings.quiet

    until(settled_or_stuck, settings.deadline, every=0.2)


def unsettled(tally: Tally, rows: list[Row]) -> None:
    for row in rows:
        if row.state not in FINAL:
            tally.add(f"left {row.state}")


def cut_requests(deployment: Deployment) -> dict[str, int]:
    """Send requests that reached a fake without saying which post (cut before their body
    arrived), by network: on the wire, but for no post in particular."""
    telegram = [r for r in deployment.telegram.requests if r.method == "sendMessage" and not r.params]
    mastodon = [
        r
        for r in deployment.mastodon.requests
        if (r.method, r.path.rstrip("/")) == ("POST", "/api/v1/statuses") and "status" not in r.params
    ]
    return {"telegram": len(telegram), "mastodon": len(mastodon)}


def account(tally: Tally, rows: list[Row], deployment: Deployment) -> None:
    """Compare each settled publication with what its network received."""
    received = {
        "telegram": Counter(sent_ids(deployment.telegram)),
        "mastodon": Counter(posted_ids(deployment.mastodon)),
    }
    wire = {
        "telegram": Counter(telegram_attempts(deployment.telegram)),
        "mastodon": Counter(mastodon_attempts(deployment.mastodon)),
    }
    cut = cut_requests(deployment)
    tally.add("publications", len(rows))
    for row in rows:
        got, tried = received[row.network][row.publication_id], wire[row.network][row.publication_id]
        tally.add(f"{row.network} sent", got > 0)
        tally.add(f"{row.network} duplicates", max(got - 1, 0))
        if row.state == "unknown" and not tried and cut[row.network]:
            cut[row.network] -= 1  # it may be the one whose request was cut: given the benefit
            tally.add("unknown, cut mid-request")
        elif row.state == "unknown":
            tally.add("unknown, on the wire" if tried else "unknown, never on the wire")
        elif row.state == "published" and not got:
            tally.add("lost")  # recorded as published, never received
        elif row.state in ("failed", "missed"):
            tally.add("sent, but marked failed or missed" if got else "lost")


def settle(deployment: Deployment, store: Store, tally: Tally, settings: Settings) -> None:
    """A last run, left alone until every publication is settled; then the accounts."""
    if not store.settled():
        bot = started(deployment.start())
        wait_settled(store, deployment, settings)
        unsettled(tally, store.rows())
        stop(bot, signal.SIGTERM, settings.stop_limit)
    account(tally, store.rows(), deployment)


# -- the scenarios ---------------------------------------------------------------------------


def publish_round(
    deployment: Deployment, store: Store, rng: random.Random, tally: Tally, settings: Settings
) -> None:
    burst(deployment, settings.burst)
    for _ in range(rng.randint(1, settings.kills)):
        slow_answers(deployment, rng)
        # Killed among the sends that go at once: Mastodon's, and Telegram's first few (the
        # pacer's burst); the others still wait in the pacer.
        kill_somewhere(
            deployment.start(), rng, lambda: attempts(deployment), settings.burst + GROUP_BURST, store.settled
        )
        tally.add("kills")
        if store.settled():
            break
    settle(deployment, store, tally, settings)


def sigterm_round(
    deployment: Deployment, store: Store, rng: random.Random, tally: Tally, settings: Settings
) -> None:
    burst(deployment, settings.burst)
    bot = deployment.start()
    if not until(lambda: bool(telegram_attempts(deployment.telegram)), 60):
        raise SoakError(f"nothing sent to Telegram:\n{bot.log}")
    time.sleep(rng.uniform(0, 2))  # somewhere in the burst, the channel's pacer still holding some
    took, code = stop(bot, signal.SIGTERM, settings.stop_limit)
    tally.add("stops over 10 s", took >= STOP_LIMIT_S)
    tally.counts["slowest stop (s)"] = max(tally["slowest stop (s)"], round(took))
    tally.add("unclean exits", code != 0)
    tried = {
        "telegram": set(telegram_attempts(deployment.telegram)),
        "mastodon": set(mastodon_attempts(deployment.mastodon)),
    }
    for row in store.rows():
        tally.add(
            "not on the wire, not pending",
            row.publication_id not in tried[row.network] and row.state != "pending",
        )
    settle(deployment, store, tally, settings)


def two_round(
    deployment: Deployment, store: Store, rng: random.Random, tally: Tally, settings: Settings
) -> None:
    deployment.campaign([])
    bots = [deployment.start(), deployment.start()]
    for bot in bots:
        started(bot, "watching")
    # Twice the burst, due a little apart, so that each process claims some and each one's
    # channel pacer holds a queue; the file is read when it changes.
    posts = 2 * settings.burst
    burst(deployment, posts, datetime.now(UTC) + timedelta(seconds=2), spread=0.05)
    slow_answers(deployment, rng)
    dead = rng.choice(bots)
    kill_somewhere(dead, rng, lambda: attempts(deployment), posts + 2 * GROUP_BURST, store.settled)
    tally.add("kills")
    wait_settled(store, deployment, settings)  # the survivor keeps running
    unsettled(tally, store.rows())
    for bot in bots:
        if bot is not dead:
            stop(bot, signal.SIGTERM, settings.stop_limit)
    account(tally, store.rows(), deployment)


@dataclass
class Followers:
    """People replying on both networks; each reply says a token of its own ("r12"), so
    that the store can be compared with what was served."""

    deployment: Deployment
    forward: int  # the campaign post's copy in the discussion group
    ours: str  # the campaign post's status on Mastodon
    expected: dict[str, str] = field(default_factory=dict)  # token -> network
    nested: set[str] = field(default_factory=set)
    noise: set[str] = field(default_factory=set)
    last_update: int = 0
    _count: int = 0
    _open: list[tuple[str, str]] = field(default_factory=list)  # (network, parent id) awaiting an answer

    def _token(self, network: str, *, kept: bool = True, nested: bool = False) -> str:
        self._count += 1
        token = f"r{self._count}"
        if kept:
            self.expected[token] = network
        else:
            self.noise.add(token)
        if nested:
            self.nested.add(token)
        return token

    def _telegram(self, text: str, user: int, reply_to: int | None = None) -> int:
        telegram = self.deployment.telegram
        update = telegram.group_message(
            GROUP_ID, telegram.user(user, f"Abonné {user}"), text, reply_to=reply_to
        )
        self.last_update = max(self.last_update, update["update_id"])
        return update["message"]["message_id"]

    def _mastodon(self, text: str, user: int, reply_to: str | None = None) -> str:
        status = self.deployment.mastodon.add_remote_status(
            f"user{user}@example.org", f"<p>{text}</p>", in_reply_to_id=reply_to
        )
        return status["id"]

    def wave(self, rng: random.Random) -> None:
        """A hashtag reply, a comment on the post answered at once (one batch) and one to be
        answered in the next wave, the answers awaited since the last wave, and noise."""
        for network, parent in self._open:
            self.answer(network, parent)
        self._open = []
        user = rng.randint(100, 999)
        self._telegram(f"{self._token('telegram')} bravo #gautrinweb2", user)
        self._mastodon(f"{self._token('mastodon')} bravo #gautrinweb2", user)
        self._telegram(f"{self._token('telegram', kept=False)} hors sujet", user)
        self._mastodon(f"{self._token('mastodon', kept=False)} hors sujet #autre", user)
        for _ in range(2):
            self.answer("telegram", self.comment("telegram", rng))
            self.answer("mastodon", self.comment("mastodon", rng))
        self._open = [
            ("telegram", self.comment("telegram", rng)),
            ("mastodon", self.comment("mastodon", rng)),
        ]

    def comment(self, network: str, rng: random.Random) -> str:
        user = rng.randint(100, 999)
        if network == "telegram":
            return str(self._telegram(f"{self._token(network)} une question", user, self.forward))
        return self._mastodon(f"{self._token(network)} une question", user, self.ours)

    def answer(self, network: str, parent: str) -> None:
        """A follower answers another follower's comment (no hashtag)."""
        text = f"{self._token(network, nested=True)} une réponse"
        if network == "telegram":
            self._telegram(text, 1000, int(parent))
        else:
            self._mastodon(text, 1000, parent)


def collect_round(
    deployment: Deployment, store: Store, rng: random.Random, tally: Tally, settings: Settings
) -> None:
    telegram, mastodon = deployment.telegram, deployment.mastodon
    telegram.add_chat(GROUP_ID, "supergroup", title="Discussion", linked_chat_id=CHAT_ID)
    deployment.extra_env["RELAIS_POLL_SECONDS"] = "0.2"
    deployment.campaign([("annonce", datetime.now(UTC))])
    bot = deployment.start()
    # Followers answer a post once it is out (and recorded: until then it is no campaign's).
    if not until(store.settled, 60):
        raise SoakError(f"the campaign post was not published:\n{bot.log}")
    forward = telegram.automatic_forward(telegram.sent[0].message)["message"]["message_id"]
    followers = Followers(deployment, forward, mastodon.statuses[0]["id"])
    followers.wave(rng)  # while the bot runs
    for _ in range(rng.randint(1, settings.kills)):
        kill_somewhere(bot, rng, lambda: len(telegram.requests) + len(mastodon.requests), 8)
        tally.add("kills")
        followers.wave(rng)  # while it is down: parents and children in one batch after the restart
        bot = deployment.start()
    started(bot)
    # Answers to comments the bot has read already: parent and child in two batches.
    until(lambda: offset_reached(telegram, followers.last_update + 1), settings.collect)
    followers.wave(rng)

    def done() -> bool:
        stored = {_token(text) for network, text in store.texts()}
        missing = {followers.expected[t] for t in followers.expected.keys() - stored}
        # Telegram forgets what an offset confirmed: once past the last update, it is final.
        return "mastodon" not in missing and (
            "telegram" not in missing or offset_reached(telegram, followers.last_update + 1)
        )

    until(done, settings.collect)
    stored = Counter(_token(text) for _, text in store.texts())
    stop(bot, signal.SIGTERM, settings.stop_limit)
    for token, network in followers.expected.items():
        tally.add(f"{network} replies served")
        tally.add(f"{network} nested replies served", token in followers.nested)
        tally.add(f"{network} replies stored", stored[token] > 0)
        tally.add(f"{network} replies lost", not stored[token])
        tally.add(f"{network} nested replies lost", not stored[token] and token in followers.nested)
        tally.add("replies doubled", max(stored[token] - 1, 0))
    tally.add("others' messages stored", sum(stored[t] for t in followers.noise))


def _token(text: str) -> str:
    found = re.match(r"(r\d+) ", text)
    return found.group(1) if found else ""


@dataclass(frozen=True)
class Scenario:
    play: Callable[[Deployment, Store, random.Random, Tally, Settings], None]
    stores: tuple[str, ...] = ("sqlite", "postgresql")
    mastodon: dict = field(default_factory=dict)  # FakeMastodon options


SCENARIOS = {
    "publish": Scenario(publish_round),
    # The bot reads Mastodon every 0.2 s instead of every 30 s: its budget (300 requests in
    # 5 minutes) is scaled alike, to 300 in 2 s.
    "collect": Scenario(collect_round, mastodon={"rate_limit_window": 2.0}),
    "two": Scenario(two_round, stores=("postgresql",)),
    "sigterm": Scenario(sigterm_round),
    # "outage": Scenario(outage_round, stores=("postgresql",)), with tests/tcp_proxy.py
}


def soak(
    scenario: str,
    store: str,
    rounds: int,
    workdir: Path,
    *,
    seed: int,
    postgres_url: str | None = None,
    settings: Settings | None = None,
    progress: Callable[[int, Tally], None] | None = None,
) -> Tally:
    """Play ``rounds`` rounds of a scenario on a store; ``progress`` is told after each.
    A round that cannot be played (the bot does not start...) is counted, and why is kept."""
    chosen, settings = SCENARIOS[scenario], settings or Settings()
    if store not in chosen.stores:
        raise ValueError(f"the {scenario} scenario runs on {' and '.join(chosen.stores)} only")
    rng = random.Random(seed)
    tally = Tally(scenario, store)
    began = time.monotonic()
    for number in range(1, rounds + 1):
        try:
            with fresh_round(
                workdir / f"{scenario}-{store}-{number}", store, postgres_url, chosen.mastodon
            ) as (deployment, reader):
                chosen.play(deployment, reader, rng, tally, settings)
        except SoakError as error:
            tally.add("rounds not played")
            tally.errors.append(f"round {number}: {error}")
        tally.add("rounds")
        tally.counts["seconds a round"] = round((time.monotonic() - began) / number)
        if progress is not None:
            progress(number, tally)
    return tally

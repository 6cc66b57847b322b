"""How fast Relais collects hashtag replies into the comment store, and how fast it searches them.

Everything runs in this process on temporary SQLite files (``database.create`` + ``database.upgrade``:
WAL, synchronous=NORMAL, the FTS5 index and its triggers of migration 0002), except the
loopback ``FakeMastodon`` of tests/fakes, which runs in a child process so that its own
work does not share this process's GIL (its CPU time is reported apart). Texts are drawn
from a vocabulary of a few thousand French-looking words with Zipf-like frequencies, so
that a few words are in most replies and thousands are in very few.

(a) Collecting. ``--statuses`` (20,000) public statuses with the campaign hashtag are put
    in the fake (untimed), then one ``Collector.mastodon_round`` reads them all, forward by
    ``min_id``, in pages of 40 (500 pages): the real path ``MastodonReader.hashtag_page``
    (HTTP, Mastodon.py's decoding, status HTML to ``Reply``) -> ``Collector.save``
    (``keep``: campaign, moderation flags) -> ``CommentStore.save_page``, one transaction
    per page, on a fresh store. Store calls go through a one-thread executor, as the bot's
    publisher runs them. Reported: comments per second (also with the fake's CPU time
    taken out: the fake filters and sorts all its statuses for each page), and where the
    time goes: in the reader's page methods; in each store call (timed in the executor
    thread); the rest (the collector's own Python, thread hops). The reader's steps are
    then timed apart on the same pages: plain ``requests`` GET + ``json.loads``; Mastodon.py's
    typed decoding of the answer (``try_cast_recurse`` to ``timeline_hashtag``'s declared
    return type, on one page in 4, scaled); ``status_text`` (HTML to text) on every status.
    No target: for information.
(b) Inserting. The same replies (as ``Reply`` objects, no HTTP) through
    ``CommentStore.save_page`` in pages of 40 as the collector does, and in one page of
    all of them, against plain ``sqlite3`` doing the same in the same transactions:
    - bare baseline: ``executemany`` of the same row values (built from the same
      ``Reply`` objects inside the timing) into a table with the same 23 columns and
      nothing else: no FTS index, no triggers, no index but the primary key, no event
      rows, no existence check, no collector position;
    - replica baseline: what ``save_page`` writes, by hand: the migrated schema (FTS5
      triggers, unique and secondary indexes, foreign keys on), an existence check of
      the page's ids, the comment rows, their "collected" event rows, the position.
    Best of ``--repeat``. Target: the store at most 3x the baseline's time (held against
    both baselines, both page sizes).
(c) Searching. ``--comments`` (1,000,000) comments written into a migrated store with plain
    ``sqlite3`` (the FTS insert trigger is dropped during the load, the index built with
    FTS5's 'rebuild', the trigger put back; ``--fill triggers`` keeps it, slower), then
    ``--queries`` (200) calls of ``CommentStore.list(search=..., limit=50)`` -- the query of
    ``relais comments list --search TEXT`` -- for a mix of rare, medium and very common words
    and two-word searches (a quarter each); p50 and p99, per kind too. Target: p50 < 20 ms.
    Also, for information: the query plans, the same searches through the FTS-ordered
    join suggested in the report (and whether it returns the same comments), and
    ``relais comments list --search WORD`` run as a command, next to ``relais --help``
    (process start-up alone).

    .venv/bin/python benchmarks/collect.py [--only a|b|c ...] [--statuses 20000]
        [--comments 1000000] [--queries 200] [--repeat 3] [--fill rebuild|triggers]
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import multiprocessing
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import Engine, event, text

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests/ is not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.report import (  # noqa: E402
    BenchmarkError,
    Figure,
    cpu_seconds,
    percentile,
    revision,
    show,
    summary,
)
from bot.adapters.mastodon import text as mastodon_adapter  # noqa: E402
from bot.adapters.mastodon.reader import MastodonReader  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.domain import Campaign, Moderation, Network, Reply  # noqa: E402
from bot.ports import Page  # noqa: E402
from bot.services.collector import Collector, CollectorTiming  # noqa: E402
from bot.store import database  # noqa: E402
from bot.store.comments import Collected, Comment, CommentQuery, CommentStore  # noqa: E402
from bot.store.handle import Store  # noqa: E402
from bot.store.schema import comments as comments_table  # noqa: E402

T = TypeVar("T")
HASHTAG = "gautrinweb2"
TOKEN = "bench-token-not-real"
STATUSES = 20_000
PAGE = 40  # what MastodonReader asks for (Mastodon's most)
COMMENTS = 1_000_000
QUERIES = 200
LIMIT = 50  # relais comments list's default
REPEAT = 3
AUTHORS = 2_000
VOCABULARY = 8_000
ZIPF = 1.2
STORE_RATIO_TARGET = 3.0
SEARCH_P50_TARGET_MS = 20.0
COLLECT_TIMEOUT_S = 600.0
FAKE_START_TIMEOUT_S = 300.0
COMMAND_TIMEOUT_S = 120.0
BUILD_CHUNK = 50_000
DECODE_SAMPLE = 4
NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
CREATED = NOW - timedelta(days=1)

COLUMNS = (  # what a new comment is written with (checked_at starts empty)
    "network",
    "remote_id",
    "campaign",
    "publication_key",
    "in_reply_to",
    "url",
    "author_id",
    "author_handle",
    "author_name",
    "author_nobot",
    "text",
    "language",
    "hashtags",
    "private",
    "created_at",
    "collected_at",
    "edited_at",
    "state",
    "reason",
    "decided_by",
    "decided_at",
    "acknowledged_at",
)
INSERT_COMMENT = f"INSERT INTO comments ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
BARE_TABLE = """CREATE TABLE comments (
    id INTEGER PRIMARY KEY, network VARCHAR(16) NOT NULL, remote_id VARCHAR(200) NOT NULL,
    campaign VARCHAR(64), publication VARCHAR(400), in_reply_to VARCHAR(200), url VARCHAR(1000),
    author_id VARCHAR(200) NOT NULL, author_handle VARCHAR(400) NOT NULL,
    author_name VARCHAR(400) NOT NULL, author_nobot BOOLEAN NOT NULL, text TEXT NOT NULL,
    language VARCHAR(35), hashtags VARCHAR(2000) NOT NULL, private BOOLEAN NOT NULL,
    created_at DATETIME NOT NULL, collected_at DATETIME NOT NULL, edited_at DATETIME,
    state VARCHAR(16) NOT NULL, reason TEXT, decided_by VARCHAR(200), decided_at DATETIME,
    acknowledged_at DATETIME, checked_at DATETIME)"""


# -- small helpers ------------------------------------------------------------------------------
def stamp(moment: datetime) -> str:
    """A datetime as the store keeps it on SQLite (UTC, naive, microseconds)."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"


def fold(word: str) -> str:
    """What FTS5's unicode61 tokenizer with remove_diacritics 2 makes of a word."""
    return "".join(c for c in unicodedata.normalize("NFKD", word.casefold()) if not unicodedata.combining(c))


def sqlite_connect(path: Path) -> sqlite3.Connection:
    """A plain connection with the store's pragmas (bot/store/database.py), autocommit mode."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA busy_timeout={database.SQLITE_BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


def migrated(path: Path) -> str:
    """A fresh store file at the current schema; its URL."""
    url = f"sqlite:///{path}"
    engine = database.create(url)
    database.upgrade(engine)
    engine.dispose()
    return url


# -- synthetic replies --------------------------------------------------------------------------
_ONSETS = [
    *"bcdfgjlmnprstv",
    "ch",
    "qu",
    "br",
    "cr",
    "dr",
    "fr",
    "gr",
    "pr",
    "tr",
    "pl",
    "cl",
    "bl",
    "fl",
    "gl",
]
_NUCLEI = [*"aeiouéèêâ", "ou", "ai", "au", "eu", "on", "an", "in", "oi", "ui", "ien"]
_CODAS = ["", "", "", "s", "t", "r", "x", "l", "nt", "ment", "tion", "ette", "eur", "ée", "age", "ique"]


class Vocabulary:
    """French-looking words; word k (from 1) drawn with a weight of 1/k**ZIPF."""

    def __init__(self, size: int, seed: int) -> None:
        rng = random.Random(seed)
        words: dict[str, str] = {}  # folded -> word: one FTS term per word
        while len(words) < size:
            syllables = rng.choice((1, 2, 2, 2, 3, 3))
            word = "".join(rng.choice(["", *_ONSETS]) + rng.choice(_NUCLEI) for _ in range(syllables))
            word += rng.choice(_CODAS)
            if 3 <= len(word) <= 14 and fold(word) != HASHTAG:
                words.setdefault(fold(word), word)
        self.words = list(words.values())
        self.cumulative = list(itertools.accumulate(1 / k**ZIPF for k in range(1, size + 1)))

    def texts(self, rng: random.Random, count: int) -> list[str]:
        """``count`` texts of 6 to 20 words (without the hashtag)."""
        lengths = [rng.randint(6, 20) for _ in range(count)]
        words = rng.choices(self.words, cum_weights=self.cumulative, k=sum(lengths))
        texts, at = [], 0
        for length in lengths:
            text = " ".join(words[at : at + length])
            texts.append(text[0].upper() + text[1:] + rng.choice((".", " !", " ?", "", "")))
            at += length
        return texts


@dataclass(frozen=True)
class Post:
    """One follower's reply, as the fake serves it and as the store keeps it."""

    author: int
    text: str  # without the hashtag

    @property
    def acct(self) -> str:
        return f"membre{self.author}@exemple.org"

    @property
    def html(self) -> str:
        return (
            f'<p>{html.escape(self.text)} <a href="https://relais.test/tags/{HASHTAG}" '
            f'class="mention hashtag" rel="tag">#<span>{HASHTAG}</span></a></p>'
        )


def posts(count: int, seed: int) -> list[Post]:
    rng = random.Random(seed + 1)
    texts = Vocabulary(VOCABULARY, seed).texts(rng, count)
    return [Post(rng.randrange(AUTHORS), t) for t in texts]


def replies(items: list[Post]) -> list[Reply]:
    """The Replies the reader makes of the fake's statuses (ids and times aside)."""
    first = 110_000_000_000_000_000
    return [
        Reply(
            network=Network.MASTODON,
            remote_id=str(first + i),
            text=f"{p.text} #{HASHTAG}",
            created_at=CREATED + timedelta(milliseconds=i),
            author_id=str(p.author + 1),
            author_handle=f"@{p.acct}",
            author_name=f"membre{p.author}",
            url=f"https://exemple.org/@membre{p.author}/{first + i}",
            language="fr",
            hashtags=(HASHTAG,),
        )
        for i, p in enumerate(items)
    ]


def campaign() -> Campaign:
    return Campaign(
        slug="bench",
        source=Path("bench.yaml"),
        timezone=ZoneInfo("America/Montreal"),
        language="fr",
        hashtags=(HASHTAG,),
        channels={},
        grace=timedelta(minutes=15),
        acknowledge=False,
        moderation=Moderation(banned_words=("casino",), hold_links=True),
    )


# -- (a) collecting --------------------------------------------------------------------------------
def serve_fake(connection: Connection, items: list[tuple[str, str]]) -> None:
    """The child process: a FakeMastodon holding ``items`` (acct, HTML), until told to stop."""
    from tests.fakes.mastodon_api import FakeMastodon

    with FakeMastodon(token=TOKEN, rate_limit=10**9) as fake:
        for acct, content in items:
            fake.add_remote_status(acct, content, tags=[HASHTAG])
        connection.send(fake.url)
        connection.recv()  # anything: stop


@contextmanager
def fake_mastodon(items: list[Post]) -> Iterator[tuple[str, int]]:
    """A FakeMastodon in a child process, filled with ``items``: its URL and pid."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(
        target=serve_fake, args=(theirs, [(p.acct, p.html) for p in items]), name="fake-mastodon"
    )
    child.start()
    try:
        deadline = time.monotonic() + FAKE_START_TIMEOUT_S
        while not ours.poll(0.5):
            if not child.is_alive():
                raise BenchmarkError(f"the fake Mastodon exited ({child.exitcode}) before it was ready")
            if time.monotonic() >= deadline:
                raise BenchmarkError(f"the fake Mastodon was not ready after {FAKE_START_TIMEOUT_S:.0f} s")
        assert child.pid is not None
        yield ours.recv(), child.pid
    finally:
        if child.is_alive():
            ours.send("stop")
            child.join(30)
        if child.is_alive():
            child.terminate()
            child.join(10)


class TimedStore(Store):
    """The store as the bot holds it (its calls one at a time on its one thread), with the
    time each function spends in that thread."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.inside: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    async def run(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        name = getattr(function, "__name__", repr(function))

        def timed() -> T:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.inside[name] += time.perf_counter() - began
                self.calls[name] += 1

        return await super().run(timed)


class TimedSource:
    """The reader, with the time spent in its page methods."""

    def __init__(self, reader: MastodonReader) -> None:
        self.reader = reader
        self.seconds = 0.0
        self.pages = 0
        self.replies = 0

    async def _timed(self, fetch: Callable[[], Any]) -> Page:
        began = time.perf_counter()
        page = await fetch()
        self.seconds += time.perf_counter() - began
        self.pages += 1
        self.replies += sum(isinstance(i, Reply) for i in page.items)
        return page

    async def hashtag_page(self, tag: str, after: str | None) -> Page:
        return await self._timed(lambda: self.reader.hashtag_page(tag, after))

    async def mentions_page(self, after: str | None) -> Page:
        return await self._timed(lambda: self.reader.mentions_page(after))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)


def run_collect(count: int, seed: int) -> list[Figure]:
    items = posts(count, seed)
    with tempfile.TemporaryDirectory(prefix="relais-bench-") as tmp:
        path = Path(tmp) / "relais.db"
        began = time.perf_counter()
        with TimedStore(database.create(migrated(path))) as runner, fake_mastodon(items) as (url, pid):
            filled = time.perf_counter() - began
            source, wall, fake_cpu = asyncio.run(collect(url, pid, runner, count))
            apart = read_apart(url, pid)
        connection = sqlite3.connect(path)
        stored, flagged = connection.execute(
            "SELECT count(*), coalesce(sum(state = 'flagged'), 0) FROM comments"
        ).fetchone()
        events = connection.execute("SELECT count(*) FROM comment_events").fetchone()[0]
        connection.close()
    if stored != count:
        raise BenchmarkError(f"{stored} comments stored, {count} expected")
    apart["HTML to text (status_text)"] = html_to_text_seconds(items)
    in_store = sum(runner.inside.values())
    rest = wall - source.seconds - in_store
    share = lambda s: f"{s:7.2f} s  {100 * s / wall:5.1f} %"  # noqa: E731
    figures = [
        Figure("a", "fake filled with (untimed)", f"{count} statuses, {filled:.1f} s"),
        Figure("a", "comments stored", f"{stored} ({flagged} flagged, {events} event rows)"),
        Figure("a", "pages read", f"{source.pages} ({runner.calls['save_page']} save_page)"),
        Figure("a", "collection, wall time", f"{wall:.2f} s"),
        Figure("a", "comments per second", f"{count / wall:,.0f}  (no target: for information)"),
        Figure(
            "a",
            "  the same, the fake's CPU time taken out",
            f"{count / max(wall - fake_cpu, 1e-9):,.0f}  (the fake scans all its statuses per page)",
        ),
        Figure("a", "in hashtag_page + mentions_page", share(source.seconds)),
        Figure("a", "  fake server's CPU meanwhile (other process)", share(fake_cpu)),
        Figure("a", "  the same pages, steps timed apart:", ""),
    ]
    for name, seconds in apart.items():
        if seconds is not None:
            figures.append(Figure("a", f"    {name}", share(seconds)))
    known = [v for k, v in apart.items() if v is not None and not k.startswith(" ")]
    if len(known) == 3:
        figures.append(
            Figure("a", "    rest of the reader (by difference)", share(source.seconds - sum(known)))
        )
    figures.append(Figure("a", "in store calls (executor thread)", share(in_store)))
    for name, seconds in runner.inside.most_common():
        figures.append(Figure("a", f"  {name} x{runner.calls[name]}", share(seconds)))
    figures.append(Figure("a", "rest (keep, flags, thread hops, loop)", share(rest)))
    return figures


def read_apart(url: str, pid: int) -> dict[str, float | None]:
    """The hashtag timeline read again, page by page as the reader does, with plain requests
    (HTTP + json.loads), and Mastodon.py's typed decoding of what it returns timed on one
    page in DECODE_SAMPLE (scaled up)."""
    try:
        from mastodon import Mastodon
        from mastodon.return_types import try_cast_recurse

        returns = Mastodon.timeline_hashtag.__annotations__["return"]
    except (ImportError, KeyError):  # another Mastodon.py: no decoding figure
        try_cast_recurse = returns = None
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    http = decoding = 0.0
    pages = sampled = 0
    min_id = "0"
    cpu = cpu_seconds(pid)
    while True:
        began = time.perf_counter()
        answer = session.get(
            f"{url}/api/v1/timelines/tag/{HASHTAG}", params={"min_id": min_id, "limit": PAGE}, timeout=30
        )
        answer.raise_for_status()
        statuses = answer.json()
        http += time.perf_counter() - began
        pages += 1
        if not statuses:
            break
        if returns is not None and try_cast_recurse is not None and pages % DECODE_SAMPLE == 1:
            began = time.perf_counter()
            try_cast_recurse(returns, statuses)
            decoding += time.perf_counter() - began
            sampled += 1
        min_id = max((s["id"] for s in statuses), key=int)
    fake_cpu = cpu_seconds(pid) - cpu
    session.close()
    return {
        "HTTP GET + json.loads (requests)": http,
        "  of which the fake server's CPU": fake_cpu,
        f"Mastodon.py typed decoding (1 page in {DECODE_SAMPLE}, x{DECODE_SAMPLE})": (
            decoding * (pages - 1) / sampled if sampled else None
        ),
    }


async def collect(
    url: str, pid: int, store: TimedStore, count: int
) -> tuple[TimedSource, float, float]:
    reader = MastodonReader(url, TOKEN)
    await reader.start()
    source = TimedSource(reader)
    collector = Collector(
        store,
        SystemClock(),
        lambda: [campaign()],
        CollectorTiming(pages_per_round=count // PAGE + 10),
    )
    cpu = cpu_seconds(pid)
    began = time.perf_counter()
    try:
        # round 1: the hashtag timeline and the mentions; no context reading, no recheck
        await asyncio.wait_for(collector.mastodon_round(source, 1), COLLECT_TIMEOUT_S)  # type: ignore[arg-type]
    except TimeoutError:
        raise BenchmarkError(f"collection not done after {COLLECT_TIMEOUT_S:.0f} s") from None
    finally:
        wall = time.perf_counter() - began
        fake_cpu = cpu_seconds(pid) - cpu
        await reader.close()
    return source, wall, fake_cpu


def html_to_text_seconds(items: list[Post]) -> float | None:
    """The reader's HTML-to-text step alone, on the same statuses."""
    convert = getattr(mastodon_adapter, "status_text", None)
    if convert is None:
        return None
    contents = [p.html for p in items]
    began = time.perf_counter()
    for content in contents:
        convert(content, "")
    return time.perf_counter() - began


# -- (b) inserting ---------------------------------------------------------------------------------
def row(item: Collected, collected_at: str) -> tuple[object, ...]:
    """The values save_page writes for a new reply without flags, as sqlite3 takes them."""
    reply = item.reply
    return (
        reply.network.value,
        reply.remote_id,
        item.campaign,
        item.publication_key,
        reply.in_reply_to,
        reply.url,
        reply.author_id,
        reply.author_handle,
        reply.author_name,
        int(reply.author_nobot),
        reply.text,
        reply.language,
        f" {' '.join(reply.hashtags)} " if reply.hashtags else "",
        int(reply.private),
        stamp(reply.created_at),
        collected_at,
        stamp(reply.edited_at) if reply.edited_at else None,
        "pending",
        None,
        None,
        None,
        None,
    )


def pages_of(items: list[Collected], size: int) -> list[list[Collected]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def insert_store(path: Path, pages: list[list[Collected]]) -> float:
    engine = database.create(migrated(path))
    store = CommentStore(engine)
    began = time.perf_counter()
    for n, page in enumerate(pages):
        store.save_page("mastodon:tag:bench", str(n), page, now=NOW)
    seconds = time.perf_counter() - began
    engine.dispose()
    return seconds


def insert_bare(path: Path, pages: list[list[Collected]], *, fts: bool = False) -> float:
    connection = sqlite_connect(path)
    connection.execute(BARE_TABLE)
    if fts:  # migration 0002's index and insert trigger, nothing else
        connection.execute(
            "CREATE VIRTUAL TABLE comments_fts USING fts5(text, content='comments', content_rowid='id', "
            "tokenize='unicode61 remove_diacritics 2')"
        )
        connection.execute(
            "CREATE TRIGGER comments_fts_insert AFTER INSERT ON comments BEGIN "
            "INSERT INTO comments_fts(rowid, text) VALUES (new.id, new.text); END"
        )
    began = time.perf_counter()
    collected_at = stamp(NOW)
    for page in pages:
        connection.execute("BEGIN")
        connection.executemany(INSERT_COMMENT, [row(item, collected_at) for item in page])
        connection.execute("COMMIT")
    seconds = time.perf_counter() - began
    connection.close()
    return seconds


def insert_replica(path: Path, pages: list[list[Collected]]) -> float:
    migrated(path)
    connection = sqlite_connect(path)
    began = time.perf_counter()
    now = stamp(NOW)
    for n, page in enumerate(pages):
        connection.execute("BEGIN")
        ids = [item.reply.remote_id for item in page]
        known: set[str] = set()
        for chunk in range(0, len(ids), 500):
            part = ids[chunk : chunk + 500]
            known.update(
                r[0]
                for r in connection.execute(
                    "SELECT remote_id FROM comments WHERE network = ? AND remote_id IN "
                    f"({', '.join('?' * len(part))})",
                    ["mastodon", *part],
                )
            )
        new = [item for item in page if item.reply.remote_id not in known]
        last = connection.execute("SELECT coalesce(max(id), 0) FROM comments").fetchone()[0]
        connection.executemany(INSERT_COMMENT, [row(item, now) for item in new])
        # one writer, INTEGER PRIMARY KEY: the new rows took the ids after the last one, in order
        added = [
            r[0] for r in connection.execute("SELECT id FROM comments WHERE id > ? ORDER BY id", (last,))
        ]
        connection.executemany(
            "INSERT INTO comment_events (comment_id, at, kind, actor, reason) VALUES (?, ?, ?, ?, ?)",
            [(i, now, "collected", "relais", None) for i in added],
        )
        connection.execute(
            "INSERT INTO collector_positions (name, position, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
            ("mastodon:tag:bench", str(n), now),
        )
        connection.execute("COMMIT")
    seconds = time.perf_counter() - began
    count = connection.execute("SELECT count(*) FROM comment_events").fetchone()[0]
    connection.close()
    if count != sum(len(p) for p in pages):
        raise BenchmarkError(f"replica baseline: {count} event rows")
    return seconds


def run_insert(count: int, repeat: int, seed: int) -> list[Figure]:
    items = [Collected(r, "bench", None) for r in replies(posts(count, seed))]
    ways: dict[str, Callable[[Path, list[list[Collected]]], float]] = {
        "CommentStore.save_page": insert_store,
        "bare sqlite3 executemany": insert_bare,
        "bare + FTS5 trigger (info)": partial(insert_bare, fts=True),
        "replica sqlite3 (same writes)": insert_replica,
    }
    best: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="relais-bench-") as tmp:
        for size in (PAGE, count):
            pages = pages_of(items, size)
            for name, way in ways.items():
                times = []
                for n in range(repeat):
                    path = Path(tmp) / f"{len(best)}-{n}.db"
                    times.append(way(path, pages))
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{path}{suffix}").unlink(missing_ok=True)
                best[(name, size)] = min(times)
    figures = [Figure("b", "rows", f"{count} comments, best of {repeat}")]
    for size in (PAGE, count):
        label = f"pages of {size}" if size != count else f"one page of {count}"
        for name in ways:
            seconds = best[(name, size)]
            figures.append(
                Figure("b", f"{label}: {name}", f"{seconds * 1000:8.0f} ms  {count / seconds:9,.0f} rows/s")
            )
        store = best[("CommentStore.save_page", size)]
        for name in list(ways)[1:]:
            ratio = store / best[(name, size)]
            short = f"{label}: store / {name.split()[0]}"
            if "(info)" in name:
                figures.append(Figure("b", f"{short} + FTS5 (info)", f"{ratio:.2f}x"))
                continue
            target = f"<= {STORE_RATIO_TARGET:g}x"
            figures.append(Figure("b", short, f"{ratio:.2f}x", target, ratio <= STORE_RATIO_TARGET))
    return figures


# -- (c) searching -----------------------------------------------------------------------------------
def build(path: Path, count: int, seed: int, fill: str) -> tuple[float, float]:
    """``count`` comments in a migrated store, written with plain sqlite3; (seconds, MB)."""
    migrated(path)
    vocabulary = Vocabulary(VOCABULARY, seed)
    rng = random.Random(seed + 2)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous=OFF")  # a throwaway file
    connection.execute("PRAGMA cache_size=-262144")
    trigger = connection.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'comments_fts_insert'"
    ).fetchone()[0]
    began = time.perf_counter()
    connection.execute("BEGIN")
    if fill == "rebuild":
        connection.execute("DROP TRIGGER comments_fts_insert")
    first = 110_000_000_000_000_000
    for start in range(0, count, BUILD_CHUNK):
        texts = vocabulary.texts(rng, min(BUILD_CHUNK, count - start))
        rows = []
        for i, body in enumerate(texts, start):
            author = rng.randrange(AUTHORS * 10)
            created = stamp(CREATED - timedelta(seconds=count - i))
            rows.append(
                (
                    "mastodon",
                    str(first + i),
                    "bench",
                    None,
                    None,
                    f"https://exemple.org/@membre{author}/{first + i}",
                    str(author + 1),
                    f"@membre{author}@exemple.org",
                    f"membre{author}",
                    0,
                    f"{body} #{HASHTAG}",
                    "fr",
                    f" {HASHTAG} ",
                    0,
                    created,
                    created,
                    None,
                    "pending",
                    None,
                    None,
                    None,
                    None,
                )
            )
        connection.executemany(INSERT_COMMENT, rows)
    if fill == "rebuild":
        connection.execute("INSERT INTO comments_fts(comments_fts) VALUES ('rebuild')")
        connection.execute(trigger)
    connection.execute("COMMIT")
    seconds = time.perf_counter() - began
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return seconds, path.stat().st_size / 1e6


@dataclass(frozen=True)
class Query:
    kind: str
    text: str
    documents: int  # how many comments hold each word (the rarest for two words)


def choose_queries(path: Path, count: int, total: int, seed: int) -> list[Query]:
    """A quarter each: rare, medium and very common words, and two words."""
    connection = sqlite3.connect(path)
    connection.execute("CREATE VIRTUAL TABLE temp.terms USING fts5vocab(main, 'comments_fts', 'row')")
    terms = connection.execute("SELECT term, doc FROM temp.terms WHERE term != ?", (HASHTAG,)).fetchall()
    connection.close()
    by_doc = sorted(terms, key=lambda t: t[1])
    bands = {
        "rare": [t for t in by_doc if t[1] <= max(3, total // 10_000)],  # <= 0.01 %
        "medium": [t for t in by_doc if total // 1000 <= t[1] <= total // 100],  # 0.1-1 %
        "common": [t for t in by_doc if t[1] >= total // 10],  # >= 10 %
    }
    middle = len(by_doc) // 2
    nearest = {"rare": by_doc[:20], "medium": by_doc[middle - 10 : middle + 10], "common": by_doc[-20:]}
    for name, chosen in bands.items():  # a small store may have none in a band: the nearest words
        bands[name] = chosen or nearest[name]
    rng = random.Random(seed + 3)
    queries = []
    for n in range(count):
        kind = ("rare", "medium", "common", "two words")[n % 4]
        if kind != "two words":
            term, docs = rng.choice(bands[kind])
            queries.append(Query(kind, term, docs))
            continue
        first, other = [("common", "common"), ("common", "medium"), ("medium", "rare")][n // 4 % 3]
        (a, da), (b, db_) = rng.choice(bands[first]), rng.choice(bands[other])
        queries.append(Query(kind, f"{a} {b}", min(da, db_)))
    # the hashtag itself: in every comment, the worst a moderator can type
    queries[-1] = Query("common", HASHTAG, total)
    return queries


SUGGESTED = (
    "SELECT {columns} FROM comments_fts JOIN comments ON comments.id = comments_fts.rowid "
    "WHERE comments_fts MATCH :search ORDER BY comments_fts.rowid DESC LIMIT :limit"
)


def spread(values: Sequence[float]) -> str:
    return (
        f"p50 {percentile(values, 50) * 1000:7.1f} ms  p99 {percentile(values, 99) * 1000:7.1f} ms"
        f"  max {max(values) * 1000:7.1f} ms"
    )


def run_search(count: int, queries: int, seed: int, fill: str) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="relais-bench-") as tmp:
        path = Path(tmp) / "relais.db"
        built, megabytes = build(path, count, seed, fill)
        chosen = choose_queries(path, queries, count, seed)
        url = f"sqlite:///{path}"
        engine = database.create(url)
        statements: list[tuple[str, Any]] = []
        event.listen(
            engine, "before_cursor_execute", lambda _c, _k, sql, params, *_: statements.append((sql, params))
        )
        store = CommentStore(engine)
        store.find(CommentQuery(search="bonjour"), limit=LIMIT)  # warm up: connection, compiled query cache
        timings: dict[str, list[float]] = {}
        found: list[list[int]] = []
        for query in chosen:
            began = time.perf_counter()
            rows = store.find(CommentQuery(search=query.text), limit=LIMIT)
            timings.setdefault(query.kind, []).append(time.perf_counter() - began)
            found.append([c.id for c in rows])
        store_sql, store_params = statements[-1]
        suggested, suggested_ids, suggested_sql = suggested_timings(engine, chosen)
        engine.dispose()
        plans = {
            "query plan of CommentStore.list(search=)": query_plan(path, store_sql, store_params),
            "query plan of the suggested query": query_plan(
                path, suggested_sql, {"search": f'"{HASHTAG}"', "limit": LIMIT}
            ),
        }
        medium = next(q for q in chosen if q.kind == "medium")
        commonest = max((q for q in chosen if q.kind == "common"), key=lambda q: q.documents)
        commands = [
            (
                f"relais comments list --search {q.text}",
                f"{q.kind}, {q.documents:,} matches",
                run_command(tmp, url, q),
            )
            for q in (medium, commonest)
        ]
        commands.append(("relais --help", "start-up alone", run_command(tmp, url, None)))
    everything = [t for values in timings.values() for t in values]
    p50, p99 = percentile(everything, 50) * 1000, percentile(everything, 99) * 1000
    figures = [
        Figure("c", "store built", f"{count:,} comments, {megabytes:.0f} MB, {built:.1f} s ({fill})"),
        Figure("c", "searches", f"{len(chosen)} (limit {LIMIT}), {sum(map(len, found))} comments returned"),
        Figure("c", "p50", f"{p50:.1f} ms", f"< {SEARCH_P50_TARGET_MS:g} ms", p50 < SEARCH_P50_TARGET_MS),
        Figure("c", "p99", f"{p99:.1f} ms  (no target)"),
    ]
    for kind, values in timings.items():
        docs = [q.documents for q in chosen if q.kind == kind]
        matches = f"  (matches: {min(docs):,} to {max(docs):,})"
        figures.append(Figure("c", f"  {kind} x{len(values)}", spread(values) + matches))
    every_suggested = [t for values in suggested.values() for t in values]
    same = sum(a == b for a, b in zip(found, suggested_ids, strict=True))
    figures.append(Figure("c", "suggested FTS-ordered query (info)", spread(every_suggested)))
    figures += [Figure("c", f"  {kind} x{len(values)}", spread(values)) for kind, values in suggested.items()]
    figures.append(Figure("c", "  same comments as the store's query", f"{same} of {len(chosen)} searches"))
    for title, plan in plans.items():
        figures.append(Figure("c", title, ""))
        figures += [Figure("c", f"    {line}", "") for line in plan]
    for title, what, seconds in commands:
        figures.append(Figure("c", title, f"{seconds * 1000:.0f} ms  ({what}; process start-up included)"))
    return figures


def suggested_timings(
    engine: Any, chosen: list[Query]
) -> tuple[dict[str, list[float]], list[list[int]], str]:
    """The same searches through the FTS-ordered join: the same columns, typed as the store
    reads them, made into the same ``Comment`` objects. Also its SQL, for its plan."""
    columns = tuple(Comment.__dataclass_fields__)  # what the store reads
    statement = text(SUGGESTED.format(columns=", ".join(f"comments.{c}" for c in columns))).columns(
        *(comments_table.c[c] for c in columns)
    )
    timings: dict[str, list[float]] = {}
    ids: list[list[int]] = []
    with engine.connect() as connection:
        for query in chosen:
            search = " ".join(f'"{w}"' for w in query.text.split())
            began = time.perf_counter()
            found = [Comment(*r) for r in connection.execute(statement, {"search": search, "limit": LIMIT})]
            timings.setdefault(query.kind, []).append(time.perf_counter() - began)
            ids.append([c.id for c in found])
    return timings, ids, str(statement)


def query_plan(path: Path, sql: str, params: Any) -> list[str]:
    connection = sqlite3.connect(path)
    rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    connection.close()
    return [f"{r[0]}<-{r[1]}: {r[3]}" for r in rows]


def run_command(tmp: str, url: str, query: Query | None) -> float:
    """``relais comments list --search WORD`` (``relais --help`` for None), as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["RELAIS_DATABASE_URL"] = url
    relais = str(Path(sys.executable).with_name("relais"))
    argv = [relais, "--help"] if query is None else [relais, "comments", "list", "--search", query.text]
    began = time.perf_counter()
    result = subprocess.run(
        argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        raise BenchmarkError(f"{' '.join(argv[1:])} failed ({result.returncode}): {result.stderr[-500:]}")
    return seconds


# -- output --------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--only", action="append", choices=["a", "b", "c"], help="run only this part (repeatable)"
    )
    parser.add_argument("--statuses", type=int, default=STATUSES, help="(a, b) replies collected / inserted")
    parser.add_argument("--comments", type=int, default=COMMENTS, help="(c) comments in the searched store")
    parser.add_argument("--queries", type=int, default=QUERIES, help="(c) searches timed")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="(b) runs of each way, best kept")
    parser.add_argument(
        "--fill",
        choices=["rebuild", "triggers"],
        default="rebuild",
        help="(c) fill the FTS index once at the end, or row by row through the trigger",
    )
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if args.statuses < PAGE or args.comments < 1000 or args.queries < 4 or args.repeat < 1:
        parser.error("need --statuses >= 40, --comments >= 1000, --queries >= 4, --repeat >= 1")
    parts = args.only or ["a", "b", "c"]
    runs: dict[str, tuple[str, Callable[[], list[Figure]]]] = {
        "a": ("(a) collecting from the fake Mastodon", lambda: run_collect(args.statuses, args.seed)),
        "b": (
            "(b) inserting: the store against sqlite3",
            lambda: run_insert(args.statuses, args.repeat, args.seed),
        ),
        "c": (
            "(c) searching: CommentStore.list(search=)",
            lambda: run_search(args.comments, args.queries, args.seed, args.fill),
        ),
    }
    every: list[Figure] = []
    failed = False
    began = time.monotonic()
    print(
        f"relais at {revision()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, SQLite {sqlite3.sqlite_version}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n",
        flush=True,
    )
    for part in dict.fromkeys(parts):
        title, run = runs[part]
        started = time.monotonic()
        try:
            figures = run()
        except BenchmarkError as error:
            print(f"{title}: no figures: {error}\n", flush=True)
            every.append(Figure(part, title, "error", "a run", False))
            failed = True
            continue
        show(f"{title}  ({time.monotonic() - started:.0f} s)", figures, width=46)
        every += figures
    summary(every)
    print(f"\n{len(parts)} part(s) in {time.monotonic() - began:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

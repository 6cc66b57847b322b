"""How fast Relais collects hashtag replies into the comment store, and how fast it searches them.

Everything runs in this process through Relais's own API on temporary SQLite stores
(``database.create`` + ``database.upgrade``), except the loopback ``FakeMastodon`` of
tests/fakes, which runs in a child process so that its work does not share this process's
GIL (its CPU time is reported apart). The replies are the tests' (``tests/data.py``):
French-looking words with Zipf-like frequencies, a few in most replies, thousands in very few.

(a) Collecting. ``--statuses`` (20,000) statuses with the campaign hashtag in the fake, read
    by one ``Collector.timeline_round`` through ``MastodonReader`` into ``CommentStore``, one
    transaction per page of 40, store calls on the store's one thread as in the bot.
    Reported: comments per second (also without the fake's CPU time), and where the time
    goes: the reader's page methods, each store call, the rest; then the reader's steps on
    the same pages: HTTP GET + ``json.loads`` (plain requests), Mastodon.py's typed
    decoding (1 page in 4, scaled), ``status_text`` (HTML to text). For information.
(b) Inserting. The same replies through ``CommentStore.save_page`` in pages of 40 and in one
    page, against plain ``sqlite3`` ``executemany`` of the same values into a bare table
    with the store's columns and nothing else (no index, trigger, event or position), and,
    for information, the same with the full-text index and its insert trigger.
    Best of ``--repeat``. Target: the store at most 3x the baseline's time.
(c) Searching. ``--comments`` (1,000,000) replies saved through ``CommentStore.save_page``
    in pages of 5,000, then ``--queries`` (200) ``CommentStore.find(CommentQuery(search=...),
    limit=50)`` -- ``relais comments list --search TEXT`` -- for rare, medium and very common
    words and two-word searches (a quarter each). Target: p50 < 20 ms. Also the store's query
    plan, and ``relais comments list --search WORD`` as a command beside ``relais --help``.

    .venv/bin/python benchmarks/collect.py [--only a|b|c ...] [--statuses 20000]
        [--comments 1000000] [--queries 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import Column, Engine, MetaData, Table, event

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests/ is not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.report import BenchmarkError, Figure, cpu_seconds, percentile, revision, run_parts  # noqa: E402
from bot.adapters.mastodon.reader import MastodonReader  # noqa: E402
from bot.adapters.mastodon.text import status_text  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.domain import Campaign, Moderation, Reply  # noqa: E402
from bot.ports import Page  # noqa: E402
from bot.services.collector import Collector, CollectorTiming  # noqa: E402
from bot.store import database  # noqa: E402
from bot.store.comments import Collected, CommentQuery, CommentStore  # noqa: E402
from bot.store.handle import Store  # noqa: E402
from bot.store.schema import comments as comments_table  # noqa: E402
from tests.data import HASHTAG, FollowerPost, Network, Vocabulary, fold, follower_posts  # noqa: E402

T = TypeVar("T")
TOKEN = "bench-token-not-real"
PAGE = 40  # what MastodonReader asks for (Mastodon's most)
BUILD_PAGE = 5_000
LIMIT = 50  # relais comments list's default
STORE_RATIO_TARGET = 3.0
SEARCH_P50_TARGET_MS = 20.0
COLLECT_TIMEOUT_S = 600.0
DECODE_SAMPLE = 4
NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
CREATED = NOW - timedelta(days=1)
FIRST_ID = 110_000_000_000_000_000


def replies(items: list[FollowerPost], first: int = 0) -> list[Reply]:
    """The Replies the reader makes of the fake's statuses (ids and times aside)."""
    return [
        Reply(
            network=Network.MASTODON,
            remote_id=str(FIRST_ID + i),
            text=f"{p.text} #{HASHTAG}",
            created_at=CREATED + timedelta(milliseconds=i),
            author_id=str(p.author + 1),
            author_handle=f"@{p.acct}",
            author_name=f"membre{p.author}",
            url=f"https://exemple.org/@membre{p.author}/{FIRST_ID + i}",
            language="fr",
            hashtags=(HASHTAG,),
        )
        for i, p in enumerate(items, first)
    ]


def campaign() -> Campaign:
    return Campaign(
        "bench",
        Path("bench.yaml"),
        ZoneInfo("America/Montreal"),
        "fr",
        (HASHTAG,),
        {},
        timedelta(minutes=15),
        False,
        Moderation(banned_words=("casino",), hold_links=True),
    )


def migrated(path: Path) -> Engine:
    engine = database.create(f"sqlite:///{path}")
    database.upgrade(engine)
    return engine


# -- (a) collecting --------------------------------------------------------------------------------
def serve_fake(connection: Any, items: list[tuple[str, str]]) -> None:
    """The child process: a FakeMastodon holding ``items`` (acct, HTML), until told to stop."""
    from tests.fakes.mastodon_api import FakeMastodon

    with FakeMastodon(token=TOKEN, rate_limit=10**9) as fake:
        for acct, content in items:
            fake.add_remote_status(acct, content, tags=[HASHTAG])
        connection.send(fake.url)
        connection.recv()  # anything: stop


@contextmanager
def fake_mastodon(items: list[FollowerPost]) -> Iterator[tuple[str, int]]:
    """A FakeMastodon in a child process, filled with ``items``: its URL and pid."""
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    child = multiprocessing.get_context("spawn").Process(
        target=serve_fake, args=(theirs, [(p.acct, p.html) for p in items]), name="fake-mastodon"
    )
    child.start()
    try:
        if not ours.poll(300):
            raise BenchmarkError(f"the fake Mastodon was not ready (exit code {child.exitcode})")
        yield ours.recv(), child.pid or 0
    finally:
        if child.is_alive():
            ours.send("stop")
            child.join(30)
        child.terminate()


class TimedStore(Store):
    """The store as the bot holds it, with the time each function spends in its thread."""

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
        self.reader, self.seconds, self.pages = reader, 0.0, 0

    async def _timed(self, page: Any) -> Page:
        began = time.perf_counter()
        try:
            return await page
        finally:
            self.seconds += time.perf_counter() - began
            self.pages += 1

    async def hashtag_page(self, tag: str, after: str | None) -> Page:
        return await self._timed(self.reader.hashtag_page(tag, after))

    async def mentions_page(self, after: str | None) -> Page:
        return await self._timed(self.reader.mentions_page(after))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)


async def collect(url: str, pid: int, store: TimedStore, count: int) -> tuple[TimedSource, float, float]:
    reader = MastodonReader(url, TOKEN)
    await reader.start()
    source = TimedSource(reader)
    collector = Collector(
        store, SystemClock(), lambda: [campaign()], CollectorTiming(pages_per_round=count // PAGE + 10)
    )
    cpu, began = cpu_seconds(pid), time.perf_counter()
    try:  # round 1: the hashtag timeline and the mentions; no context reading, no recheck
        await asyncio.wait_for(collector.timeline_round(source, 1), COLLECT_TIMEOUT_S)  # type: ignore[arg-type]
    except TimeoutError:
        raise BenchmarkError(f"collection not done after {COLLECT_TIMEOUT_S:.0f} s") from None
    finally:
        wall, fake_cpu = time.perf_counter() - began, cpu_seconds(pid) - cpu
        await reader.close()
    return source, wall, fake_cpu


def read_apart(url: str, pid: int, items: list[FollowerPost]) -> dict[str, float | None]:
    """The timeline read again as the reader reads it, with plain requests (HTTP +
    json.loads); Mastodon.py's typed decoding of one page in DECODE_SAMPLE (scaled); and
    the HTML of every status made text."""
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
    min_id, cpu = "0", cpu_seconds(pid)
    while True:
        began = time.perf_counter()
        answer = session.get(
            f"{url}/api/v1/timelines/tag/{HASHTAG}", params={"min_id": min_id, "limit": PAGE}
        )
        statuses = answer.json()
        http += time.perf_counter() - began
        pages += 1
        if not statuses:
            break
        if returns is not None and pages % DECODE_SAMPLE == 1:
            began = time.perf_counter()
            try_cast_recurse(returns, statuses)
            decoding += time.perf_counter() - began
            sampled += 1
        min_id = max((s["id"] for s in statuses), key=int)
    fake_cpu = cpu_seconds(pid) - cpu
    began = time.perf_counter()
    for item in items:
        status_text(item.html, "")
    return {
        "HTTP GET + json.loads (requests)": http,
        "  of which the fake server's CPU": fake_cpu,
        f"Mastodon.py typed decoding (1 page in {DECODE_SAMPLE}, x{DECODE_SAMPLE})": (
            decoding * (pages - 1) / sampled if sampled else None
        ),
        "HTML to text (status_text)": time.perf_counter() - began,
    }


def run_collect(count: int, seed: int) -> list[Figure]:
    items = follower_posts(count, seed)
    with tempfile.TemporaryDirectory(prefix="relais-bench-") as tmp:
        began = time.perf_counter()
        with TimedStore(migrated(Path(tmp) / "relais.db")) as store, fake_mastodon(items) as (url, pid):
            filled = time.perf_counter() - began
            source, wall, fake_cpu = asyncio.run(collect(url, pid, store, count))
            apart = read_apart(url, pid, items)
            stored = store.comments.counts()
    if sum(stored.values()) != count:
        raise BenchmarkError(f"{sum(stored.values())} comments stored, {count} expected")
    in_store = sum(store.inside.values())
    share = lambda s: f"{s:7.2f} s  {100 * s / wall:5.1f} %"  # noqa: E731
    return [
        Figure("a", "fake filled with (untimed)", f"{count} statuses, {filled:.1f} s"),
        Figure("a", "comments stored", f"{count} ({stored.get('flagged', 0)} flagged)"),
        Figure("a", "pages read", f"{source.pages} ({store.calls['save_page']} save_page)"),
        Figure("a", "collection, wall time", f"{wall:.2f} s"),
        Figure("a", "comments per second", f"{count / wall:,.0f}  (no target: for information)"),
        Figure(
            "a", "  the same, the fake's CPU time taken out", f"{count / max(wall - fake_cpu, 1e-9):,.0f}"
        ),
        Figure("a", "in hashtag_page + mentions_page", share(source.seconds)),
        Figure("a", "  fake server's CPU meanwhile (other process)", share(fake_cpu)),
        Figure("a", "  the same pages, steps timed apart:", ""),
        *(Figure("a", f"    {name}", share(s)) for name, s in apart.items() if s is not None),
        Figure("a", "in store calls (executor thread)", share(in_store)),
        *(Figure("a", f"  {name} x{store.calls[name]}", share(s)) for name, s in store.inside.most_common()),
        Figure("a", "rest (keep, flags, thread hops, loop)", share(wall - source.seconds - in_store)),
    ]


# -- (b) inserting ---------------------------------------------------------------------------------
def insert_store(path: Path, pages: list[list[Reply]]) -> float:
    store = CommentStore(migrated(path))
    began = time.perf_counter()
    for n, page in enumerate(pages):
        store.save_page("mastodon:tag:bench", str(n), [Collected(r, "bench", None) for r in page], now=NOW)
    seconds = time.perf_counter() - began
    store.engine.dispose()
    return seconds


def insert_bare(path: Path, pages: list[list[Reply]], *, fts: bool = False) -> float:
    """The floor: the same values, made from the same Replies, into the store's columns alone
    (with ``fts``, and a full-text index of the text kept by a trigger, as the store's)."""
    engine = database.create(f"sqlite:///{path}")
    Table(
        "comments", MetaData(), *(Column(c.name, c.type, primary_key=c.primary_key) for c in comments_table.c)
    ).create(engine)
    connection = engine.raw_connection().driver_connection  # with the store's pragmas (WAL, synchronous)
    connection.isolation_level = None
    if fts:
        connection.execute(
            "CREATE VIRTUAL TABLE comments_fts USING fts5(text, content='comments', content_rowid='id', "
            "tokenize='unicode61 remove_diacritics 2')"
        )
        connection.execute(
            "CREATE TRIGGER comments_fts_insert AFTER INSERT ON comments BEGIN "
            "INSERT INTO comments_fts(rowid, text) VALUES (new.id, new.text); END"
        )
    names = (
        "network, remote_id, campaign, in_reply_to, url, author_id, author_handle, author_name, "
        "author_nobot, text, language, hashtags, private, created_at, collected_at, state"
    )
    insert = f"INSERT INTO comments ({names}) VALUES ({', '.join('?' * len(names.split(',')))})"
    now = f"{NOW:%Y-%m-%d %H:%M:%S.%f}"
    began = time.perf_counter()
    for page in pages:
        connection.execute("BEGIN")
        connection.executemany(
            insert,
            [
                (
                    str(r.network),
                    r.remote_id,
                    "bench",
                    r.in_reply_to,
                    r.url,
                    r.author_id,
                    r.author_handle,
                    r.author_name,
                    r.author_nobot,
                    r.text,
                    r.language,
                    f" {' '.join(r.hashtags)} ",
                    r.private,
                    f"{r.created_at.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}",
                    now,
                    "pending",
                )
                for r in page
            ],
        )
        connection.execute("COMMIT")
    seconds = time.perf_counter() - began
    engine.dispose()
    return seconds


def run_insert(count: int, repeat: int, seed: int) -> list[Figure]:
    items = replies(follower_posts(count, seed))
    ways = {
        "CommentStore.save_page": insert_store,
        "bare sqlite3 executemany": insert_bare,
        "bare + FTS5 trigger (info)": partial(insert_bare, fts=True),
    }
    figures = [Figure("b", "rows", f"{count} comments, best of {repeat}")]
    with tempfile.TemporaryDirectory(prefix="relais-bench-") as tmp:
        for size in (PAGE, count):
            label = f"pages of {size}" if size != count else f"one page of {count}"
            pages = [items[i : i + size] for i in range(0, count, size)]
            best = {
                name: min(way(Path(tmp) / f"{size}-{w}-{n}.db", pages) for n in range(repeat))
                for w, (name, way) in enumerate(ways.items())
            }
            figures += [
                Figure("b", f"{label}: {name}", f"{s * 1000:8.0f} ms  {count / s:9,.0f} rows/s")
                for name, s in best.items()
            ]
            store = best["CommentStore.save_page"]
            ratio = store / best["bare sqlite3 executemany"]
            target = f"<= {STORE_RATIO_TARGET:g}x"
            figures.append(
                Figure("b", f"{label}: store / bare", f"{ratio:.2f}x", target, ratio <= STORE_RATIO_TARGET)
            )
            info = store / best["bare + FTS5 trigger (info)"]
            figures.append(Figure("b", f"{label}: store / bare + FTS5 (info)", f"{info:.2f}x"))
    return figures


# -- (c) searching -----------------------------------------------------------------------------------
def build(path: Path, count: int, seed: int) -> tuple[CommentStore, list[set[str]], float]:
    """``count`` replies saved in a fresh store; the folded words of each; seconds taken."""
    store = CommentStore(migrated(path))
    rng, vocabulary = random.Random(seed + 2), Vocabulary(seed=seed)
    words: list[set[str]] = []
    began = time.perf_counter()
    for start in range(0, count, BUILD_PAGE):
        texts = vocabulary.texts(rng, min(BUILD_PAGE, count - start))
        page = [FollowerPost(rng.randrange(20_000), t) for t in texts]
        store.save_page(None, None, [Collected(r, "bench", None) for r in replies(page, start)], now=NOW)
        words += [{fold(w.strip(".!?")) for w in t.split()} for t in texts]
    return store, words, time.perf_counter() - began


def choose_queries(words: list[set[str]], count: int, seed: int) -> list[tuple[str, str, int]]:
    """(kind, text, comments holding it): a quarter each rare, medium and common words, and
    two words; the last one the hashtag itself, in every comment."""
    documents = Counter(w for held in words for w in held)
    total, by_doc = len(words), sorted(documents.items(), key=lambda t: t[1])
    middle = len(by_doc) // 2
    bands = {
        "rare": [t for t in by_doc if t[1] <= max(3, total // 10_000)] or by_doc[:20],
        "medium": [t for t in by_doc if total // 1000 <= t[1] <= total // 100]
        or by_doc[middle - 10 : middle + 10],
        "common": [t for t in by_doc if t[1] >= total // 10] or by_doc[-20:],
    }
    rng, queries = random.Random(seed + 3), []
    for n in range(count):
        kind = ("rare", "medium", "common", "two words")[n % 4]
        if kind != "two words":
            queries.append((kind, *rng.choice(bands[kind])))
            continue
        first, other = [("common", "common"), ("common", "medium"), ("medium", "rare")][n // 4 % 3]
        (a, da), (b, db) = rng.choice(bands[first]), rng.choice(bands[other])
        queries.append((kind, f"{a} {b}", min(da, db)))
    queries[-1] = ("common", HASHTAG, total)
    return queries


def run_search(count: int, queries: int, seed: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="relais-bench-") as tmp:
        path = Path(tmp) / "relais.db"
        store, words, built = build(path, count, seed)
        megabytes = sum(f.stat().st_size for f in Path(tmp).glob("relais.db*")) / 1e6
        chosen = choose_queries(words, queries, seed)
        statements: list[tuple[str, Any]] = []
        event.listen(
            store.engine, "before_cursor_execute", lambda _c, _k, sql, p, *_: statements.append((sql, p))
        )
        store.find(CommentQuery(search="bonjour"), limit=LIMIT)  # warm up: connection, compiled query cache
        timings: dict[str, list[float]] = {}
        returned = 0
        for kind, query, _ in chosen:
            began = time.perf_counter()
            returned += len(store.find(CommentQuery(search=query), limit=LIMIT))
            timings.setdefault(kind, []).append(time.perf_counter() - began)
        store.engine.dispose()
        with sqlite3.connect(path) as connection:
            plan = connection.execute(f"EXPLAIN QUERY PLAN {statements[-1][0]}", statements[-1][1]).fetchall()
        medium = next(q for q in chosen if q[0] == "medium")
        commonest = max((q for q in chosen if q[0] == "common"), key=lambda q: q[2])
        commands = [
            (
                f"relais comments list --search {q[1]}",
                f"{q[0]}, {q[2]:,} matches",
                run_command(tmp, path, q[1]),
            )
            for q in (medium, commonest)
        ]
        commands.append(("relais --help", "start-up alone", run_command(tmp, path, None)))
    every = [t for values in timings.values() for t in values]
    p50, p99 = percentile(every, 50) * 1000, percentile(every, 99) * 1000
    figures = [
        Figure(
            "c",
            "store built",
            f"{count:,} comments, {megabytes:.0f} MB, {built:.1f} s (save_page, pages of {BUILD_PAGE})",
        ),
        Figure("c", "searches", f"{len(chosen)} (limit {LIMIT}), {returned} comments returned"),
        Figure("c", "p50", f"{p50:.1f} ms", f"< {SEARCH_P50_TARGET_MS:g} ms", p50 < SEARCH_P50_TARGET_MS),
        Figure("c", "p99", f"{p99:.1f} ms  (no target)"),
    ]
    for kind, values in timings.items():
        docs = [q[2] for q in chosen if q[0] == kind]
        figures.append(
            Figure(
                "c",
                f"  {kind} x{len(values)}",
                f"p50 {percentile(values, 50) * 1000:7.1f} ms  "
                f"p99 {percentile(values, 99) * 1000:7.1f} ms  max {max(values) * 1000:7.1f} ms"
                f"  (matches: {min(docs):,} to {max(docs):,})",
            )
        )
    figures.append(Figure("c", "query plan of CommentStore.find(search=)", ""))
    figures += [Figure("c", f"    {r[0]}<-{r[1]}: {r[3]}", "") for r in plan]
    figures += [
        Figure("c", title, f"{s * 1000:.0f} ms  ({what}; process start-up included)")
        for title, what, s in commands
    ]
    return figures


def run_command(tmp: str, path: Path, search: str | None) -> float:
    """``relais comments list --search WORD`` (``relais --help`` for None), as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")} | {
        "RELAIS_DATABASE_URL": f"sqlite:///{path}"
    }
    relais = str(Path(sys.executable).with_name("relais"))
    argv = [relais, "--help"] if search is None else [relais, "comments", "list", "--search", search]
    began = time.perf_counter()
    result = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise BenchmarkError(f"{' '.join(argv[1:])} failed ({result.returncode}): {result.stderr[-500:]}")
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--only", action="append", choices=["a", "b", "c"], help="run only this part (repeatable)"
    )
    parser.add_argument("--statuses", type=int, default=20_000, help="(a, b) replies collected / inserted")
    parser.add_argument("--comments", type=int, default=1_000_000, help="(c) comments in the searched store")
    parser.add_argument("--queries", type=int, default=200, help="(c) searches timed")
    parser.add_argument("--repeat", type=int, default=3, help="(b) runs of each way, best kept")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if args.statuses < PAGE or args.comments < 1000 or args.queries < 4 or args.repeat < 1:
        parser.error("need --statuses >= 40, --comments >= 1000, --queries >= 4, --repeat >= 1")
    runs = {
        "a": ("(a) collecting from the fake Mastodon", lambda: run_collect(args.statuses, args.seed)),
        "b": (
            "(b) inserting: the store against sqlite3",
            lambda: run_insert(args.statuses, args.repeat, args.seed),
        ),
        "c": (
            "(c) searching: CommentStore.find(search=)",
            lambda: run_search(args.comments, args.queries, args.seed),
        ),
    }
    heading = (
        f"relais at {revision()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, SQLite {sqlite3.sqlite_version}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    return run_parts(heading, runs, args.only or ["a", "b", "c"], width=46)


if __name__ == "__main__":
    sys.exit(main())

"""How fast the moderation desk's service answers with 100,000 replies in a SQLite store.

A temporary SQLite store (``database.create`` + ``database.upgrade``: WAL, the FTS5 index, the indexes
of migration 0008) is filled through the public store API: ``--replies`` (100,000) replies
saved by ``CommentStore.save_page`` in pages of 500, over three campaigns, both networks,
French and English, 5,000 authors, texts drawn from a few thousand words with Zipf-like
frequencies (a few words in most replies, thousands in very few), one in ten flagged by
the collector's rules. Then, through ``ModerationService`` in batches of 1,000, about a
third are approved and a tenth rejected, so that every tab has replies. Timed, in this
process (server time: what the page or the CLI waits for, without rendering):

- queue page: what the desk's queue asks for one page: ``page`` (50 replies, total
  "N of M", the next cursor) plus ``counts`` (the tabs) under the same filter; a mix of
  tabs, of filters (campaign, network, language, flag reason, date range), oldest and newest
  first, and pages deep behind a cursor. p50/p95 of ``--requests`` (300). Target p95 < 50 ms.
- search: the same with words to find (rare, medium, very common, two words), each page
  with its total. Target p95 < 50 ms.
- decision round trip: ``decide`` on one reply with the version seen. Target p95 < 30 ms.
- bulk decision of 1,000 replies: ``decide`` on 1,000 ids with their versions seen, and
  ``decide_matching`` on a filter selecting 1,000 with the count seen; best of 3 each.
  Target < 1 s. Also, for information: undoing that decision, and the author view.

    .venv/bin/python benchmarks/moderation.py [--replies 100000] [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.report import Figure, percentile, revision, show, summary  # noqa: E402
from bot.clock import SimulatedClock  # noqa: E402
from bot.domain import CommentState, Reply  # noqa: E402
from bot.services.moderation import CommentQuery, ModerationService  # noqa: E402
from bot.store import database  # noqa: E402
from bot.store.comments import Collected, CommentStore  # noqa: E402
from tests.data import Network  # noqa: E402

START = datetime(2026, 11, 1, tzinfo=UTC)
CAMPAIGNS = ("gouverner-ensemble", "budget-2027", "consultation-jeunes")
SYLLABLES = [c + v for c in "bdflmnprstv" for v in "aeiou"]


def vocabulary(size: int = 4000) -> list[str]:
    """The same words at every call, the most frequent first."""
    rng = random.Random(7)
    words = ["gouvernement", "ouvert", "données", "transparence", "casino", "bravo"]
    known = set(words)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in known:
            known.add(word)
            words.append(word)
    return words


def fill(store: CommentStore, count: int, rng: random.Random) -> None:
    words = vocabulary()
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf-like
    page: list[Collected] = []
    for i in range(count):
        text = " ".join(rng.choices(words, weights, k=rng.randint(5, 25))) + " #gautrinweb2"
        network = Network.TELEGRAM if rng.random() < 0.3 else Network.MASTODON
        author = rng.randint(1, 5000)
        reply = Reply(
            network=network,
            remote_id=str(i),
            text=text,
            created_at=START + timedelta(seconds=20 * i),
            author_id=str(author),
            author_handle=f"@user{author}@example.org" if network == Network.MASTODON else f"user{author}",
            author_name=f"Personne {author}",
            hashtags=("gautrinweb2",),
            language="fr-CA" if i % 4 else "en",
        )
        flags = ("contains a link",) if i % 10 == 0 else ()
        page.append(Collected(reply, CAMPAIGNS[i % 3], None, flags))
        if len(page) == 500:
            store.save_page("bench", str(i), page, now=START + timedelta(seconds=20 * i))
            page = []
    if page:
        store.save_page("bench", str(count), page, now=START + timedelta(seconds=20 * count))


def decide_some(service: ModerationService, store: CommentStore, rng: random.Random) -> None:
    ids = [c.id for c in service.page(limit=None).comments if c.state == CommentState.PENDING]
    rng.shuffle(ids)
    third, tenth = len(ids) // 3, len(ids) // 10
    for chunk in range(0, third, 1000):
        service.decide(ids[chunk : min(chunk + 1000, third)], CommentState.APPROVED, actor="ana")
    for chunk in range(third, third + tenth, 1000):
        service.decide(
            ids[chunk : min(chunk + 1000, third + tenth)],
            CommentState.REJECTED,
            actor="ana",
            reason_code="spam",
        )


CPU: list[float] = []  # the CPU time of each call timed, in the order timed


def timed(call: Callable[[], object]) -> float:
    """Wall time of ``call`` in ms (and its CPU time, kept in ``CPU``: on a shared machine
    the wall time also counts the time spent waiting for a core)."""
    cpu, started = time.process_time(), time.perf_counter()
    call()
    CPU.append((time.process_time() - cpu) * 1000)
    return (time.perf_counter() - started) * 1000


Request = tuple[CommentQuery, int | None, bool]  # a filter, a cursor, newest first


def queue_requests(service: ModerationService, rng: random.Random, n: int) -> list[Request]:
    """What moderators ask the queue for: a tab, a filter, an order, a page (one in four
    behind a cursor, up to 10 pages deep, found beforehand)."""
    tabs = [("pending",), ("flagged",), ("approved",), ("rejected",), ()]
    week = START + timedelta(days=7)
    filters: list[dict[str, object]] = [
        {},
        {"campaign": CAMPAIGNS[1]},
        {"network": "telegram"},
        {"language": "en"},
        {"since": week, "until": week + timedelta(days=3)},
        {"campaign": CAMPAIGNS[0], "network": "mastodon"},
    ]
    requests = []
    for _ in range(n):
        query = CommentQuery(states=rng.choice(tabs), **rng.choice(filters))  # type: ignore[arg-type]
        if rng.random() < 0.1:  # a flag's reason, in the flagged tab or all of them
            query = CommentQuery(states=rng.choice([("flagged",), ()]), reason="link")
        newest = rng.random() < 0.3
        after = None
        if rng.random() < 0.25:
            for _ in range(rng.randint(1, 10)):
                cursor = service.page(query, after=after, newest_first=newest).next
                if cursor is None:
                    break
                after = cursor
        requests.append((query, after, newest))
    return requests


def search_requests(rng: random.Random, n: int) -> dict[str, list[Request]]:
    """Searches by kind: a word in most replies, a medium one, a rare one, two words."""
    words = vocabulary()
    common, medium, rare = words[:5], words[40:400], words[2000:]
    kinds = {
        "common word": lambda: rng.choice(common),
        "medium word": lambda: rng.choice(medium),
        "rare word": lambda: rng.choice(rare),
        "two words": lambda: f"{rng.choice(medium)} {rng.choice(common)}",
    }
    return {
        kind: [
            (CommentQuery(search=word(), states=rng.choice([(), ("pending",)])), None, False)
            for _ in range(n // 4)
        ]
        for kind, word in kinds.items()
    }


def timed_queue(service: ModerationService, requests: list[Request]) -> list[float]:
    """Each request timed alone: one ``queue`` call, a page and the tabs' counts."""
    return [timed(lambda r=r: service.queue(r[0], after=r[1], newest_first=r[2])) for r in requests]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--store", type=Path, help="build the store there once, and use it again next time")
    args = parser.parse_args()
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or Path(tmp) / "relais.db"
        reuse = path.exists()
        engine = database.create(f"sqlite:///{path}")
        database.upgrade(engine)
        store = CommentStore(engine)
        clock = SimulatedClock(START + timedelta(days=30))
        service = ModerationService(store, clock)
        started = time.perf_counter()
        if not reuse:
            fill(store, args.replies, rng)
            decide_some(service, store, rng)
        built = time.perf_counter() - started
        counts = service.counts()
        show(
            f"Moderation service, SQLite, {args.replies:,} replies ({revision()}; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)",
            [Figure("setup", "built in (save_page + decisions)", f"{built:.1f} s")]
            + [Figure("setup", f"  {state.value}", f"{n:,}") for state, n in counts.items()],
        )

        timed_queue(service, queue_requests(service, rng, 20))  # warm the caches, as a running desk has them
        CPU.clear()
        queue = timed_queue(service, queue_requests(service, rng, args.requests))
        queue_cpu = CPU[:]
        CPU.clear()
        by_kind = {kind: timed_queue(service, r) for kind, r in search_requests(rng, args.requests).items()}
        searches = [t for times in by_kind.values() for t in times]
        search_cpu = CPU[:]
        pending = [c for c in service.page(CommentQuery(states=("pending",)), limit=args.requests).comments]
        rounds = [
            timed(
                lambda c=c: service.decide([c.id], CommentState.APPROVED, actor="bob", seen={c.id: c.version})
            )
            for c in pending
        ]
        part = [
            Figure("queue", "queue page p50 (page + tabs)", f"{percentile(queue, 50):.1f} ms"),
            Figure(
                "queue",
                "queue page p95",
                f"{percentile(queue, 95):.1f} ms",
                "< 50 ms",
                percentile(queue, 95) < 50,
            ),
            Figure("queue", "queue page p95, CPU time", f"{percentile(queue_cpu, 95):.1f} ms"),
            Figure("queue", "search p50 (page + total + tabs)", f"{percentile(searches, 50):.1f} ms"),
            Figure("queue", "search p95, CPU time", f"{percentile(search_cpu, 95):.1f} ms"),
            *(Figure("queue", f"  {kind} p95", f"{percentile(t, 95):.1f} ms") for kind, t in by_kind.items()),
            Figure(
                "queue",
                "search p95",
                f"{percentile(searches, 95):.1f} ms",
                "< 50 ms",
                percentile(searches, 95) < 50,
            ),
            Figure("decide", "decision round trip p50", f"{percentile(rounds, 50):.1f} ms"),
            Figure(
                "decide",
                "decision round trip p95",
                f"{percentile(rounds, 95):.1f} ms",
                "< 30 ms",
                percentile(rounds, 95) < 30,
            ),
        ]

        bulk, matching, undo = [], [], []
        for _ in range(3):
            found = service.page(CommentQuery(states=("pending",)), limit=1000).comments
            bulk.append(
                timed(
                    lambda found=found: service.decide(
                        [c.id for c in found],
                        CommentState.REJECTED,
                        actor="carole",
                        reason_code="spam",
                        seen={c.id: c.version for c in found},
                    )
                )
            )
            undo.append(timed(lambda: service.undo_last("carole")))
            cut = service.page(CommentQuery(states=("pending",)), limit=1000).comments[-1].created_at
            selecting = CommentQuery(states=("pending",), until=cut + timedelta(microseconds=1))
            expected = service.page(selecting, limit=1).total
            matching.append(
                timed(
                    lambda q=selecting, n=expected: service.decide_matching(
                        q, CommentState.APPROVED, actor="carole", expected=n
                    )
                )
            )
            service.undo_last("carole")
        author = service.page(limit=1).comments[0]
        views = [timed(lambda: service.author(author.network, author.author_handle)) for _ in range(20)]
        part += [
            Figure(
                "decide",
                "bulk decision of 1,000 ids (best)",
                f"{min(bulk):.0f} ms",
                "< 1 s",
                min(bulk) < 1000,
            ),
            Figure(
                "decide",
                "all 1,000 matching a filter (best)",
                f"{min(matching):.0f} ms",
                "< 1 s",
                min(matching) < 1000,
            ),
            Figure("decide", "undo of that decision (best)", f"{min(undo):.0f} ms"),
            Figure("author", "author view p95", f"{percentile(views, 95):.1f} ms"),
        ]
        show("Timings (server time, this process)", part)
        summary(part)
        engine.dispose()


if __name__ == "__main__":
    main()

"""How fast the moderation desk answers, measured through its ASGI application.

A temporary SQLite store (migrated: WAL, the FTS5 index) gets ``--replies`` (100,000)
replies through ``CommentStore.save_page`` in pages of 5,000 (untimed), a tenth of them
flagged, texts drawn from a small French vocabulary so that some words are common and
others rare. The desk (``bot.web.app.create_app``, its store handle, one moderator logged
in) is driven in process by httpx's ASGI transport: each figure is the time from the
request to the last byte of the answer, so the HTTP client's own work is counted in (a
server measured alone would be faster). Reported, each with its target:

- the queue page (the 50 oldest to review, the tabs' counts), ``--rounds`` times: p50, p95;
- the queue page further on (a cursor 50,000 replies in): p95;
- a search (a common word, a rare one, two words), as a page: p95;
- a decision round trip (one reply approved by the page's script, JSON): p50, p95;
- a decision on all 1,000 replies a filter matches (confirmed), once;
- the weight of the queue page with its CSS, JS and icon.

    python3 dev.py relais --version >/dev/null; .venv/bin/python benchmarks/desk.py
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bot.clock import SystemClock
from bot.domain import Reply
from bot.services.accounts import Accounts
from bot.store import database
from bot.store.comments import Collected, CommentStore
from bot.store.handle import Store
from bot.store.moderators import ModeratorStore
from bot.web.app import create_app
from tests.data import Network

WORDS = [
    "rapport",
    "gouvernement",
    "données",
    "ouvertes",
    "citoyens",
    "consultation",
    "diffusion",
    "question",
    "merci",
    "bravo",
    "fonction",
    "publique",
    "recommandation",
    "transparence",
    "participation",
    "web",
    "québec",
    "assemblée",
    "nationale",
    "démocratie",
    "numérique",
    "services",
    "ministère",
    "accès",
    "information",
    "commentaires",
]
RARE = [f"mot{n}" for n in range(2000)]
START = datetime(2012, 5, 1, tzinfo=UTC)
PASSWORD = "benchmark password"


def fill(engine: object, count: int) -> None:
    store = CommentStore(engine)  # type: ignore[arg-type]
    rng = random.Random(7)
    for first in range(0, count, 5000):
        page = []
        for n in range(first, min(count, first + 5000)):
            words = [*rng.choices(WORDS, k=8), rng.choice(RARE)]
            if n < 1000:
                words.append("vague")  # the 1,000 replies the bulk decision takes
            page.append(
                Collected(
                    Reply(
                        Network.MASTODON,
                        str(n),
                        " ".join(words) + " #gautrinweb2",
                        START + timedelta(seconds=30 * n),
                        f"id{n % 5000}",
                        f"@user{n % 5000}@exemple.social",
                        f"Personne {n % 5000}",
                        url=f"https://exemple.social/@user{n % 5000}/{n}",
                        language="fr",
                        hashtags=("gautrinweb2",),
                    ),
                    "gouverner-ensemble",
                    "gouverner-ensemble/annonce/mastodon",
                    ("contains a link",) if n % 10 == 9 else (),
                )
            )
        store.save_page(None, None, page, now=START + timedelta(days=40))


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


CPU: dict[str, list[float]] = {}  # the process's CPU time per request, by figure


async def timed(
    client: httpx.AsyncClient, method: str, url: str, figure: str = "", **kwargs: object
) -> tuple[float, httpx.Response]:
    """Wall time of one request; its CPU time (this process's: the app, its store thread,
    the client) is kept under ``figure``, a figure that other processes on a shared
    machine disturb less."""
    began, cpu = time.perf_counter(), time.process_time()
    response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    CPU.setdefault(figure, []).append(time.process_time() - cpu)
    return time.perf_counter() - began, response


async def measure(url: str, rounds: int) -> list[tuple[str, float, float, str]]:
    engine = database.create(url)
    accounts = Accounts(ModeratorStore(engine), SystemClock())
    accounts.add("bench", PASSWORD)
    store = Store(engine)
    app = create_app(store, SystemClock())
    results: list[tuple[str, float, float, str]] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk") as client:
        login = await client.get("/login")
        csrf = re.search(r'name="csrf" content="(\w+)"', login.text).group(1)  # type: ignore[union-attr]
        await client.post("/login", data={"csrf": csrf, "name": "bench", "password": PASSWORD})
        queue = await client.get("/")
        csrf = re.search(r'name="csrf" content="(\w+)"', queue.text).group(1)  # type: ignore[union-attr]

        pages = [(await timed(client, "GET", "/", "queue page"))[0] for _ in range(rounds)]
        results.append(("queue page, p50", p(pages, 0.5), 50, "ms"))
        results.append(("queue page, p95", p(pages, 0.95), 50, "ms"))
        deep = [
            (await timed(client, "GET", "/?after=50000&start=45001", "queue page 50,000 in"))[0]
            for _ in range(rounds)
        ]
        results.append(("queue page 50,000 in, p95", p(deep, 0.95), 50, "ms"))
        searches = []
        for i in range(rounds):
            q = ["rapport", RARE[i % len(RARE)], "données ouvertes"][i % 3]
            searches.append(
                (await timed(client, "GET", "/", "search page", params={"tab": "all", "q": q}))[0]
            )
        results.append(("search page, p95", p(searches, 0.95), 50, "ms"))

        decisions = []
        headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
        for n in range(2000, 2000 + rounds):
            took, answer = await timed(
                client,
                "POST",
                "/decide",
                "decision round trip",
                data={"one": f"{n}:approve", "v": f"{n}:1"},
                headers=headers,
            )
            assert answer.status_code == 200, answer.text
            decisions.append(took)
        results.append(("decision round trip, p50", p(decisions, 0.5), 30, "ms"))
        results.append(("decision round trip, p95", p(decisions, 0.95), 30, "ms"))

        filters = {"tab": "all", "q": "vague", "action": "approve", "csrf": csrf}
        confirm = await client.post("/decide", data=filters | {"scope": "matching"})  # the count and which
        found = re.search(r'name="match" value="([^"]+)"', confirm.text)
        assert confirm.status_code == 200, confirm.text
        assert found, confirm.text
        confirmed = filters | {"expected": "1000", "match": found.group(1)}
        took, answer = await timed(client, "POST", "/decide/matching", "all 1,000 matching", data=confirmed)
        assert answer.status_code == 303, answer.text
        results.append(("decision on all 1,000 matching", took * 1000, 1000, "ms"))

        weight = len((await client.get("/")).content)
        for asset in ("/static/desk.css", "/static/desk.js", "/static/favicon.svg"):
            weight += len((await client.get(asset)).content)
        results.append(("queue page with its assets", weight / 1000, 100, "kB"))
    store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replies", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relais-desk-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'relais.db'}"
        engine = database.create(url)
        database.upgrade(engine)
        began = time.perf_counter()
        fill(engine, args.replies)
        engine.dispose()
        print(f"{args.replies:,} replies stored in {time.perf_counter() - began:.0f} s (untimed)")
        results = asyncio.run(measure(url, args.rounds))
    failed = 0
    for name, value, target, unit in results:
        ok = value < target
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {name:<34} {value:8.1f} {unit}  (target < {target} {unit})")
    print("CPU time of this process per request (p50 / p95), less disturbed by a busy machine:")
    for figure, values in CPU.items():
        print(f"      {figure:<34} {p(values, 0.5):8.1f} / {p(values, 0.95):.1f} ms")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

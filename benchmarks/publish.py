"""How late `relais run` publishes, how fast it fans out to many chats, and its memory.

The real `relais run` as a subprocess, as the tests run it (tests/harness.py): a temporary
directory, an SQLite store, and the loopback fakes of tests/fakes with their real limits
(Telegram: 30 messages in any 1 s, 20 in any 60 s per chat, else 429; Mastodon: 300 requests
in 300 s). Each part starts its own fakes and bot, whose collectors run too, and stops it with
SIGTERM; campaign files are written ``--lead`` seconds ahead of the first due time, and a part
is refused if the bot was not watching at least 1 s before it. Every WARNING or ERROR the bot
logs is counted (target: none).

(a) Lateness. 100 posts x 2 channels due within one minute: post i at T + i * 0.6 s, to its
    own Telegram chat (one message per chat per minute, as a campaign really sends: in one
    chat our sender's pacing, 14 a minute, would be measured instead) and to Mastodon.
    Lateness = when the accepted request reached the fake (``time.time()`` as its handler
    starts) minus the scheduled instant. Target: p99 < 100 ms.
(b) Fan-out. One post to 300 Telegram chats, due at T: the last sendMessage reaching the
    fake, against the ideal of Telegram's 30 a second paced evenly (T + 299/30 s = 9.97 s).
    Our sender paces at 28 a second with a burst of 1, a floor of 299/28 = 10.68 s (1.07x);
    the total is shown as first message + that floor + what is lost between messages.
    Targets: ratio <= 1.1x, and no 429 answer.
(c) Memory. 5,000 posts x 2 channels = 10,000 pending publications days ahead, from a
    template with vars, in 5 files: VmRSS and VmHWM (peak) of the bot once it logs
    "watching", and the same with an empty campaign. Target: < 150 MB (the peak held to it).

    .venv/bin/python benchmarks/publish.py [--only a|b|c ...] [--lead SECONDS]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.adapters.telegram.transport import OVERALL_BURST, OVERALL_PER_SECOND  # the sender's pacing

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests/ is not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.report import BenchmarkError, Figure, cpu_seconds, percentile, revision, run_parts  # noqa: E402
from tests.data import campaign_yaml, stamp  # noqa: E402
from tests.fakes.mastodon_api import FakeMastodon  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.harness import MASTODON_TOKEN, Bot, Deployment  # noqa: E402

LATENESS_POSTS = 100
LATENESS_SPREAD_S = 60.0
LATENESS_TARGET_P99_MS = 100.0
FANOUT_CHATS = 300
TELEGRAM_PER_SECOND = 30  # Telegram's overall limit (and the fake's)
FANOUT_TARGET_RATIO = 1.1
MEMORY_FILES = 5
MEMORY_POSTS_PER_FILE = 1_000  # x 2 channels
MEMORY_TARGET_MB = 150.0
MIN_MARGIN_S = 1.0  # the bot must be watching at least this long before the first due time
STOP_TIMEOUT_S = 30.0
POLL_S = 0.25
FIRST_CHAT_ID = -1001000000000
STATUSES = "/api/v1/statuses"

TEMPLATE = """**{{ titre }}**

{{ resume }} Publié le {{ at|datetime }}.

[Lire la suite]({{ lien }}) {{ hashtag }}
"""


# -- small helpers -----------------------------------------------------------------------------
def chat_id(index: int) -> int:
    return FIRST_CHAT_ID - index


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a live process, in kB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def wait_until(bot: Bot, condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail if the bot exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if bot.process.poll() is not None or time.monotonic() >= deadline:
            tail = "\n".join(bot.log.splitlines()[-15:])
            raise BenchmarkError(f"no {what} after {timeout:.0f} s (exit code {bot.process.poll()}):\n{tail}")
        time.sleep(POLL_S)


def warning_figures(part: str, bot: Bot, shown: int = 3) -> list[Figure]:
    """How many WARNING and ERROR lines the bot logged (target 0), and the first few."""
    warnings = [line for line in bot.log.splitlines() if " WARNING " in line or " ERROR " in line]
    count = Figure(part, "bot warnings and errors", str(len(warnings)), "0", not warnings)
    return [count, *(Figure(part, "  log", line[:160]) for line in warnings[:shown])]


# -- campaign files ------------------------------------------------------------------------------
def telegram_channels(count: int) -> dict[str, str]:
    return {f"tg-{i:03d}": f"{{network: telegram, chat: {chat_id(i)}}}" for i in range(count)}


def write(deployment: Deployment, name: str, channels: dict[str, str], posts: list[str]) -> None:
    path = deployment.root / "schedules" / f"{name}.yaml"
    path.write_text(campaign_yaml(name, channels, posts), encoding="utf-8")


def add_chats(telegram: FakeTelegram, count: int) -> None:
    for i in range(count):
        telegram.add_chat(chat_id(i), "channel", title=f"Canal {i}")


# -- running the bot ------------------------------------------------------------------------------
@contextlib.contextmanager
def deployment() -> Iterator[Deployment]:
    """A working directory, a store and fresh fakes with their real limits."""
    with (
        tempfile.TemporaryDirectory(prefix="relais-bench-") as tmp,
        FakeTelegram() as telegram,
        FakeMastodon(token=MASTODON_TOKEN) as mastodon,
    ):
        root = Path(tmp)
        yield Deployment(root, telegram, mastodon, f"sqlite:///{root / 'relais.db'}")


@contextlib.contextmanager
def running(deployment: Deployment) -> Iterator[Bot]:
    """``relais run``, stopped with SIGTERM on the way out (killed if it does not stop)."""
    bot = deployment.start()
    try:
        yield bot
    finally:
        try:
            bot.stop(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            bot.process.kill()
            bot.process.wait(5)


def wait_watching(bot: Bot, timeout: float) -> float:
    """Wait for the "watching" log line; returns the wall time it was seen."""
    wait_until(bot, lambda: "watching" in bot.log, timeout, "watching line")
    return time.time()


def check_margin(part: str, watching: float, first_due: float, lead: float) -> Figure:
    margin = first_due - watching
    if margin < MIN_MARGIN_S:
        raise BenchmarkError(f"({part}) watching only {margin:.2f} s before the first due time: raise --lead")
    return Figure(part, "watching before the first due time", f"{margin:.1f} s")


# -- (a) lateness --------------------------------------------------------------------------------
def arrivals(dep: Deployment) -> dict[str, dict[str, float]]:
    """By network, the wall time each accepted message reached the fake, by the post id it carries."""
    mastodon: dict[str, float] = {}
    for r in dep.mastodon.requests:
        text = str(r.params.get("status", ""))
        if (r.method, r.path.rstrip("/"), r.status) == ("POST", STATUSES, 200) and text.startswith("post "):
            mastodon.setdefault(text.split()[1], r.time)
    telegram = {
        m.text.split()[1]: m.wall_time for m in dep.telegram.sent if (m.text or "").startswith("post ")
    }
    return {"telegram": telegram, "mastodon": mastodon}


def run_lateness(lead: float, posts: int, spread: float) -> list[Figure]:
    with deployment() as dep:
        add_chats(dep.telegram, posts)
        channels = telegram_channels(posts) | {"masto": "{network: mastodon, visibility: unlisted}"}
        first = datetime.now(UTC) + timedelta(seconds=lead)
        due = {f"p{i:03d}": first + timedelta(seconds=spread * i / posts) for i in range(posts)}
        text = "post {} {{{{ hashtag }}}}"
        write(
            dep,
            "bench-lateness",
            channels,
            [
                f'{{id: {pid}, at: "{stamp(at)}", text: "{text.format(pid)}", to: [tg-{i:03d}, masto]}}'
                for i, (pid, at) in enumerate(due.items())
            ],
        )
        with running(dep) as bot:
            margin = check_margin("a", wait_watching(bot, lead), first.timestamp(), lead)
            cpu = cpu_seconds(bot.process.pid)
            done = lambda: all(len(by_post) >= posts for by_post in arrivals(dep).values())  # noqa: E731
            wait_until(bot, done, lead + spread + 60, f"{2 * posts} publications")
            cpu = cpu_seconds(bot.process.pid) - cpu
            rss = memory_kb(bot.process.pid)
        late = {
            network: {pid: (at - due[pid].timestamp()) * 1000 for pid, at in by_post.items()}
            for network, by_post in arrivals(dep).items()
        }
        too_many = dep.telegram.too_many_requests + sum(r.status == 429 for r in dep.mastodon.requests)
    every = [value for by_post in late.values() for value in by_post.values()]
    p99 = percentile(every, 99)
    worst = sorted(((v, n, p) for n, by_post in late.items() for p, v in by_post.items()), reverse=True)[:3]
    return [
        margin,
        Figure("a", "publications", f"{len(every)} due within {spread:g} s"),
        Figure("a", "lateness p50", f"{percentile(every, 50):.1f} ms"),
        Figure(
            "a",
            "lateness p99",
            f"{p99:.1f} ms",
            f"< {LATENESS_TARGET_P99_MS:g} ms",
            p99 < LATENESS_TARGET_P99_MS,
        ),
        Figure("a", "lateness max", f"{max(every):.1f} ms"),
        Figure("a", "lateness min", f"{min(every):.1f} ms"),
        *(
            Figure(
                "a",
                f"  {network} p50 / p99 / max",
                " / ".join(f"{v:.1f}" for v in (percentile(values, 50), percentile(values, 99), max(values)))
                + " ms",
            )
            for network, values in ((n, list(by_post.values())) for n, by_post in late.items())
        ),
        Figure("a", "429 answers", str(too_many), "0", too_many == 0),
        *warning_figures("a", bot),
        Figure("a", "worst", ", ".join(f"{p}/{n} {v:.0f} ms" for v, n, p in worst)),
        Figure("a", "bot CPU time while publishing", f"{cpu:.2f} s"),
        Figure("a", "bot RSS after the minute", f"{rss.get('VmRSS', 0) / 1024:.0f} MB"),
    ]


# -- (b) fan-out ---------------------------------------------------------------------------------
def run_fanout(lead: float, chats: int) -> list[Figure]:
    with deployment() as dep:
        add_chats(dep.telegram, chats)
        at = datetime.now(UTC) + timedelta(seconds=lead)
        post = f'{{id: fanout, at: "{stamp(at)}", text: "post fanout {{{{ hashtag }}}}"}}'
        write(dep, "bench-fanout", telegram_channels(chats), [post])
        ideal = (chats - 1) / TELEGRAM_PER_SECOND
        with running(dep) as bot:
            margin = check_margin("b", wait_watching(bot, lead), at.timestamp(), lead)
            cpu = cpu_seconds(bot.process.pid)
            wait_until(
                bot, lambda: len(dep.telegram.sent) >= chats, lead + 3 * ideal + 60, f"{chats} messages"
            )
            cpu = cpu_seconds(bot.process.pid) - cpu
        times = sorted(m.wall_time - at.timestamp() for m in dep.telegram.sent)  # after T, in order
        attempts = sum(r.method == "sendMessage" for r in dep.telegram.requests)
        too_many = dep.telegram.too_many_requests
    first, total = times[0], times[-1]
    floor = max(chats - OVERALL_BURST, 0) / OVERALL_PER_SECOND  # the leaky bucket's own pace
    beyond = (total - first) - floor
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(times)]
    ratio = total / ideal
    return [
        margin,
        Figure("b", "messages", f"{len(times)} to {chats} chats, {attempts} sendMessage requests"),
        Figure("b", "last message after T", f"{total:.2f} s"),
        Figure(
            "b",
            f"ideal at {TELEGRAM_PER_SECOND}/s, no burst",
            f"{ideal:.2f} s  ({chats - 1}/{TELEGRAM_PER_SECOND})",
        ),
        Figure(
            "b",
            "ratio to the ideal",
            f"{ratio:.3f}x",
            f"<= {FANOUT_TARGET_RATIO}x",
            ratio <= FANOUT_TARGET_RATIO,
        ),
        Figure("b", "  = first message after T", f"{first * 1000:.0f} ms"),
        Figure(
            "b",
            f"  + sender's floor ({OVERALL_PER_SECOND}/s, burst {OVERALL_BURST})",
            f"{floor:.2f} s  ({floor / ideal:.3f}x the ideal)",
        ),
        Figure(
            "b",
            "  + lost between messages",
            f"{beyond * 1000:.0f} ms  ({beyond * 1000 / max(len(gaps), 1):.2f} ms a message)",
        ),
        Figure(
            "b",
            "gap between messages",
            f"median {statistics.median(gaps):.2f} ms, mean {statistics.fmean(gaps):.2f} ms, "
            f"max {max(gaps):.1f} ms (1/{OVERALL_PER_SECOND} s = {1000 / OVERALL_PER_SECOND:.2f} ms)",
        ),
        Figure("b", "429 answers", str(too_many), "0", too_many == 0),
        *warning_figures("b", bot),
        Figure("b", "bot CPU time while publishing", f"{cpu:.2f} s"),
    ]


# -- (c) memory ----------------------------------------------------------------------------------
def write_pending(dep: Deployment, files: int, posts_per_file: int) -> int:
    """Campaign files with ``files * posts_per_file`` posts to two channels, days ahead
    (with no post: one campaign file with those channels); returns the publications."""
    (dep.root / "messages" / "annonce.fr.md").write_text(TEMPLATE, encoding="utf-8")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    channels = {
        "annonces-telegram": '{network: telegram, chat: "@GautrinWeb2"}',
        "mastodon": "{network: mastodon, visibility: public}",
    }
    if not posts_per_file:
        write(dep, "vide", channels, [])
        return 0
    for f in range(files):
        posts = []
        for i in range(posts_per_file):
            at = start + timedelta(minutes=10 * (i * files + f))
            posts.append(
                f'id: annonce-{i}\n    at: "{stamp(at)}"\n    message: annonce\n    vars:\n'
                f'      titre: "Annonce numéro {i} de la campagne {f}"\n'
                f'      resume: "Le rapport « Gouverner ensemble » présente {i % 40} recommandations '
                'sur la transparence, la participation et la collaboration."\n'
                f'      lien: "https://example.org/campagne-{f}/annonce-{i}"'
            )
        write(dep, f"campagne-{f}", channels, posts)
    return files * posts_per_file * len(channels)


def measure_memory(files: int, posts_per_file: int, timeout: float) -> tuple[int, float, dict[str, int]]:
    """(publications, seconds from start to "watching", memory) of one bot."""
    with deployment() as dep:
        count = write_pending(dep, files, posts_per_file)
        began = time.time()
        with running(dep) as bot:
            startup = wait_watching(bot, timeout) - began
            memory = memory_kb(bot.process.pid)
            if count:
                line = next((x for x in bot.log.splitlines() if "publications scheduled" in x), "")
                if f"{count} publications scheduled" not in line:
                    raise BenchmarkError(f"expected {count} publications scheduled, the bot said: {line}")
    return count, startup, memory


def run_memory(pending: int, timeout: float) -> list[Figure]:
    per_file = pending // (2 * MEMORY_FILES)
    _, empty_startup, empty = measure_memory(MEMORY_FILES, 0, timeout)
    count, startup, full = measure_memory(MEMORY_FILES, per_file, timeout)
    rss, peak = full["VmRSS"] / 1024, full["VmHWM"] / 1024
    per_publication = (full["VmRSS"] - empty["VmRSS"]) * 1024 / count
    return [
        Figure("c", "pending publications", f"{count} in {MEMORY_FILES} files"),
        Figure("c", "start to watching", f"{startup:.1f} s (empty campaign {empty_startup:.1f} s)"),
        Figure(
            "c", "VmRSS when watching", f"{rss:.1f} MB", f"< {MEMORY_TARGET_MB:g} MB", rss < MEMORY_TARGET_MB
        ),
        Figure(
            "c",
            "VmHWM (peak) when watching",
            f"{peak:.1f} MB",
            f"< {MEMORY_TARGET_MB:g} MB",
            peak < MEMORY_TARGET_MB,
        ),
        Figure(
            "c",
            "empty campaign VmRSS / VmHWM",
            f"{empty['VmRSS'] / 1024:.1f} / {empty['VmHWM'] / 1024:.1f} MB",
        ),
        Figure("c", "per pending publication (VmRSS)", f"{per_publication / 1024:.1f} kB"),
    ]


# -- output --------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add("--only", action="append", choices=["a", "b", "c"], help="run only this part (repeatable)")
    add("--lead", type=float, default=15.0, help="seconds from starting the bot to the first due time")
    add("--posts", type=int, default=LATENESS_POSTS, help="(a) posts, each to Telegram and Mastodon")
    add("--spread", type=float, default=LATENESS_SPREAD_S, help="(a) seconds over which the posts are due")
    add("--chats", type=int, default=FANOUT_CHATS, help="(b) Telegram chats of the post")
    add(
        "--pending",
        type=int,
        default=2 * MEMORY_FILES * MEMORY_POSTS_PER_FILE,
        help="(c) pending publications",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the bot is stopped too
    runs: dict[str, tuple[str, Callable[[], list[Figure]]]] = {
        "a": ("(a) lateness", lambda: run_lateness(args.lead, args.posts, args.spread)),
        "b": ("(b) fan-out", lambda: run_fanout(args.lead, args.chats)),
        "c": ("(c) memory", lambda: run_memory(args.pending, max(60.0, args.lead * 4))),
    }
    heading = f"relais run at {revision()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    return run_parts(heading, runs, args.only or ["a", "b", "c"])


if __name__ == "__main__":
    sys.exit(main())

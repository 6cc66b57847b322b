"""How fast each ``relais`` command answers from a cold start, on the sample campaign.

Copies schedules/ and messages/ of the repository into a scratch directory, makes a
store there (``relais db upgrade``) holding three replies, starts the loopback Telegram
and Mastodon servers of tests/fakes/, and times, in one run:

- ``python -c pass``: the interpreter alone, the floor every command stands on;
- each command but ``run``, as a user types it (the ``relais`` script of this
  environment, a new process each time, the bytecode of ``bot/`` compiled as on a
  first run);
- ``relais run`` against the loopback servers: the time from its start to the log line
  that says it is watching schedules/ (it has loaded the campaigns, opened the store,
  reached both networks and armed its timers), then its resident memory once it has
  idled for a few seconds.

Targets (issue 11, section 6), each printed PASS or FAIL: ``relais --version`` and
``--help`` under 150 ms; every other command but ``run`` under 300 ms; ``relais run``
watching within 1.5 s and idling under 70 MB resident. Each figure is the best of
--repeat runs (the machine is shared: the best run is the one the least disturbed); CPU
time and the median are printed beside it.

With ``--instructions`` it counts instead, under valgrind's callgrind, the instructions
each command executes (once each, ``run`` left out): a count that does not change with
what else the machine is doing, to weigh a change on a shared machine where times wander
by a third from one run to the next.

    .venv/bin/python benchmarks/startup.py [--repeat 7] [--idle 5]
    .venv/bin/python benchmarks/startup.py --instructions [--only status]
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests/ is not an installed package
    sys.path.insert(0, str(ROOT))

from tests.fakes.mastodon_api import FakeMastodon  # noqa: E402
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram  # noqa: E402

MASTODON_TOKEN = "test-token-not-real"
CHAT_ID = -1001234567890
QUICK = 0.150  # --version, --help
COMMAND = 0.300  # every other command but run
WATCHING = 1.5
RSS_MB = 70


def commands(root: Path) -> dict[str, list[str]]:
    """Every command but ``run``, as a user would type it, with what it needs."""
    return {
        "--version": ["--version"],
        "--help": ["--help"],
        "validate": ["validate"],
        "plan": ["plan"],
        "plan --format json": ["plan", "--format", "json"],
        "status": ["status"],
        "comments list": ["comments", "list"],
        "comments show 1": ["comments", "show", "1"],
        "comments approve 1": ["comments", "approve", "1", "--as", "bench"],
        "export --format csv": ["export", "--format", "csv", "-o", str(root / "export.csv")],
        "db upgrade": ["db", "upgrade"],
        "run --help": ["run", "--help"],
    }


def seed(database_url: str) -> None:
    """Three replies in the store, for ``comments`` and ``export`` to show."""
    from bot.domain import Reply
    from bot.store.comments import Collected, CommentStore
    from bot.store.database import create
    from tests.data import Network

    now = datetime.now(UTC)
    replies = [
        Reply(
            network=Network.MASTODON,
            remote_id=str(n),
            text=f"Réponse {n} #gautrinweb2",
            created_at=now - timedelta(minutes=n),
            author_id=str(n),
            author_handle=f"@user{n}@example.org",
            author_name=f"User {n}",
            hashtags=("gautrinweb2",),
        )
        for n in (1, 2, 3)
    ]
    engine = create(database_url)
    try:
        CommentStore(engine).save_page(
            "bench", "3", [Collected(r, "gouverner-ensemble", None) for r in replies], now=now
        )
    finally:
        engine.dispose()


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU time of one run of ``argv`` (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(argv, check=True, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def instructions(argv: list[str], env: dict[str, str], cwd: Path) -> int:
    """The instructions one run of ``argv`` executes, counted by callgrind."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError("callgrind printed no count:\n" + done.stderr)
    return int(found.group(1))


def count(relais: str, env: dict[str, str], root: Path, only: list[str]) -> None:
    """Print the instructions of ``python -c pass`` and of each command (``--instructions``)."""
    floor = instructions([sys.executable, "-c", "pass"], env, root)
    print("instructions executed on the sample campaign, counted by callgrind (millions):")
    print(f"  {'python -c pass':<26} {floor / 1e6:8.1f}")
    for name, argv in commands(root).items():
        if only and name not in only:
            continue
        total = instructions([sys.executable, relais, *argv], env, root)
        print(f"  relais {name:<19} {total / 1e6:8.1f}  ({total / floor:4.1f} × python)")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")  # pragma: no cover


def cpu_seconds(pid: int) -> float:
    """User and system time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(relais: str, env: dict[str, str], cwd: Path, idle: float) -> tuple[float, float, float]:
    """Start ``relais run``; the seconds until it says it is watching (wall, and its CPU
    time then), and its resident memory in MB after ``idle`` more seconds; then stop it."""
    began = time.perf_counter()
    process = subprocess.Popen(
        [relais, "run"],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    watching = threading.Event()
    log: list[str] = []
    seen: list[float] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)
            if "watching" in line and not watching.is_set():
                seen.append(time.perf_counter() - began)
                seen.append(cpu_seconds(process.pid))
                watching.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not watching.wait(60):
            raise RuntimeError("relais run never said it was watching:\n" + "".join(log))
        time.sleep(idle)
        if process.poll() is not None:
            raise RuntimeError("relais run stopped:\n" + "".join(log))
        memory = rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(30)
        reader.join(10)
    return seen[0], seen[1], memory


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--idle", type=float, default=5.0, help="seconds relais run idles before its RSS is read"
    )
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions under callgrind instead of timing"
    )
    parser.add_argument("--only", action="append", default=[], help="with --instructions: this command only")
    options = parser.parse_args()
    relais = str(Path(sys.executable).with_name("relais"))
    compileall.compile_dir(ROOT / "bot", quiet=1)
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeTelegram() as telegram,
        FakeMastodon(token=MASTODON_TOKEN) as mastodon,
    ):
        root = Path(tmp)
        shutil.copytree(ROOT / "schedules", root / "schedules")
        shutil.copytree(ROOT / "messages", root / "messages")
        telegram.add_chat(CHAT_ID, "channel", title="Gouverner ensemble", username="GautrinWeb2")
        database_url = f"sqlite:///{root / 'state' / 'relais.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
        env.update(
            RELAIS_STATE_DIR=str(root / "state"),
            RELAIS_DATABASE_URL=database_url,
            RELAIS_TELEGRAM_TOKEN=DEFAULT_TOKEN,
            RELAIS_TELEGRAM_API_URL=telegram.url,
            RELAIS_MASTODON_URL=mastodon.url,
            RELAIS_MASTODON_TOKEN=MASTODON_TOKEN,
            PYTHONUNBUFFERED="1",
        )
        subprocess.run([relais, "db", "upgrade"], check=True, cwd=root, env=env, capture_output=True)
        seed(database_url)
        if options.instructions:
            count(relais, env, root, options.only)
            return

        floor = [timed([sys.executable, "-c", "pass"], env, root) for _ in range(options.repeat)]
        figures: dict[str, list[tuple[float, float]]] = {}
        for name, argv in commands(root).items():
            figures[name] = [timed([relais, *argv], env, root) for _ in range(options.repeat)]
        runs = [run_once(relais, env, root, options.idle) for _ in range(max(3, options.repeat // 2))]

    load = os.getloadavg()
    base = min(floor)
    print(f"cold start on the sample campaign, best of {options.repeat} (ms; CPU and median beside):")
    print(
        f"  {'python -c pass':<22} {base[0] * 1000:7.1f}  (CPU {base[1] * 1000:6.1f}, median "
        f"{statistics.median(w for w, _ in floor) * 1000:6.1f})"
    )
    verdicts = []
    for name, times in figures.items():
        wall, cpu = min(times)
        median = statistics.median(w for w, _ in times)
        print(
            f"  relais {name:<15} {wall * 1000:7.1f}  (CPU {cpu * 1000:6.1f}, median {median * 1000:6.1f})"
            f"  +{(wall - base[0]) * 1000:6.1f} over python"
        )
        limit = QUICK if name in ("--version", "--help") else COMMAND
        verdicts.append((wall < limit, f"relais {name} < {limit * 1000:.0f} ms: {wall * 1000:.0f} ms"))
    watch, watch_cpu, _ = min(runs)
    memory = min(m for _, _, m in runs)
    print(f"relais run against the loopback servers, best of {len(runs)}:")
    print(
        f"  watching after           {watch * 1000:7.1f} ms  (CPU {watch_cpu * 1000:.0f} ms, median "
        f"{statistics.median(t for t, _, _ in runs) * 1000:.1f} ms)"
    )
    print(
        f"  resident after {options.idle:g} s idle  {memory:7.1f} MB"
        f"  (largest {max(m for _, _, m in runs):.1f} MB)"
    )
    verdicts.append(
        (watch < WATCHING, f"relais run watching < {WATCHING * 1000:.0f} ms: {watch * 1000:.0f} ms")
    )
    verdicts.append((memory < RSS_MB, f"relais run idle < {RSS_MB} MB resident: {memory:.1f} MB"))
    print(f"targets (load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs):")
    for ok, text in verdicts:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")


if __name__ == "__main__":
    main()

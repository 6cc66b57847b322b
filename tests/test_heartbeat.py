"""The running bot's heartbeat and the alerts it raises about itself (item 3 of issue 11):
the store on SQLite and PostgreSQL, the watchdog on a simulated clock, the command end to end."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.clock import SimulatedClock
from bot.domain import PublicationState
from bot.services.documents import bot_document
from bot.services.watchdog import Watchdog
from bot.store.handle import Store
from bot.store.heartbeat import Heartbeat, beats
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import MASTODON_TOKEN, Bot, Deployment
from tests.test_ledger import pub

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_process_beats_stops_and_is_told_who_ran_before(engine: Engine) -> None:
    first = Heartbeat(engine, "one")
    assert first.start(T0, "vps-1", 101) is None  # no bot ran on this store yet
    first.beat(T0 + timedelta(seconds=10))
    first.stop(T0 + timedelta(seconds=12))
    second = Heartbeat(engine, "two")
    before = second.start(T0 + timedelta(hours=2), "vps-2", 202)
    assert before is not None
    assert (before.owner, before.host, before.pid) == ("one", "vps-1", 101)
    assert before.gone_at == T0 + timedelta(seconds=12)
    second.beat(T0 + timedelta(hours=2, seconds=10))
    found = beats(engine)
    assert [b.owner for b in found] == ["two", "one"]
    document = bot_document(found, T0 + timedelta(hours=2, seconds=14))
    assert document["running"] is True
    assert [(p["host"], p["pid"], p["seen_seconds_ago"]) for p in document["processes"]] == [
        ("vps-2", 202, 4.0)
    ]
    later = bot_document(found, T0 + timedelta(hours=3))  # no beat for 50 min: gone, never stopped
    assert later["running"] is False
    assert later["last"] is not None
    assert later["last"]["stopped"] is None


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    from bot.store import database

    with Store.open(database_url) as opened:
        database.upgrade(opened.engine)
        yield opened


def test_a_start_after_being_down_past_a_publication_tells_the_alert_chat_once(store: Store) -> None:
    told: list[str] = []

    async def notify(text: str) -> None:
        told.append(text)

    async def scenario() -> None:
        earlier = Heartbeat(store.engine, "earlier")
        earlier.start(T0, "vps-1", 7)
        earlier.beat(T0 + timedelta(minutes=1))  # then killed: never stopped
        publications = [
            pub("pendant", at=T0 + timedelta(minutes=30)),
            pub("avant", at=T0 - timedelta(hours=1)),
            pub("apres", at=T0 + timedelta(hours=5)),
        ]
        clock = SimulatedClock(T0 + timedelta(hours=1))
        dog = Watchdog(store, clock, notify, lambda: set())
        await dog.start(publications)
        await dog.stop()
        again = Watchdog(
            Store(store.engine), SimulatedClock(T0 + timedelta(hours=1, minutes=1)), notify, lambda: set()
        )
        await again.start(publications)  # restarted a minute later: nothing came due meanwhile

    asyncio.run(scenario())
    assert len(told) == 1
    assert told[0].startswith(
        "Relais: the bot was not running from 2026-12-01 12:01 UTC (last on vps-1) "
        "to 2026-12-01 13:00 UTC; 1 publication(s) came due meanwhile"
    )
    assert "- c/pendant/masto" in told[0]
    assert "avant" not in told[0]
    assert "apres" not in told[0]


def test_a_stall_is_told_once_and_again_after_it_cleared(store: Store) -> None:
    told: list[str] = []

    async def notify(text: str) -> None:
        told.append(text)

    stuck, gone = pub("bloquee", at=T0), pub("retiree", at=T0 - timedelta(hours=1))
    store.ledger.sync([stuck, gone], T0)

    async def scenario() -> list[bool]:
        clock = SimulatedClock(T0 + timedelta(minutes=2))
        dog = Watchdog(store, clock, notify, lambda: {stuck.key})  # "retiree" left the files
        seen = [await dog.check()]  # 2 min late: not yet a stall
        await clock.sleep_until(T0 + timedelta(minutes=6))
        seen += [await dog.check(), await dog.check()]
        store.ledger.claim([stuck.key], clock.now())
        store.ledger.finish(stuck.key, PublicationState.PUBLISHED, clock.now(), remote_id="1")
        seen.append(await dog.check())
        return seen

    assert asyncio.run(scenario()) == [False, True, True, False]
    assert len(told) == 1
    assert told[0].startswith(
        "Relais: publishing is stalled: 1 publication(s) due and not sent, "
        "the oldest c/bloquee/masto for 6 min"
    )
    assert "retiree" not in told[0]


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with FakeTelegram() as telegram, FakeMastodon(token=MASTODON_TOKEN) as mastodon:
        yield Deployment(tmp_path, telegram, mastodon, f"sqlite:///{tmp_path / 'relais.db'}")


def test_status_and_check_alive_follow_the_running_bot(deployment: Deployment) -> None:
    deployment.campaign([("plus-tard", datetime.now(UTC) + timedelta(days=1))], to="masto")
    bot = deployment.start()
    bot.wait_for_line("running;")
    status = deployment.relais("status")
    assert status.returncode == 0, status.stderr
    line = next(x for x in status.stdout.splitlines() if x.startswith("bot: "))
    assert line.startswith("bot: running since ")
    assert f"(pid {bot.process.pid}), last seen " in line
    alive = deployment.relais("check", "--alive")
    assert (alive.returncode, alive.stdout.split(" (")[0]) == (
        0,
        "alive: running since " + line.split(" since ")[1].split(" (")[0],
    )
    assert bot.stop() == 0
    document = json.loads(deployment.relais("status", "--format", "json").stdout)["bot"]
    assert document["running"] is False
    assert document["last"]["pid"] == bot.process.pid
    assert document["last"]["stopped"] is not None
    dead = deployment.relais("check", "--alive")
    assert dead.returncode == 1
    assert dead.stderr.startswith("relais: not running since ")
    assert dead.stderr.rstrip().endswith("start it (systemctl start relais, or relais run)")
    assert "Traceback" not in dead.stderr


def test_a_pushed_file_that_stops_validating_is_told_once(deployment: Deployment) -> None:
    deployment.telegram.add_chat(-100999, "supergroup", title="Équipe")
    deployment.extra_env["RELAIS_ALERT_TELEGRAM_CHAT"] = "-100999"
    path = deployment.campaign([("plus-tard", datetime.now(UTC) + timedelta(days=1))], to="masto")
    bot = deployment.start()
    bot.wait_for_line("watching ")
    good = path.read_text(encoding="utf-8")
    path.write_text(good.replace("grace: 15m", "grace: quinze"), encoding="utf-8")

    def told(tg: FakeTelegram) -> list[str]:
        return [m.text or "" for m in tg.sent if m.chat_id == -100999]

    deployment.telegram.wait_for(lambda tg: len(told(tg)) == 1, timeout=20)
    (alert,) = told(deployment.telegram)
    assert alert.startswith(
        "Relais: schedules/c.yaml no longer validates; its last good version keeps running until it is fixed "
        "(1 problem(s)):\n- schedules/c.yaml:"
    )
    # the same problems again (another save): not told again; fixed, then broken again: told
    path.write_text(good.replace("grace: 15m", "grace: quinze") + "\n", encoding="utf-8")
    wait_for_count(bot, "does not validate: its last good version keeps running", 2)
    path.write_text(good, encoding="utf-8")
    wait_for_count(bot, "campaign files changed: reloading", 3)
    wait_for_count(bot, "publications scheduled", 4)  # at start, then after each of the 3 reloads
    path.write_text(good.replace("grace: 15m", "grace: quinze"), encoding="utf-8")
    deployment.telegram.wait_for(lambda tg: len(told(tg)) == 2, timeout=20)
    assert bot.stop() == 0
    assert len(told(deployment.telegram)) == 2  # the second save of the same problems told nothing


def wait_for_count(bot: Bot, fragment: str, n: int, timeout: float = 20) -> None:
    with bot._changed:
        assert bot._changed.wait_for(lambda: sum(fragment in line for line in bot.lines) >= n, timeout), (
            bot.log
        )


def test_a_restart_after_being_down_past_a_publication_tells_the_alert_chat(deployment: Deployment) -> None:
    deployment.telegram.add_chat(-100999, "supergroup", title="Équipe")
    deployment.extra_env["RELAIS_ALERT_TELEGRAM_CHAT"] = "-100999"
    deployment.campaign([("plus-tard", datetime.now(UTC) + timedelta(days=1))], to="masto")
    bot = deployment.start()
    bot.wait_for_line("running;")
    assert bot.stop() == 0
    # while it was down, a post came due (pushed meanwhile, its time just past)
    deployment.campaign(
        [
            ("pendant", datetime.now(UTC) - timedelta(milliseconds=1)),
            ("plus-tard", datetime.now(UTC) + timedelta(days=1)),
        ],
        to="masto",
    )
    bot = deployment.start()
    deployment.telegram.wait_for(lambda tg: any(m.chat_id == -100999 for m in tg.sent), timeout=20)
    assert deployment.mastodon.wait_for(lambda: len(deployment.mastodon.statuses) == 1, timeout=20)
    assert bot.stop() == 0
    (alert,) = [m.text or "" for m in deployment.telegram.sent if m.chat_id == -100999]
    assert alert.startswith("Relais: the bot was not running from ")
    assert "1 publication(s) came due meanwhile (sent now if within their grace period, else missed" in alert
    assert alert.endswith("\n- c/pendant/masto")


def relais_here(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["RELAIS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'relais.db'}"
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.slow
def test_check_alive_in_json_is_the_bot_document_of_status(tmp_path: Path) -> None:
    """For a monitor that parses it: JSON on stdout, alive or not; the exit status as in text."""
    from bot.store import database

    engine = database.create(f"sqlite:///{tmp_path / 'relais.db'}")
    database.upgrade(engine)
    heart = Heartbeat(engine, "me")
    heart.start(datetime.now(UTC), socket.gethostname(), os.getpid())  # this process: alive
    alive = relais_here(tmp_path, "check", "--alive", "--format", "json")
    assert alive.returncode == 0, alive.stderr
    document = json.loads(alive.stdout)
    assert document["running"] is True
    assert [p["pid"] for p in document["processes"]] == [os.getpid()]
    status = json.loads(relais_here(tmp_path, "status", "--format", "json").stdout)["bot"]
    assert (set(document), document["running"]) == (set(status), status["running"])
    heart.stop(datetime.now(UTC))
    engine.dispose()
    gone = relais_here(tmp_path, "check", "--alive", "--format", "json")
    assert (gone.returncode, gone.stderr) == (1, "")
    document = json.loads(gone.stdout)
    assert (document["running"], document["processes"], document["last"]["pid"]) == (False, [], os.getpid())


def test_a_process_killed_on_this_host_is_not_running_at_once(engine: Engine) -> None:
    """kill -9 leaves a fresh beat that never says it stopped: on the host it ran on, its
    pid tells at once; from another host, only the beat's age can."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid no process has now
    now = datetime.now(UTC)
    Heartbeat(engine, "killed").start(now, socket.gethostname(), child.pid)
    here = bot_document(beats(engine), now + timedelta(seconds=1))
    assert (here["running"], here["processes"]) == (False, [])
    assert here["last"] is not None
    assert here["last"]["pid"] == child.pid
    Heartbeat(engine, "elsewhere").start(now, "another-host", child.pid)
    elsewhere = bot_document(beats(engine), now + timedelta(seconds=1))
    assert [(p["host"], p["pid"]) for p in elsewhere["processes"]] == [("another-host", child.pid)]


@pytest.mark.slow
def test_status_shows_the_streams_under_the_replies_with_readable_times(tmp_path: Path) -> None:
    """No reply yet, a send in doubt to settle: the streams are not listed as if they were
    what needs a person, and their times read like the others'."""
    from bot.store import database
    from bot.store.comments import CommentStore
    from tests.test_resolve import ledger_with

    engine = database.create(f"sqlite:///{tmp_path / 'relais.db'}")
    database.upgrade(engine)
    ledger_with(engine, doute="unknown")
    CommentStore(engine).note_stream("stream:mastodon:mentions", "streaming", T0)
    engine.dispose()
    result = relais_here(tmp_path, "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    stream = lines.index("  stream mastodon:mentions: streaming (since 2026-12-01 12:00:00 UTC)")
    assert lines[stream - 1] == "replies: none"
    assert lines[stream - 2] == ""
    settle = lines.index("to settle (each needs a person):")
    assert lines[settle + 1].startswith("  unknown: relais resolve c/doute/tg ")
    assert lines[settle + 2] == ""

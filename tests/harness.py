"""Running ``relais run`` as a user does, against the loopback Telegram and Mastodon servers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape
from pathlib import Path

from tests.data import campaign_yaml, saying_its_id
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram

MASTODON_TOKEN = "test-token-not-real"
CHAT = "@GautrinWeb2"
CHAT_ID = -1001234567890
GROUP_ID = -1009876543210  # the channel's discussion group, where comments on its posts live


RUNNING: list[Bot] = []  # every bot started, so that a failing test leaves none behind


def kill_leftovers() -> None:
    while RUNNING:
        bot = RUNNING.pop()
        if bot.process.poll() is None:
            bot.process.kill()
            bot.process.wait(10)


@dataclass
class Bot:
    """One ``relais run`` process; its stderr is read line by line as it comes."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        RUNNING.append(self)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # end of output
            self._changed.notify_all()

    @property
    def log(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_line(self, fragment: str, timeout: float = 30) -> str:
        with self._changed:
            found = self._changed.wait_for(
                lambda: any(fragment in line for line in self.lines) or self.process.poll() is not None,
                timeout,
            )
            match = next((line for line in self.lines if fragment in line), None)
        if not found or match is None:
            raise AssertionError(f"no {fragment!r} in the bot's log:\n{self.log}")
        return match

    def wait_for_lines(self, fragment: str, count: int, timeout: float = 30) -> None:
        """Until ``count`` lines of the log hold ``fragment``."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: sum(fragment in line for line in self.lines) >= count or self.process.poll() is not None,
                timeout,
            )
            seen = sum(fragment in line for line in self.lines)
        if not found or seen < count:
            raise AssertionError(f"{seen} of {count} {fragment!r} in the bot's log:\n{self.log}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        code = self.process.wait(timeout)
        with self._changed:
            self._changed.wait_for(lambda: self.lines[-1:] == [""], timeout=5)
        return code


@dataclass
class Deployment:
    """A working directory with schedules/ and messages/, a store, and the two networks."""

    root: Path
    telegram: FakeTelegram
    mastodon: FakeMastodon
    database_url: str
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        (self.root / "schedules").mkdir(exist_ok=True)
        (self.root / "messages").mkdir(exist_ok=True)
        self.telegram.add_chat(CHAT_ID, "channel", title="Gouverner ensemble", username=CHAT[1:])

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
        env.update(
            RELAIS_DATABASE_URL=self.database_url,
            RELAIS_TELEGRAM_TOKEN=DEFAULT_TOKEN,
            RELAIS_TELEGRAM_API_URL=self.telegram.url,
            RELAIS_MASTODON_URL=self.mastodon.url,
            RELAIS_MASTODON_TOKEN=MASTODON_TOKEN,
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def campaign(
        self,
        posts: list[tuple[str, datetime]],
        *,
        name: str = "c",
        grace: str = "15m",
        livestreams: str = "",
        to: str | None = None,
    ) -> Path:
        """A campaign whose posts each say their own id (so the servers' records name them)."""
        channels = {
            "tg": f'{{network: telegram, chat: "{CHAT}"}}',
            "masto": "{network: mastodon, visibility: unlisted}",
        }
        path = self.root / "schedules" / f"{name}.yaml"
        posted = (saying_its_id(pub_id, at, to) for pub_id, at in posts)
        path.write_text(campaign_yaml(name, channels, posted, grace=grace, extra=livestreams), encoding="utf-8")
        return path

    def start(self, *args: str) -> Bot:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", *args],
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        return Bot(process)

    def relais(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def status(self) -> dict:
        result = self.relais("status", "--format", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def states(self) -> dict[str, str]:
        document = self.status()
        rows = document["publications"] + document["next"]
        return {f"{r['id']}/{r['channel']}": r["state"] for r in rows}


def sent_ids(telegram: FakeTelegram) -> list[str]:
    """The publication ids of the messages Telegram received, in order."""
    return [m.text.split()[1] for m in telegram.sent if m.text and m.text.startswith("post ")]


def posted_ids(mastodon: FakeMastodon) -> list[str]:
    """The publication ids of the statuses Mastodon created, in order."""
    return [re.sub(r"<[^>]+>", " ", unescape(s["content"])).split()[1] for s in mastodon.statuses]


def telegram_attempts(telegram: FakeTelegram) -> list[str]:
    """The publication ids of every sendMessage that reached Telegram, accepted or not."""
    texts = [str(r.params.get("text", "")) for r in telegram.requests if r.method == "sendMessage"]
    return [t.split()[1] for t in texts if t.startswith("post ")]


def mastodon_attempts(mastodon: FakeMastodon) -> list[str]:
    """The publication ids of every status post that reached Mastodon, accepted or not."""
    texts = [
        str(r.params.get("status", ""))
        for r in mastodon.requests
        if (r.method, r.path.rstrip("/")) == ("POST", "/api/v1/statuses")
    ]
    return [t.split()[1] for t in texts if t.startswith("post ")]


def comments(deployment: Deployment) -> list[dict]:
    result = deployment.relais("comments", "list", "--limit", "0", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["comments"]


def until(condition: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    """Poll ``condition`` (the store and the fakes' records) until it holds or time is up."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)
    return True


def replies_stored(deployment: Deployment, network: str, count: int, timeout: float = 30) -> bool:
    """Whether ``count`` replies from ``network`` are in the store within ``timeout``. Polling
    asks for what follows the newest status it stored, but a Mastodon stream that connects
    first carries the rest with no such read: the store itself is what to watch."""

    def stored() -> int:
        result = deployment.relais("comments", "list", "--limit", "0", "--format", "json")
        if result.returncode != 0:  # no store yet: the bot has not made it
            return 0
        return sum(c["network"] == network for c in json.loads(result.stdout)["comments"])

    return until(lambda: stored() >= count, timeout, every=0.3)



def in_order(requests: list, *steps: Callable[[object], bool]) -> bool:
    """Whether requests matching each of ``steps`` came one after the other (others between)."""
    position = 0
    for step in steps:
        position = next((i + 1 for i in range(position, len(requests)) if step(requests[i])), -1)
        if position < 0:
            return False
    return True


def offset_reached(telegram: FakeTelegram, offset: int) -> bool:
    return any(
        r.method.lower() == "getupdates" and str(r.params.get("offset")) == str(offset)
        for r in telegram.requests
    )


@contextmanager
def scratch_database(server_url: str, template: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``server_url`` (a copy of ``template``,
    when given), dropped afterwards."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from bot.store import database

    admin = database.create(server_url)
    name = f"relais_t_{uuid.uuid4().hex[:12]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        copy = f' TEMPLATE "{template}"' if template else ""
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

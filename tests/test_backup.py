"""``relais db backup``: a consistent copy of a live SQLite store, restorable by copying it
back; for PostgreSQL, a pointer to pg_dump; a bad path, one line naming the fix."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import MASTODON_TOKEN, Deployment, posted_ids, sent_ids

BURST = 30


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with FakeTelegram() as telegram, FakeMastodon(token=MASTODON_TOKEN) as mastodon:
        yield Deployment(tmp_path, telegram, mastodon, f"sqlite:///{tmp_path / 'relais.db'}")


def published(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (n,) = connection.execute("SELECT count(*) FROM publications WHERE state = 'published'").fetchone()
    return int(n)


def test_a_backup_taken_during_a_burst_restores_without_publishing_anything_twice(
    deployment: Deployment, tmp_path: Path
) -> None:
    telegram, mastodon = deployment.telegram, deployment.mastodon
    now = datetime.now(UTC)
    deployment.campaign([("t0", now - timedelta(seconds=1))], name="c", to="tg")
    ids = [f"m{i}" for i in range(BURST)]
    deployment.campaign([(m, now + timedelta(seconds=1)) for m in ids], name="d", to="masto")
    # Mastodon answers three posts at once and holds the answers to the others longer and
    # longer (each post is made when it arrives): whenever the bot started, the burst goes on
    # for seconds after those three, and the backup taken then sees it half done.
    statuses = {"path": "/api/v1/statuses", "method": "POST"}
    mastodon.delay(seconds=0.01, times=3, **statuses)
    for i in range(BURST - 3):
        mastodon.delay(seconds=0.5 + 0.1 * i, **statuses)

    bot = deployment.start()
    bot.wait_for_lines(": published", 4)  # t0 and three on Mastodon
    copy = tmp_path / "backups" / "relais.db"
    copy.parent.mkdir()
    result = deployment.relais("db", "backup", str(copy))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{copy}: a copy of {tmp_path / 'relais.db'} ("), result.stdout
    assert mastodon.wait_for(lambda: len(mastodon.statuses) == BURST, timeout=60), bot.log
    bot.wait_for_lines(": published", 1 + BURST, timeout=60)
    assert bot.stop() == 0, bot.log
    # The copy is one self-contained, consistent file, taken in the middle of the burst.
    assert not Path(f"{copy}-wal").exists()
    backed_up = published(copy)
    assert 4 <= backed_up < 1 + BURST, "the backup was not taken during the burst"

    # Restore as the README says: the bot stopped, the copy put back, the WAL files gone.
    store = tmp_path / "relais.db"
    shutil.copyfile(copy, store)
    for leftover in (Path(f"{store}-wal"), Path(f"{store}-shm")):
        leftover.unlink(missing_ok=True)
    assert published(store) < 1 + BURST
    bot = deployment.start()
    bot.wait_for_lines(": published", 1 + BURST - backed_up, timeout=60)  # what the copy had not seen
    assert bot.stop() == 0, bot.log
    assert set(deployment.states().values()) == {"published"}

    # Mastodon answered the posts the backup had not seen with the ones already made (same
    # idempotency keys); what the backup says was published was not sent at all.
    assert Counter(posted_ids(mastodon)) == Counter(ids)
    assert sent_ids(telegram) == ["t0"]
    assert len(deployment.states()) == BURST + 1


def relais(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    environment["RELAIS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'relais.db'}"
    return environment


def test_a_backup_is_consistent_while_another_connection_writes(tmp_path: Path) -> None:
    from bot.store import database
    from bot.store.backup import backup

    url = f"sqlite:///{tmp_path / 'relais.db'}"
    engine = database.create(url)
    database.upgrade(engine)
    engine.dispose()
    writer = sqlite3.connect(tmp_path / "relais.db", check_same_thread=False)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE burst (n INTEGER, twice INTEGER)")
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            with writer:  # two statements, one transaction: a copy has both or neither
                writer.execute("INSERT INTO burst VALUES (?, NULL)", (n,))
                writer.execute("UPDATE burst SET twice = n * 2 WHERE n = ?", (n,))
            n += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        copies = [backup(url, tmp_path / f"copy{i}.db") for i in range(5)]
    finally:
        stop.set()
        thread.join()
        writer.close()
    for made in copies:
        with sqlite3.connect(made.target) as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)
            rows = connection.execute("SELECT n, twice FROM burst ORDER BY n").fetchall()
        assert rows == [(n, 2 * n) for n in range(len(rows))]
    assert not list(tmp_path.glob("*.partial"))


def test_postgresql_is_pointed_to_pg_dump(tmp_path: Path, env: dict[str, str]) -> None:
    env["RELAIS_DATABASE_URL"] = "postgresql+psycopg://relais:secret@db.example/relais"
    result = relais("db", "backup", str(tmp_path / "x.db"), env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        "relais: relais db backup copies an SQLite store; for PostgreSQL use pg_dump "
        "(pg_dump -Fc -f FILE DATABASE, README: Deploying)\n"
    )
    assert not (tmp_path / "x.db").exists()


@pytest.mark.slow
def test_bad_paths_get_one_line_naming_the_fix(tmp_path: Path, env: dict[str, str]) -> None:
    missing = relais("db", "backup", str(tmp_path / "b.db"), env=env, cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (
        1, f"relais: no store at {tmp_path / 'relais.db'}: set RELAIS_DATABASE_URL to the store to back up\n"
    )
    assert relais("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    cases = {
        str(tmp_path / "no" / "such" / "b.db"): f"no directory {tmp_path / 'no' / 'such'}: create it first, "
        "or back up elsewhere",
        str(tmp_path): f"{tmp_path} is a directory: give a file name, e.g. {tmp_path / 'relais-backup.db'}",
        str(tmp_path / "relais.db"): f"{tmp_path / 'relais.db'} is the store itself: back up to another file",
    }
    for path, message in cases.items():
        result = relais("db", "backup", path, env=env, cwd=tmp_path)
        assert (result.returncode, result.stderr) == (1, f"relais: {message}\n"), path


@pytest.mark.slow
def test_the_copy_can_be_read_and_replaces_an_older_one(tmp_path: Path, env: dict[str, str]) -> None:
    assert relais("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    target = tmp_path / "b.db"
    target.write_text("an older backup")
    result = relais("db", "backup", "b.db", env=env, cwd=tmp_path)  # relative to where it is typed
    assert result.returncode == 0, result.stderr
    assert published(target) == 0
    assert target.stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_a_target_that_is_not_a_regular_file_or_is_beside_the_store_is_left_alone(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A device, a FIFO (or a link to one) is not replaced by a file; the store's -wal, -shm
    or -journal file is never written, even when absent (the next opener would read it)."""
    assert relais("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "link").symlink_to(fifo)
    cases = {
        fifo: f"{fifo} exists and is not a regular file: back up to a file",
        tmp_path / "link": f"{tmp_path / 'link'} exists and is not a regular file: back up to a file",
    }
    for suffix in ("-wal", "-shm", "-journal"):
        beside = tmp_path / f"relais.db{suffix}"
        cases[beside] = f"{beside} belongs to the store {tmp_path / 'relais.db'}: back up to another file"
    (tmp_path / "relais.db-wal").write_bytes(b"")
    for path, message in cases.items():
        result = relais("db", "backup", str(path), env=env, cwd=tmp_path)
        assert (result.returncode, result.stderr) == (1, f"relais: {message}\n"), path
    assert fifo.is_fifo()
    assert (tmp_path / "link").is_symlink()
    assert (tmp_path / "relais.db-wal").read_bytes() == b""
    assert not (tmp_path / "relais.db-shm").exists()
    assert not (tmp_path / "relais.db-journal").exists()

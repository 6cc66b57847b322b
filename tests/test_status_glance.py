"""``relais status`` and ``relais check --alive`` on an SQLite store read it with ``sqlite3``
alone (``bot.store.glance.status``): what they read must be what SQLAlchemy reads
(``bot.services.status.reading``), on a store holding every kind of row status tells."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.domain import CommentState, PublicationState
from bot.services.status import reading
from bot.store import database, glance
from bot.store.acknowledgements import AcknowledgementQueue
from bot.store.comments import CommentStore
from bot.store.heartbeat import Heartbeat
from bot.store.ledger import Ledger, Resolution
from tests.test_resolve import LATER, NOW, ledger_with
from tests.test_startup import STORE, loaded
from tests.test_unstorable import refuse_name, reply

MICRO = timedelta(microseconds=123456)  # times with microseconds, and without


def in_state_dir(project: Path, migrated: Path) -> Path:
    """A current store where ``loaded`` has a command look for it (``state/relais.db``)."""
    (project / "state").mkdir()
    return Path(shutil.copyfile(migrated, project / "state" / "relais.db"))


def store_in_every_state(engine: Engine) -> None:
    """Publications in every state, two settled and one sent again; three processes' beats;
    replies decided (acknowledgements queued, one sent), collectors' positions, a stream,
    a chat's last reading, and an item set aside."""
    ledger = ledger_with(
        engine, doute="unknown", rate="failed", manque="missed", vu="published", attend="pending"
    )
    ledger.resolve(
        ["c/doute/tg"], Resolution.PUBLISHED, LATER, actor="marie", reason="vu", url="https://t.me/x/4"
    )
    ledger.resolve(["c/rate/tg"], Resolution.RESEND, LATER + MICRO, actor="paul", reason=None)
    assert isinstance(ledger, Ledger)
    for n, (owner, stopped) in enumerate([("a", True), ("b", False), ("c", False)]):
        beat = Heartbeat(engine, owner)
        beat.start(NOW + timedelta(minutes=n), f"host-{owner}", 100 + n)
        beat.beat(NOW + timedelta(minutes=n, seconds=30) + MICRO)
        if stopped:
            beat.stop(NOW + timedelta(minutes=n + 1))
    comments = CommentStore(engine)
    refuse_name(engine, "Refusé")
    page = [reply("-1:1"), reply("-1:2"), reply("-1:3", "Refusé"), reply("-1:4")]
    comments.save_page("telegram:updates", "7", page, now=NOW)
    comments.save_page("mastodon:tag:gautrinweb2", "110", [], now=NOW + MICRO)
    comments.note_stream("stream:mastodon:mentions", "streaming", NOW)
    comments.note_read("telegram:-100", NOW)
    ids = [c.id for c in comments.find(limit=None)]
    with comments.deciding(ids[:2]) as decisions:
        decisions.record(
            ids[:2], CommentState.APPROVED, actor="marie", reason=None, now=NOW, acknowledge=True
        )
    with comments.deciding(ids[2:]) as decisions:
        decisions.record(
            ids[2:], CommentState.REJECTED, actor="paul", reason="hors sujet", now=NOW, acknowledge=False
        )
    queue = AcknowledgementQueue(engine, "bot")
    first = queue.claim("telegram", NOW + timedelta(hours=1), timedelta(minutes=2), {"c"})
    assert first is not None
    queue.sent(first, NOW + timedelta(hours=1))


def test_the_glance_reads_what_sqlalchemy_reads_of_a_store_in_every_state(tmp_path: Path) -> None:
    path = tmp_path / "relais.db"
    engine = database.create(f"sqlite:///{path}")
    try:
        database.upgrade(engine)
        assert glance.status(path) == reading(engine)  # empty
        store_in_every_state(engine)
        by_sqlalchemy = reading(engine)
    finally:
        engine.dispose()
    by_glance = glance.status(path)

    assert by_glance == by_sqlalchemy
    assert repr(by_glance) == repr(by_sqlalchemy)  # the same types too: True is not 1, UTC not +00:00
    # (and the store held what status tells: none of it compared empty)
    assert {r.state for r in by_sqlalchemy.rows.values()} == {"published", "pending", "missed"}
    assert sorted(by_sqlalchemy.settlements) == ["c/doute/tg", "c/rate/tg"]
    assert by_sqlalchemy.rows["c/rate/tg"].resend is True
    assert [b.owner for b in by_sqlalchemy.beats] == ["c", "b", "a"]
    assert by_sqlalchemy.beats[-1].stopped_at is not None
    assert by_sqlalchemy.replies == {"approved": 2, "rejected": 1}
    assert by_sqlalchemy.acknowledgements["sent"] == 1
    assert by_sqlalchemy.acknowledgements["queued"] + by_sqlalchemy.acknowledgements["skipped"] == 1
    assert by_sqlalchemy.set_aside == 1
    assert by_sqlalchemy.set_aside_latest[0]["remote_id"] == "-1:3"
    assert {"telegram:updates", "mastodon:tag:gautrinweb2", "stream:mastodon:mentions"} <= set(
        by_sqlalchemy.positions
    )
    assert all(at.tzinfo is not None for _, at in by_glance.positions.values())


def test_the_glance_leaves_to_sqlalchemy_a_store_it_cannot_read_plainly(
    tmp_path: Path, migrated_sqlite: Path
) -> None:
    """A store not current, not a Relais store, or not a database: None (the command then
    opens it through SQLAlchemy, which says what is wrong); and it never creates one."""
    behind = tmp_path / "behind.db"
    shutil.copyfile(migrated_sqlite, behind)
    with sqlite3.connect(behind) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0001'")
    connection.close()
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)

    for path in (behind, other, garbage, tmp_path / "missing.db"):
        assert glance.status(path) is None, path
    assert not (tmp_path / "missing.db").exists()
    assert glance.status(tmp_path / "current.db") is None
    shutil.copyfile(migrated_sqlite, tmp_path / "current.db")
    assert glance.status(tmp_path / "current.db") is not None


def test_a_store_table_the_glance_cannot_read_is_left_to_sqlalchemy(
    migrated_sqlite: Path, tmp_path: Path
) -> None:
    path = tmp_path / "relais.db"
    shutil.copyfile(migrated_sqlite, path)
    engine = database.create(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE set_aside"))
    finally:
        engine.dispose()
    assert glance.status(path) is None


@pytest.mark.slow
def test_status_and_check_alive_read_an_sqlite_store_without_sqlalchemy(
    tmp_path: Path, migrated_sqlite: Path
) -> None:
    """As a user runs them: they answer (exit 0), and SQLAlchemy is never loaded."""
    project = tmp_path
    engine = database.create(f"sqlite:///{in_state_dir(project, migrated_sqlite)}")
    try:
        ledger_with(engine, doute="unknown")
        Heartbeat(engine, "b").start(datetime.now(UTC), "host-b", 4242)  # alive: check --alive exits 0
    finally:
        engine.dispose()

    for args in (("status", "--format", "json"), ("check", "--alive", "--format", "json")):
        modules = loaded(project, *args)
        assert "sqlite3" in modules
        assert modules & STORE == set(), args


def test_status_json_is_the_same_through_either_reading(tmp_path: Path) -> None:
    """The document ``relais status --format json`` prints, from the glance, is the one
    ``report`` makes of SQLAlchemy's reading."""
    from bot.services.status import report

    path = tmp_path / "relais.db"
    engine = database.create(f"sqlite:///{path}")
    try:
        database.upgrade(engine)
        store_in_every_state(engine)
        by_sqlalchemy = report(reading(engine), store="s", upcoming=10, now=LATER)
    finally:
        engine.dispose()
    read = glance.status(path)
    assert read is not None
    by_glance = report(read, store="s", upcoming=10, now=LATER)
    assert json.dumps(by_glance, sort_keys=True) == json.dumps(by_sqlalchemy, sort_keys=True)
    assert by_glance["publications"]
    assert by_glance["set_aside"]["count"] == 1
    assert by_glance["counts"][PublicationState.PUBLISHED.value] == 2


def test_a_time_stored_with_an_offset_is_read_in_utc_as_sqlalchemy_reads_it(tmp_path: Path) -> None:
    """Relais writes UTC without an offset; a store edited or imported by hand may hold one.
    Read as if it were UTC, a beat five minutes old written at +02:00 would look two hours
    ahead, and ``check --alive`` would call a stopped bot alive."""
    path = tmp_path / "relais.db"
    engine = database.create(f"sqlite:///{path}")
    try:
        database.upgrade(engine)
        Heartbeat(engine, "b").start(NOW, "host-b", 4242)
        with engine.begin() as connection:
            connection.execute(text("UPDATE heartbeats SET seen_at = '2026-12-01 14:00:00.5+02:00'"))
        by_sqlalchemy = reading(engine)
    finally:
        engine.dispose()
    by_glance = glance.status(path)
    assert by_glance == by_sqlalchemy
    assert by_glance is not None
    assert by_glance.beats[0].seen_at == datetime(2026, 12, 1, 12, 0, 0, 500000, tzinfo=UTC)


def test_the_glance_leaves_no_file_beside_the_store(migrated_sqlite: Path, tmp_path: Path) -> None:
    """A store at rest (the bot stopped) is one file; reading it leaves it one file."""
    path = tmp_path / "relais.db"
    shutil.copyfile(migrated_sqlite, path)
    assert glance.status(path) is not None
    assert glance.recorded_states(path, ["c/a/t"]) == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relais.db"]


def test_a_locked_store_is_left_to_sqlalchemy_after_a_short_wait(migrated_sqlite: Path, tmp_path: Path) -> None:
    """A writer holding a store that is not in WAL mode: the glance gives up within about a
    second and leaves the store to SQLAlchemy, which waits as every command does and says
    why; the glance's own full wait on top of it made a failing health check time out."""
    import time

    path = tmp_path / "relais.db"
    shutil.copyfile(migrated_sqlite, path)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode=DELETE")
        writer.execute("BEGIN EXCLUSIVE")
        began = time.monotonic()
        assert glance.status(path) is None
        assert time.monotonic() - began < 5  # (it waited 10 s, then SQLAlchemy 10 s more)
    finally:
        writer.close()
    assert glance.status(path) is not None


@pytest.mark.slow
def test_db_upgrade_puts_a_current_store_not_in_wal_mode_back_in_it(tmp_path: Path, migrated_sqlite: Path) -> None:
    """A backup restored (``relais db backup`` writes a rollback-journal copy) is current but
    not in WAL mode: ``db upgrade`` does what it always did, through SQLAlchemy."""
    store = in_state_dir(tmp_path, migrated_sqlite)
    with sqlite3.connect(store) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")
    connection.close()
    assert not glance.ready(store)
    modules = loaded(tmp_path, "db", "upgrade")
    assert "sqlalchemy" in modules
    with sqlite3.connect(store) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection.close()

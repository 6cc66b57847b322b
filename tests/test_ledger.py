"""The publication ledger, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, inspect, text

from bot.domain import Channel, Publication, PublicationKey, PublicationState
from bot.store import database
from bot.store.ledger import Ledger, Wire
from tests.data import Network

NOW = datetime(2012, 5, 2, 12, 0, tzinfo=UTC)
TELEGRAM = Channel("tg", Network.TELEGRAM, chat="@GautrinWeb2")
MASTODON = Channel("masto", Network.MASTODON)


def pub(pub_id: str, channel: Channel = MASTODON, at: datetime = NOW) -> Publication:
    return Publication(
        campaign="c",
        id=pub_id,
        channel=channel,
        at=at,
        timezone=ZoneInfo("America/Montreal"),
        text="x",
        length=1,
        limit=500,
        language="fr",
    )


def test_a_key_is_parsed_back_into_its_parts() -> None:
    key = pub("conference@1h.fr", TELEGRAM).key
    assert PublicationKey.parse(key) == ("c", "conference@1h.fr", "tg")
    assert str(PublicationKey.parse(key)) == key


def test_migrations_create_the_tables_and_are_idempotent(engine: Engine) -> None:
    database.upgrade(engine)
    assert {"publications", "alembic_version"} <= set(inspect(engine).get_table_names())
    assert database.is_current(engine)


def test_the_head_revision_is_the_one_alembic_finds() -> None:
    from alembic.script import ScriptDirectory

    assert database._heads() == {ScriptDirectory.from_config(database._alembic_config()).get_current_head()}


def test_a_store_is_current_only_with_every_migration_applied(database_url: str) -> None:
    from alembic import command

    engine = database.create(database_url)
    seen = []
    for target in (None, "0001", "0004", "head"):
        if target is not None:
            config = database._alembic_config()
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, target)
        seen.append((database.is_current(engine), database._is_current_by_alembic(engine)))
    engine.dispose()
    assert seen == [(False, False), (False, False), (False, False), (True, True)]


def test_a_store_from_before_the_renamed_columns_keeps_its_rows(database_url: str) -> None:
    """Migration 0007 renames ``publication`` in both tables: a store at 0006 keeps its
    publications, the key each reply answers, and its full-text index (SQLite)."""
    from alembic import command

    from bot.store.comments import CommentQuery, CommentStore

    engine = database.create(database_url)
    config = database._alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
        at = {"at": NOW.replace(tzinfo=None)}
        connection.execute(
            text(
                "INSERT INTO publications (key, campaign, publication, channel, network, due_at, state, "
                "attempts, remote_id, updated_at) VALUES ('c/a/masto', 'c', 'a', 'masto', 'mastodon', "
                ":at, 'published', 1, '100', :at)"
            ),
            at,
        )
        connection.execute(
            text(
                "INSERT INTO comments (network, remote_id, campaign, publication, author_id, author_handle, "
                "author_name, author_nobot, text, hashtags, private, created_at, collected_at, state) VALUES "
                "('mastodon', '1', 'c', 'c/a/masto', 'a', '@a', 'A', false, 'Gouvernement ouvert', '', "
                "false, :at, :at, 'pending')"
            ),
            at,
        )
    database.upgrade(engine)
    assert database.is_current(engine)
    row = Ledger(engine, "me").rows()["c/a/masto"]
    [comment] = CommentStore(engine).find(CommentQuery(search="gouvernement"))
    assert (row.publication_id, row.state, comment.publication_key) == ("a", "published", "c/a/masto")
    assert CommentStore(engine).answered(Network.MASTODON, ["100", "1"]) == {
        "100": "c/a/masto",
        "1": "c/a/masto",
    }
    engine.dispose()


def test_sync_adds_rows_once_and_moves_pending_ones(engine: Engine) -> None:
    ledger = Ledger(engine, "me")
    rows = ledger.sync([pub("a"), pub("b", TELEGRAM)], NOW)
    assert {k: r.state for k, r in rows.items()} == {"c/a/masto": "pending", "c/b/tg": "pending"}
    later = NOW + timedelta(hours=1)
    rows = ledger.sync([pub("a", at=later), pub("b", TELEGRAM)], NOW)
    assert rows["c/a/masto"].due_at == later
    assert len(ledger.rows()) == 2


def test_a_row_is_not_claimed_before_its_time(engine: Engine) -> None:
    """A process whose files are older than the store's (the post was moved later by another
    process) must not send it at its old time."""
    ledger = Ledger(engine, "me")
    ledger.sync([pub("a", at=NOW + timedelta(hours=4))], NOW)
    assert ledger.claim(["c/a/masto"], NOW) == []
    assert ledger.claim(["c/a/masto"], NOW + timedelta(hours=4)) == ["c/a/masto"]


def test_two_processes_adding_the_same_rows_at_once_both_succeed(engine: Engine) -> None:
    first, second = Ledger(engine, "first"), Ledger(engine, "second")
    pubs = [pub(f"p{i}") for i in range(50)]
    errors: list[BaseException] = []

    def sync(ledger: Ledger) -> None:
        try:
            ledger.sync(pubs, NOW)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=sync, args=(ledger,)) for ledger in (first, second, first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(first.rows()) == 50


def test_a_row_is_claimed_by_one_owner_only(engine: Engine) -> None:
    first, second = Ledger(engine, "first"), Ledger(engine, "second")
    first.sync([pub("a"), pub("b")], NOW)
    assert first.claim(["c/a/masto"], NOW) == ["c/a/masto"]
    assert second.claim(["c/a/masto", "c/b/masto"], NOW) == ["c/b/masto"]
    assert first.claim(["c/a/masto"], NOW) == []


def test_concurrent_claims_never_share_a_row(engine: Engine) -> None:
    keys = [f"c/p{i}/masto" for i in range(200)]
    Ledger(engine, "setup").sync([pub(f"p{i}") for i in range(200)], NOW)
    taken: dict[str, list[str]] = {}
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        ledger = Ledger(engine, name)
        barrier.wait()
        taken[name] = [k for chunk in range(0, 200, 20) for k in ledger.claim(keys[chunk : chunk + 20], NOW)]

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [k for ks in taken.values() for k in ks]
    assert sorted(claimed) == sorted(keys)  # every row claimed exactly once


def test_finish_records_the_outcome_for_the_owner_only(engine: Engine) -> None:
    ledger, other = Ledger(engine, "me"), Ledger(engine, "other")
    ledger.sync([pub("a")], NOW)
    ledger.claim(["c/a/masto"], NOW)
    assert not other.finish("c/a/masto", PublicationState.PUBLISHED, NOW, remote_id="1")
    assert ledger.wire("c/a/masto", NOW) == Wire.OK
    assert ledger.finish(
        "c/a/masto", PublicationState.PUBLISHED, NOW, remote_id="42", remote_url="https://m/42"
    )
    row = ledger.rows()["c/a/masto"]
    assert (row.state, row.attempts, row.remote_id, row.remote_url) == ("published", 1, "42", "https://m/42")
    assert ledger.claim(["c/a/masto"], NOW) == []


def test_recover_after_a_crash(engine: Engine) -> None:
    dead = Ledger(engine, "dead")
    old = NOW - timedelta(hours=2)
    dead.sync(
        [
            pub("t", TELEGRAM),
            pub("m"),
            pub("old", at=old),
            pub("t-waiting", TELEGRAM),
            pub("m-waiting"),
            pub("old-waiting", at=old),
        ],
        NOW,
    )
    dead.claim(["c/t/tg", "c/m/masto", "c/t-waiting/tg", "c/m-waiting/masto"], NOW)
    dead.claim(["c/old/masto", "c/old-waiting/masto"], old)
    assert dead.wire("c/t/tg", NOW) == Wire.OK
    assert dead.wire("c/m/masto", NOW) == Wire.OK
    assert dead.wire("c/old/masto", old) == Wire.OK
    survivor = Ledger(engine, "survivor")
    survivor.register()
    try:
        changed = {r.key: r.state for r in survivor.recover(NOW + timedelta(minutes=1))}
    finally:
        survivor.close()
    # Telegram cannot deduplicate: in doubt, never again. Mastodon retries with the same key,
    # unless the server may have forgotten it. What never went on the wire is sent again.
    assert changed == {
        "c/t/tg": "unknown",
        "c/m/masto": "pending",
        "c/old/masto": "unknown",
        "c/t-waiting/tg": "pending",
        "c/m-waiting/masto": "pending",
        "c/old-waiting/masto": "pending",
    }


def test_a_telegram_attempt_that_failed_before_publishing_is_not_in_doubt(engine: Engine) -> None:
    dead = Ledger(engine, "dead")
    dead.sync([pub("t", TELEGRAM)], NOW)
    dead.claim(["c/t/tg"], NOW)
    assert dead.wire("c/t/tg", NOW) == Wire.OK
    dead.note_error("c/t/tg", "Telegram answered Internal Server Error (500); nothing was published")
    # the process dies while it waits to try again
    assert [(r.state, r.attempts) for r in Ledger(engine, "me").recover(NOW)] == [("pending", 1)]


def test_own_rows_that_no_task_sends_are_recovered(engine: Engine) -> None:
    me = Ledger(engine, "me")
    me.sync([pub("sending"), pub("lost", TELEGRAM), pub("lost-on-wire", TELEGRAM)], NOW)
    me.claim(["c/sending/masto", "c/lost/tg", "c/lost-on-wire/tg"], NOW)
    assert me.wire("c/lost-on-wire/tg", NOW) == Wire.OK
    changed = {r.key: r.state for r in me.recover(NOW, busy={"c/sending/masto"})}
    assert changed == {"c/lost/tg": "pending", "c/lost-on-wire/tg": "unknown"}
    assert me.rows()["c/sending/masto"].state == "sending"


def test_a_mastodon_post_is_retried_only_while_its_key_is_remembered(engine: Engine) -> None:
    me = Ledger(engine, "me")
    me.sync([pub("a"), pub("b"), pub("t", TELEGRAM)], NOW)
    me.claim(["c/a/masto", "c/b/masto", "c/t/tg"], NOW)
    for key in ("c/a/masto", "c/b/masto", "c/t/tg"):
        assert me.wire(key, NOW) == Wire.OK
        me.note_error(key, "no answer")
        me.release(key, NOW, "not sent: the bot was stopping")
    later = NOW + timedelta(minutes=49)
    assert me.claim(["c/a/masto"], later) == ["c/a/masto"]
    assert me.wire("c/a/masto", later) == Wire.OK  # the key is still remembered
    too_late = NOW + timedelta(minutes=51)
    assert me.claim(["c/b/masto", "c/t/tg"], too_late) == ["c/t/tg"]  # Telegram: nothing was sent
    assert me.wire("c/a/masto", too_late) == Wire.EXPIRED  # a retry within the same send
    rows = me.rows()
    assert (rows["c/a/masto"].state, rows["c/b/masto"].state) == ("unknown", "unknown")
    assert "idempotency key" in (rows["c/b/masto"].last_error or "")
    assert rows["c/a/masto"].first_wire_at == NOW  # the window starts at the first request


def test_a_row_taken_over_is_not_sent_by_its_former_owner(engine: Engine) -> None:
    first, second = Ledger(engine, "first"), Ledger(engine, "second")
    first.sync([pub("t", TELEGRAM)], NOW)
    first.claim(["c/t/tg"], NOW)
    assert [r.state for r in second.recover(NOW)] == ["pending"]  # "first" seems dead
    assert first.wire("c/t/tg", NOW) == Wire.LOST
    assert second.claim(["c/t/tg"], NOW) == ["c/t/tg"]
    assert second.wire("c/t/tg", NOW) == Wire.OK


def test_a_published_outcome_settles_a_row_marked_unknown_by_a_takeover(engine: Engine) -> None:
    first, second = Ledger(engine, "first"), Ledger(engine, "second")
    first.sync([pub("t", TELEGRAM)], NOW)
    first.claim(["c/t/tg"], NOW)
    first.wire("c/t/tg", NOW)
    assert [r.state for r in second.recover(NOW)] == ["unknown"]  # cut off from the store
    assert first.finish("c/t/tg", PublicationState.PUBLISHED, NOW, remote_id="-100:7")
    row = first.rows()["c/t/tg"]
    assert (row.state, row.remote_id, row.on_wire) == ("published", "-100:7", False)


def test_miss_only_touches_pending_rows(engine: Engine) -> None:
    ledger = Ledger(engine, "me")
    ledger.sync([pub("a"), pub("b")], NOW)
    ledger.claim(["c/b/masto"], NOW)
    assert ledger.miss("c/a/masto", NOW, "missed: late")
    assert not ledger.miss("c/b/masto", NOW, "missed: late")
    assert ledger.rows()["c/a/masto"].last_error == "missed: late"


def test_alerts_are_taken_once(engine: Engine) -> None:
    ledger = Ledger(engine, "me")
    ledger.sync([pub("a"), pub("b")], NOW)
    ledger.miss("c/a/masto", NOW, "missed: late")
    assert [r.key for r in ledger.take_alerts(NOW)] == ["c/a/masto"]
    assert ledger.take_alerts(NOW) == []
    assert ledger.counts() == {"missed": 1, "pending": 1}


def test_times_come_back_aware_in_utc(engine: Engine) -> None:
    ledger = Ledger(engine, "me")
    montreal = datetime(2012, 5, 2, 9, 0, tzinfo=ZoneInfo("America/Montreal"))
    ledger.sync([pub("a", at=montreal)], NOW)
    due = ledger.rows()["c/a/masto"].due_at
    assert due == montreal
    assert due.tzinfo is not None
    assert due.utcoffset() == timedelta(0)


def test_rows_of_a_live_process_are_left_alone_on_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return  # SQLite serves one process: every other owner is a previous run
    alive = Ledger(engine, "alive")
    alive.register()
    try:
        alive.sync([pub("t", TELEGRAM)], NOW)
        alive.claim(["c/t/tg"], NOW)
        alive.wire("c/t/tg", NOW)
        other = Ledger(engine, "other")
        assert other.recover(NOW) == []
        assert other.rows()["c/t/tg"].state == "sending"
    finally:
        alive.close()
    assert [r.state for r in Ledger(engine, "third").recover(NOW)] == ["unknown"]


def test_processes_starting_together_migrate_one_after_the_other(database_url: str) -> None:
    engines = [database.create(database_url) for _ in range(4)]
    errors: list[BaseException] = []

    def migrate(engine: Engine) -> None:
        try:
            database.upgrade(engine)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=migrate, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(database.is_current(e) for e in engines)
    for e in engines:
        e.dispose()


@pytest.mark.slow
def test_a_store_being_migrated_is_waited_for_as_long_as_any_busy_store(tmp_path) -> None:
    """Turning a new SQLite store to WAL needs it to itself; another process migrating it
    holds it for seconds. The store's busy timeout (10 s) is set before that, not after:
    the driver's own 5 s made a process starting beside a slow migration fail, "database
    is locked" (seen in CI: test_processes_starting_together_migrate_one_after_the_other)."""
    import sqlite3

    path = tmp_path / "relais.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE migrating (x)")
    holder.execute("BEGIN EXCLUSIVE")  # a migration under way, for longer than 5 s
    release = threading.Timer(6.0, holder.execute, ["COMMIT"])
    release.start()
    engine = database.create(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        release.join()
        holder.close()
        engine.dispose()


def test_an_sqlite_store_serves_one_process(tmp_path) -> None:
    from bot.store.ledger import StoreInUse

    engine = database.create(f"sqlite:///{tmp_path / 'relais.db'}")
    first, second = Ledger(engine, "first"), Ledger(engine, "second")
    first.register()
    try:
        with pytest.raises(StoreInUse, match="an SQLite store serves one process"):
            second.register()
    finally:
        first.close()
    second.register()  # free again once the first one stopped
    second.close()
    engine.dispose()


def test_a_process_whose_liveness_session_ended_takes_its_lock_again(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return  # SQLite: one process, no liveness lock
    me = Ledger(engine, "me")
    me.register()
    try:
        assert me.heartbeat()
        with engine.connect() as connection:  # the server ends the session, as an outage does
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                    "AND pid <> pg_backend_pid()"
                )
            )
        assert me.heartbeat() is False  # it was lost, and is held again
        assert me.heartbeat() is True
        me.sync([pub("t", TELEGRAM)], NOW)
        me.claim(["c/t/tg"], NOW)
        assert Ledger(engine, "other").recover(NOW) == []  # seen alive again
    finally:
        me.close()

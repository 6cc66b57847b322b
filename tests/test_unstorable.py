"""Nothing a network delivers can stop a collector: text a store cannot hold (NUL, lone
UTF-16 surrogates) in any field, an item the store refuses, on SQLite and PostgreSQL.
And no log line carries a reply's text or its author's name. Real readers over HTTP
against the loopback fakes, the real collector and store."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text

from bot.adapters.mastodon.reader import MastodonReader
from bot.adapters.telegram.reader import TelegramReader
from bot.domain import Reply, storable
from bot.logs import configure_logging, quiet_libraries
from bot.ports import TemporaryError
from bot.services.collector import Collector
from bot.store import database
from bot.store.comments import Collected, CollectorLock, CommentStore
from bot.store.database import store_failure
from bot.store.schema import comments, set_aside
from tests.data import Network
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import JSON, FakeTelegram
from tests.inprocess import TAG, collector

TOKEN = "1234567:TEST-relais-fake-token-0123456789abcdef"
MASTODON_TOKEN = "unstorable-test-token"
GROUP = -1009876543210
POSITION = "telegram:updates"
TIMELINE = f"/api/v1/timelines/tag/{TAG}"
NOW = datetime(2012, 5, 2, 18, 0, tzinfo=UTC)
# What a moderator would recognise, and what must never reach a log line.
SECRET_TEXT = "Ma phrase très distinctive 7f3a9c"
SECRET_NAME = "Zébulon Quatremains"


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, rate_limited=False) as fake:
        fake.add_chat(GROUP, "supergroup", username="GautrinDiscussion", title="Discussion")
        yield fake


@pytest.fixture
async def reader(tg: FakeTelegram) -> AsyncIterator[TelegramReader]:
    telegram = TelegramReader(TOKEN, tg.url, timeout=5.0)
    await telegram.start()
    yield telegram
    await telegram.close()


@pytest.fixture
def md() -> Iterator[FakeMastodon]:
    with FakeMastodon(token=MASTODON_TOKEN) as fake:
        yield fake


@pytest.fixture
async def masto(md: FakeMastodon) -> AsyncIterator[MastodonReader]:
    source = MastodonReader(md.url, MASTODON_TOKEN, timeout=5.0)
    await source.start()
    yield source
    await source.close()


def offset_asked(tg: FakeTelegram, offset: int) -> bool:
    """The reader asked for what comes after ``offset - 1``: everything before is stored."""
    return any(r.method == "getUpdates" and r.params.get("offset") == str(offset) for r in tg.requests)


def polls(tg: FakeTelegram) -> int:
    return sum(r.method == "getUpdates" for r in tg.requests)


async def run_telegram_until(
    collecting: Collector, reader: TelegramReader, tg: FakeTelegram, done: Callable[[FakeTelegram], bool]
) -> None:
    """Run the Telegram collector's loop, as ``relais run`` does, until ``done`` (or 10 s)."""
    lock = CollectorLock(collecting.store.engine, "telegram")
    stop = asyncio.Event()
    task = asyncio.create_task(collecting.run_updates(reader, lock, stop))
    try:
        await asyncio.to_thread(tg.wait_for, done, 10)
    except TimeoutError:
        pass  # the assertions that follow say what did not happen
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        lock.release()


def refuse_name(engine: Engine, name: str) -> None:
    """Make the store refuse a reply by this author, as it refuses a value it cannot hold."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text(f"ALTER TABLE comments ADD CONSTRAINT refuse CHECK (author_name <> '{name}')")
            )
        else:
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON comments "
                    f"WHEN NEW.author_name = '{name}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )


def set_aside_rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(set_aside).order_by(set_aside.c.id)).all())


# -- Telegram: what the stores cannot hold, in any field ---------------------------------------


def _message(tg: FakeTelegram, field: str) -> JSON:
    """A reply to collect, carrying NUL or a lone surrogate in ``field``."""
    user = FakeTelegram.user(501, "Ana", username="ana_qc", last_name="Tremblay", language_code="fr")
    body = f"Bravo #{TAG}"
    if field == "text NUL":
        return tg.group_message(GROUP, user, f"Bravo\x00 #{TAG}")
    if field == "text surrogate":
        return tg.group_message(GROUP, user, f"Bravo \ud83d #{TAG}")
    if field == "caption NUL":
        return tg.group_photo(GROUP, user, f"Photo\x00 #{TAG}")
    if field == "chat username surrogate":
        tg.add_chat(-1005550000001, "supergroup", username="groupe\udc00", title="Autre")
        return tg.group_message(-1005550000001, user, body)
    names = {
        "first name surrogate": {"first_name": "Ana\ud800"},
        "last name NUL": {"last_name": "Trem\x00blay"},
        "username surrogate": {"username": "ana\udfff"},
        "language code NUL": {"language_code": "fr\x00"},
    }
    return tg.group_message(GROUP, user | names[field], body)


TELEGRAM_FIELDS = [
    "text NUL",
    "text surrogate",
    "caption NUL",
    "first name surrogate",
    "last name NUL",
    "username surrogate",
    "language code NUL",
    "chat username surrogate",
]


@pytest.mark.slow
@pytest.mark.parametrize("field", TELEGRAM_FIELDS)
async def test_telegram_text_no_store_can_hold_does_not_stop_the_collector(
    engine: Engine, tg: FakeTelegram, reader: TelegramReader, field: str
) -> None:
    poison = _message(tg, field)
    after = tg.group_message(GROUP, FakeTelegram.user(502, "Léo"), f"Et ensuite #{TAG}")
    collecting = collector(engine, long_poll=1)

    await run_telegram_until(collecting, reader, tg, lambda t: offset_asked(t, after["update_id"] + 1))

    assert collecting.comments.position(POSITION) == str(after["update_id"] + 1)
    stored = {c.remote_id: c for c in collecting.comments.find(limit=None)}
    assert set(stored) == {
        f"{c['message']['chat']['id']}:{c['message']['message_id']}" for c in (poison, after)
    }
    kept = stored[f"{poison['message']['chat']['id']}:{poison['message']['message_id']}"]
    fields = [kept.text, kept.author_name, kept.author_handle, kept.language or "", kept.url or ""]
    if field == "chat username surrogate":
        assert kept.url is None  # no t.me link for a username Telegram could not have
    else:
        assert "\ufffd" in "".join(fields)  # what no store can hold is replaced, visibly
    assert set_aside_rows(engine) == []


# -- Mastodon: the same -------------------------------------------------------------------------


def _status(md: FakeMastodon, field: str) -> JSON:
    """A tagged status carrying NUL or a lone surrogate in ``field``, as the server serves it."""
    status = md.add_remote_status("alice@example.org", f"<p>Bravo #{TAG}</p>")
    changes: dict[str, Any] = {
        "content surrogate": {"content": f"<p>Bravo \ud800 #{TAG}</p>"},
        "content warning NUL": {"spoiler_text": "attention\x00"},
        "url NUL": {"url": "https://example.org/@alice/1\x00"},
        "language surrogate": {"language": "fr\udc80"},
    }.get(field, {})
    status |= changes
    if field == "tag NUL":
        status["tags"] = [{"name": f"{TAG}", "url": "x"}, {"name": "autre\x00", "url": "x"}]
    if field == "display name surrogate":
        status["account"]["display_name"] = "Alice \ud83d"
    if field == "acct surrogate":
        status["account"]["acct"] = "alice\ud800@example.org"
    return status


MASTODON_FIELDS = [
    "content surrogate",
    "content warning NUL",
    "url NUL",
    "language surrogate",
    "tag NUL",
    "display name surrogate",
    "acct surrogate",
]


@pytest.mark.slow
@pytest.mark.parametrize("field", MASTODON_FIELDS)
async def test_mastodon_text_no_store_can_hold_does_not_stop_the_collector(
    engine: Engine, md: FakeMastodon, masto: MastodonReader, field: str
) -> None:
    poison = _status(md, field)
    after = md.add_remote_status("bob@example.org", f"<p>Et ensuite #{TAG}</p>")
    newest_first = [after, poison]  # as Mastodon pages them
    md.malformed(path=TIMELINE, body=json.dumps(newest_first))  # served as is, once
    collecting = collector(engine)

    await collecting.timeline_round(masto, 1)

    assert collecting.comments.position(f"mastodon:tag:{TAG}") == after["id"]
    stored = {c.remote_id: c for c in collecting.comments.find(limit=None)}
    assert set(stored) == {poison["id"], after["id"]}
    kept = stored[poison["id"]]
    fields = [
        kept.text,
        kept.author_name,
        kept.author_handle,
        kept.language or "",
        kept.url or "",
        kept.hashtags,
    ]
    assert all(storable(f) == f for f in fields)  # replaced, or dropped with the other controls
    assert set_aside_rows(engine) == []


# -- an item the store refuses: set aside, the rest stored, the position moved -----------------


def reply(remote_id: str, name: str = "Ana", network: Network = Network.TELEGRAM) -> Collected:
    return Collected(
        Reply(
            network=network,
            remote_id=remote_id,
            text=f"Réponse {remote_id} #{TAG}",
            created_at=NOW - timedelta(minutes=1),
            author_id="501",
            author_handle="@ana",
            author_name=name,
            hashtags=(TAG,),
        ),
        "c",
        None,
    )


def test_an_item_the_store_refuses_is_set_aside_and_the_rest_stored(engine: Engine) -> None:
    store = CommentStore(engine)
    refuse_name(engine, SECRET_NAME)
    page = [reply("-1:1"), reply("-1:2", SECRET_NAME), reply("-1:3"), reply("-1:1")]

    result = store.save_page(POSITION, "42", page, now=NOW)

    assert sorted(c.remote_id for c in store.find(limit=None)) == ["-1:1", "-1:3"]
    assert [c.reply.remote_id for c in result.new] == ["-1:1", "-1:3"]
    assert store.position(POSITION) == "42"
    [row] = set_aside_rows(engine)
    assert (row.network, row.remote_id, row.source, row.error, row.at) == (
        "telegram",
        "-1:2",
        POSITION,
        "IntegrityError",
        NOW,
    )
    assert store.set_aside_count() == {"telegram": 1}
    # read again (the same page, or a later one): stored once, set aside once
    store.save_page(POSITION, "43", page, now=NOW + timedelta(minutes=1))
    assert len(store.find(limit=None)) == 2
    [again] = set_aside_rows(engine)
    assert (again.remote_id, again.at) == ("-1:2", NOW + timedelta(minutes=1))


def test_a_failing_store_sets_nothing_aside(engine: Engine) -> None:
    """A store that fails (a table missing, the connection lost) is no fault of an item: the
    page fails as a whole, nothing is set aside, the position stays, the page is read again."""
    store = CommentStore(engine)
    store.save_page(POSITION, "1", [reply("-1:1")], now=NOW)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # the server ends the session mid-transaction
            connection.execute(
                text(
                    "CREATE FUNCTION hang_up() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER hang_up BEFORE INSERT ON comment_events FOR EACH ROW EXECUTE FUNCTION hang_up()"
                )
            )
        else:
            connection.execute(text("DROP TABLE comment_events"))

    with pytest.raises(Exception) as caught:  # noqa: PT011 - the store's own error
        store.save_page(POSITION, "2", [reply("-1:2"), reply("-1:3")], now=NOW)

    assert type(caught.value).__name__ in ("OperationalError", "ProgrammingError")
    engine.dispose()  # the connection the server ended
    assert store.position(POSITION) == "1"
    assert [c.remote_id for c in store.find(limit=None)] == ["-1:1"]
    assert set_aside_rows(engine) == []


# -- no reply text, no author name in any log line ---------------------------------------------


def assert_nothing_personal(said: str) -> None:
    """Neither the text nor the name, as written or as JSON escapes them (the answers of
    both networks are JSON: "Z\\u00e9bulon")."""
    for secret in (SECRET_TEXT, *SECRET_NAME.split()):
        for form in (secret, json.dumps(secret)[1:-1], *secret.encode("ascii", "ignore").decode().split()):
            if len(form) >= 6:
                assert form not in said


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the captured records say: messages, arguments, tracebacks."""
    formatter = logging.Formatter()
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), repr(record.args), record.exc_text or ""]
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
    return "\n".join(parts)


@pytest.mark.slow
async def test_telegram_a_failing_save_logs_no_text_and_no_name(
    engine: Engine, tg: FakeTelegram, reader: TelegramReader, caplog: pytest.LogCaptureFixture
) -> None:
    refuse_name(engine, SECRET_NAME)
    first, last = SECRET_NAME.split()
    poison = tg.group_message(GROUP, FakeTelegram.user(501, first, last_name=last), f"{SECRET_TEXT} #{TAG}")
    after = tg.group_message(GROUP, FakeTelegram.user(502, "Léo"), f"Et ensuite #{TAG}")
    collecting = collector(engine, long_poll=1)
    caplog.set_level(logging.DEBUG)

    await run_telegram_until(
        collecting, reader, tg, lambda t: offset_asked(t, after["update_id"] + 1) or polls(t) >= 3
    )

    assert_nothing_personal(logged(caplog))
    where = f"{GROUP}:{poison['message']['message_id']}"
    assert any(where in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)  # by its id
    assert collecting.comments.position(POSITION) == str(after["update_id"] + 1)
    assert [r.remote_id for r in set_aside_rows(engine)] == [where]


@pytest.mark.slow  # waits on the real clock for the protocol's timings
async def test_mastodon_a_failing_save_logs_no_text_and_no_name(
    engine: Engine, md: FakeMastodon, masto: MastodonReader, caplog: pytest.LogCaptureFixture
) -> None:
    refuse_name(engine, SECRET_NAME)
    md.add_remote_status("zebulon@example.org", f"<p>{SECRET_TEXT} #{TAG}</p>")
    md.update_account("zebulon@example.org", display_name=SECRET_NAME)
    after = md.add_remote_status("bob@example.org", f"<p>Et ensuite #{TAG}</p>")
    collecting = collector(engine, poll=0.05)
    lock = CollectorLock(engine, "mastodon")
    stop = asyncio.Event()
    caplog.set_level(logging.DEBUG)

    task = asyncio.create_task(collecting.run_timelines(masto, lock, stop))
    try:
        await asyncio.to_thread(md.wait_for, lambda: sum(r.path == TIMELINE for r in md.requests) >= 3, 10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        lock.release()

    assert_nothing_personal(logged(caplog))
    assert collecting.comments.position(f"mastodon:tag:{TAG}") == after["id"]
    assert len(set_aside_rows(engine)) == 1


@pytest.fixture
def production_logging() -> Iterator[None]:
    """The logging ``relais run`` sets up (its record factory merges each message with its
    arguments as the record is made), undone afterwards."""
    root = logging.getLogger()
    factory, level = logging.getLogRecordFactory(), root.level
    libraries = {name: logging.getLogger(name).level for name in quiet_libraries()}
    handlers = list(root.handlers)
    configure_logging([TOKEN], "DEBUG")
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    logging.setLogRecordFactory(factory)
    root.setLevel(level)
    for name, value in libraries.items():
        logging.getLogger(name).setLevel(value)


@pytest.mark.parametrize("configured", [False, True], ids=["library defaults", "as relais run logs"])
async def test_a_garbled_answer_from_telegram_is_not_logged(
    tg: FakeTelegram,
    reader: TelegramReader,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
    configured: bool,
) -> None:
    """python-telegram-bot logs an answer it cannot parse, whole, at ERROR: the messages in
    a getUpdates answer cut short by a proxy would be in the log. The transport parses the
    answers itself (``parse_json_payload``), so that PTB never gets to log one."""
    if configured:
        request.getfixturevalue("production_logging")
    first, last = SECRET_NAME.split()
    tg.group_message(GROUP, FakeTelegram.user(501, first, last_name=last), f"{SECRET_TEXT} #{TAG}")
    tg.truncate_answer(method="getUpdates")
    caplog.set_level(logging.DEBUG)

    with pytest.raises(TemporaryError, match="asking again is safe"):
        await reader.updates(None, 0)
    page = await reader.updates(None, 0)  # and nothing was lost

    assert_nothing_personal(logged(caplog))
    # PTB's own "Can not load invalid JSON data" (the answer whole, and a traceback) is not logged
    assert not [r for r in caplog.records if r.name.startswith("telegram") and r.exc_info]
    assert not any(r.levelno >= logging.ERROR and r.name.startswith("telegram") for r in caplog.records)
    assert [item.text for item in page.items if isinstance(item, Reply)] == [f"{SECRET_TEXT} #{TAG}"]


# -- relais status counts what was set aside ---------------------------------------------------


@pytest.mark.slow
def test_status_counts_what_was_set_aside(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'relais.db'}"
    engine = database.create(url)
    database.upgrade(engine)
    refuse_name(engine, SECRET_NAME)
    CommentStore(engine).save_page(POSITION, "7", [reply("-1:1"), reply("-1:2", SECRET_NAME)], now=NOW)
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")} | {"RELAIS_DATABASE_URL": url}

    def status(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "status", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    document = json.loads(status("--format", "json"))
    assert document["set_aside"]["count"] == 1
    [item] = document["set_aside"]["latest"]
    assert (item["network"], item["remote_id"], item["from"], item["error"]) == (
        "telegram",
        "-1:2",
        POSITION,
        "IntegrityError",
    )
    assert "set aside: 1" in status()


def test_a_store_failure_is_logged_in_one_line_without_values(engine: Engine) -> None:
    """What the collector logs when the store fails: the database's first line for a
    failure of the store, the error's class alone for a refused value, whose message may
    quote it (PostgreSQL: "DETAIL: Failing row contains (...)")."""
    refuse_name(engine, SECRET_NAME)
    with pytest.raises(Exception) as refusal, engine.begin() as connection:  # noqa: PT011 - the database's
        connection.execute(insert(comments).values(_row(SECRET_NAME, SECRET_TEXT)))
    assert store_failure(refusal.value) == "the store failed (IntegrityError)"
    with pytest.raises(Exception) as missing, engine.begin() as connection:  # noqa: PT011
        connection.execute(text("SELECT * FROM no_such_table"))
    said = store_failure(missing.value)
    assert said is not None
    assert "no_such_table" in said
    assert "\n" not in said
    assert store_failure(ValueError("not the store's")) is None


def _row(name: str, words: str) -> dict[str, Any]:
    return {
        "network": "telegram",
        "remote_id": "-1:9",
        "author_id": "501",
        "author_handle": "",
        "author_name": name,
        "author_nobot": False,
        "text": words,
        "hashtags": "",
        "private": False,
        "created_at": NOW,
        "collected_at": NOW,
        "state": "pending",
    }

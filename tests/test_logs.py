"""Logging: the stderr format, and secrets redacted from messages and tracebacks."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.logs import RedactingFilter, configure_logging, quiet_libraries, redactor
from bot.store import database
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.harness import MASTODON_TOKEN, Deployment

TOKEN = "1234567:TEST-relais-fake-token-0123456789abcdef"  # a real token's shape
SECRET = "mastodon-access-token-42"
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (?P<level>[A-Z]+) (?P<name>[\w.]+): (?P<message>.*)$")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undo configure_logging(): our handler, the record factory, the levels."""
    root = logging.getLogger()
    factory, level = logging.getLogRecordFactory(), root.level
    libraries = {name: logging.getLogger(name).level for name in quiet_libraries()}
    yield
    configure_logging([])  # forget the secrets
    for handler in our_handlers():
        root.removeHandler(handler)
    logging.setLogRecordFactory(factory)
    root.setLevel(level)
    for name, value in libraries.items():
        logging.getLogger(name).setLevel(value)


def our_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if any(isinstance(f, RedactingFilter) for f in h.filters)]


# -- redact() ----------------------------------------------------------------------------------


def test_configured_secrets_are_redacted() -> None:
    redact = configure_logging([SECRET, ""])  # an empty secret is ignored, not "redact everything"
    assert redact(f"token={SECRET}; again {SECRET}.") == "token=[redacted]; again [redacted]."
    assert redact("nothing secret here") == "nothing secret here"


def test_secrets_are_redacted_url_encoded_too() -> None:
    redact = configure_logging(["p@ss word/1"])
    assert (
        redact("postgresql://relais:p%40ss%20word%2F1@db/relais")
        == "postgresql://relais:[redacted]@db/relais"
    )


def test_telegram_token_shapes_are_redacted_without_being_configured() -> None:
    redact = redactor()
    assert redact(f"token {TOKEN} refused") == "token [redacted] refused"
    assert redact("1234567%3ATEST-relais-fake-token-0123456789abcdef") == "[redacted]"
    assert redact(f"bot{TOKEN}") == "bot[redacted]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'HTTP Request: POST https://api.telegram.org/bot123:short/sendMessage "HTTP/1.1 200 OK"',
            'HTTP Request: POST https://api.telegram.org/bot[redacted]/sendMessage "HTTP/1.1 200 OK"',
        ),
        (
            "http://127.0.0.1:8081/file/botANYTHING/photos/1.jpg",
            "http://127.0.0.1:8081/file/bot[redacted]/photos/1.jpg",
        ),
        ("URL('http://127.0.0.1:1/botXYZ/getMe')", "URL('http://127.0.0.1:1/bot[redacted]/getMe')"),
        ("POST /bot123:not-a-full-token/getMe", "POST /bot[redacted]/getMe"),
    ],
)
def test_the_path_segment_after_bot_is_redacted(text: str, expected: str) -> None:
    redact = redactor()
    assert redact(text) == expected


def test_bearer_values_are_redacted() -> None:
    redact = redactor()
    assert redact("Authorization: Bearer abc.DEF-123_x/y+z=") == "Authorization: Bearer [redacted]"
    assert redact("{'authorization': 'bearer zzz'}") == "{'authorization': 'bearer [redacted]'}"


def test_ordinary_text_is_left_alone() -> None:
    text = (
        "robot, bottle, https://t.me/GautrinWeb2/12, https://mastodon.social/@botanique, "
        "at 12345:67 the bearer of news, /bot/ and 1234567890:short"
    )
    redact = redactor()
    assert redact(text) == text


def test_redacting_twice_changes_nothing() -> None:
    redact = configure_logging([SECRET])
    once = redact(f"{SECRET} https://x/bot{TOKEN}/getMe Bearer q {TOKEN}")
    assert redact(once) == once == "[redacted] https://x/bot[redacted]/getMe Bearer [redacted] [redacted]"


# -- configure_logging() -----------------------------------------------------------------------


def test_one_line_per_record_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging([])
    logging.getLogger("bot.services.publisher").info("published %s to %s", "annonce", "tg")
    logging.getLogger("bot.services.publisher").debug("not shown at INFO")

    (line,) = capsys.readouterr().err.splitlines()
    match = LINE.match(line)
    assert match is not None, line
    assert match.groupdict() == {
        "level": "INFO",
        "name": "bot.services.publisher",
        "message": "published annonce to tg",
    }


def test_secrets_in_messages_and_arguments_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging([SECRET])
    log = logging.getLogger("bot.test")
    log.warning("url %s", f"https://api.telegram.org/bot{TOKEN}/getMe")
    log.warning(f"secret {SECRET} and Bearer abc123")

    err = capsys.readouterr().err
    assert "url https://api.telegram.org/bot[redacted]/getMe" in err
    assert "secret [redacted] and Bearer [redacted]" in err
    assert TOKEN not in err
    assert SECRET not in err
    assert "abc123" not in err


def test_tracebacks_are_redacted(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging([SECRET])
    try:
        try:
            raise ConnectionError(f"POST https://api.telegram.org/bot{TOKEN}/sendMessage failed")
        except ConnectionError as exc:
            raise RuntimeError(f"the token `{TOKEN}` and {SECRET} were rejected") from exc
    except RuntimeError:
        logging.getLogger("bot.test").exception("could not start")

    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "ConnectionError: POST https://api.telegram.org/bot[redacted]/sendMessage failed" in err
    assert "RuntimeError: the token `[redacted]` and [redacted] were rejected" in err
    assert TOKEN not in err
    assert SECRET not in err
    (record,) = caplog.records  # what every other handler receives is redacted too
    assert record.exc_info is None
    assert record.exc_text is not None
    assert TOKEN not in record.exc_text
    assert "RuntimeError: the token" in record.exc_text
    assert TOKEN not in caplog.text
    assert "Traceback" in caplog.text


def test_stack_info_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging([SECRET])

    def where_the_secret_is(secret: str = SECRET) -> None:
        logging.getLogger("bot.test").warning("here", stack_info=True)

    where_the_secret_is()
    err = capsys.readouterr().err
    assert "Stack (most recent call last)" in err
    assert SECRET not in err


def test_the_handler_filter_redacts_records_made_elsewhere(capsys: pytest.CaptureFixture[str]) -> None:
    """A record that did not come from the record factory (e.g. built by hand or
    unpickled from another process) is still redacted by the handler's filter."""
    configure_logging([SECRET])
    record = logging.LogRecord("bot.remote", logging.ERROR, __file__, 1, "got %s", (SECRET,), None)
    (handler,) = our_handlers()
    handler.handle(record)

    assert capsys.readouterr().err.rstrip().endswith("ERROR bot.remote: got [redacted]")


def test_a_bad_format_string_neither_fails_nor_leaks(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging([SECRET])
    logging.getLogger("bot.test").warning("%d items from %s", "not a number", SECRET)

    err = capsys.readouterr().err
    assert (
        "WARNING bot.test: %d items from %s (log arguments that do not fit: ('not a number', '[redacted]'))"
        in err
    )
    assert SECRET not in err
    assert "Logging error" not in err


def test_configuring_twice_keeps_one_handler_and_the_last_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(["first-secret"])
    configure_logging(["second-secret"], level="WARNING")

    assert len(our_handlers()) == 1
    log = logging.getLogger("bot.test")
    log.info("hidden at WARNING")
    log.warning("first-secret second-secret")
    assert capsys.readouterr().err.splitlines()[-1].endswith("WARNING bot.test: first-secret [redacted]")


def test_library_loggers_are_quiet_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging([], level="DEBUG")

    assert logging.getLogger().level == logging.DEBUG
    for name in ("httpx", "httpcore", "telegram", "apscheduler"):
        assert logging.getLogger(name).level == logging.WARNING
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot1:x/getMe")
    logging.getLogger("telegram.ext.ExtBot").debug("Calling Bot API endpoint `getMe`")
    logging.getLogger("bot.test").debug("ours at DEBUG")
    err = capsys.readouterr().err
    assert "HTTP Request" not in err
    assert "endpoint" not in err
    assert "ours at DEBUG" in err


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging([], level="LOUD")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log format 'xml': use text or json"):
        configure_logging([], fmt="xml")


@pytest.fixture
def montreal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's zone is Montréal's (the process's TZ), then what it was."""
    monkeypatch.setenv("TZ", "America/Montreal")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


WINTER = datetime(2026, 12, 1, 17, 5, 9, 250000, tzinfo=UTC).timestamp()
SUMMER = datetime(2026, 7, 1, 17, 5, 9, 250000, tzinfo=UTC).timestamp()


def test_text_lines_carry_the_time_with_its_offset(montreal: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging([])
    (handler,) = our_handlers()
    for created in (WINTER, SUMMER):
        record = logging.LogRecord("bot", logging.INFO, __file__, 1, "running", None, None)
        record.created = created
        handler.handle(record)
    assert capsys.readouterr().err.splitlines() == [
        "2026-12-01 12:05:09.250-05:00 INFO bot: running",
        "2026-07-01 13:05:09.250-04:00 INFO bot: running",
    ]


def test_json_is_one_object_a_line_with_the_outcome_fields_and_nothing_secret(
    montreal: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging([SECRET], fmt="json")
    log = logging.getLogger("bot.services.publisher")
    log.info("%s: published %s", "c/a/tg", "https://t.me/GautrinWeb2/7",
             extra={"publication": "c/a/tg", "outcome": "published", "url": "https://t.me/GautrinWeb2/7"})
    try:
        raise RuntimeError(f"token {TOKEN} and {SECRET}\nsecond line")
    except RuntimeError:
        log.exception("c/b/masto: unexpected error, marked unknown",
                      extra={"publication": "c/b/masto", "outcome": "unknown", "url": f"x?{SECRET}"})

    first, second = capsys.readouterr().err.splitlines()  # a traceback stays inside its line
    published = json.loads(first)
    assert published.pop("time").endswith("-05:00")
    assert published == {
        "level": "INFO",
        "logger": "bot.services.publisher",
        "message": "c/a/tg: published https://t.me/GautrinWeb2/7",
        "publication": "c/a/tg",
        "outcome": "published",
        "url": "https://t.me/GautrinWeb2/7",
    }
    failed = json.loads(second)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}-05:00", failed["time"])
    assert (failed["level"], failed["outcome"], failed["url"]) == ("ERROR", "unknown", "x?[redacted]")
    assert failed["exception"].endswith("RuntimeError: token [redacted] and [redacted]\nsecond line")
    assert TOKEN not in second
    assert SECRET not in second


def test_libraries_that_spoke_at_every_start_are_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging([], level="DEBUG")
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("watchfiles.main").info("1 change detected")
    logging.getLogger("urllib3.connectionpool").debug("Starting new HTTPS connection (1): mastodon.example:443")
    assert capsys.readouterr().err == ""


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with FakeTelegram() as telegram, FakeMastodon(token=MASTODON_TOKEN) as mastodon:
        yield Deployment(tmp_path, telegram, mastodon, f"sqlite:///{tmp_path / 'relais.db'}")


def test_a_run_logs_json_for_journald_one_line_per_outcome_and_no_reply(deployment: Deployment) -> None:
    """At DEBUG, in JSON: every line an object (a campaign file's problems too); the store's migration in one line instead of
    Alembic's eleven; a line per publication with its key and link; a reply collected
    without its text or its author's name in any line."""
    telegram, mastodon = deployment.telegram, deployment.mastodon
    deployment.extra_env.update(RELAIS_LOG_FORMAT="json", RELAIS_LOG_LEVEL="DEBUG", RELAIS_POLL_SECONDS="0.2")
    mastodon.fail(path="/api/v1/statuses", status=422, method="POST", body='{"error": "Validation failed"}')
    now = datetime.now(UTC)
    deployment.campaign([("a", now - timedelta(seconds=1))], to="masto", name="m")
    deployment.campaign([("b", now - timedelta(seconds=1))], to="tg", name="t")
    mastodon.update_account("alice@example.org", display_name="Alice Tremblay-Secret")
    mastodon.add_remote_status("alice@example.org", "<p>Texte confidentiel #gautrinweb2</p>")
    (deployment.root / "schedules" / "casse.yaml").write_text("campaign: [\n", encoding="utf-8")
    bot = deployment.start()
    telegram.wait_for(lambda tg: len(tg.sent) == 1, timeout=20)
    bot.wait_for_line('"outcome": "failed"')
    bot.wait_for_line("1 new replies")
    assert bot.stop() == 0, bot.log

    records = [json.loads(line) for line in bot.lines if line]
    problems = [r["message"] for r in records if r["logger"] == "bot.campaigns"]
    assert problems == [
        "schedules/casse.yaml:1:11: this list is never closed: add ']' after its last item",
        "1 problem: the campaigns above are not run until fixed; 2 campaign(s) run.",
    ]
    assert {r["level"] for r in records} >= {"DEBUG", "INFO", "ERROR"}
    assert not [r for r in records if r["logger"].split(".")[0] in {"alembic", "watchfiles", "urllib3"}]
    migrated = [r["message"] for r in records if r["logger"] == "bot.store.database"]
    (head,) = database._heads() or ()
    assert migrated == [f"store {deployment.root / 'relais.db'} migrated from nothing (a new store) to {head}"]
    outcomes = {r["publication"]: (r["outcome"], r.get("url")) for r in records if "outcome" in r}
    assert outcomes == {"m/a/masto": ("failed", None), "t/b/tg": ("published", "https://t.me/GautrinWeb2/1")}
    for secret in ("confidentiel", "Alice", "Tremblay", DEFAULT_TOKEN.split(":")[1], MASTODON_TOKEN):
        assert secret not in bot.log

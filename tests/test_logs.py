"""Logging: the stderr format, and secrets redacted from messages and tracebacks."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from bot.logs import RedactingFilter, configure_logging, quiet_libraries, redactor

TOKEN = "1234567:TEST-relais-fake-token-0123456789abcdef"  # a real token's shape
SECRET = "mastodon-access-token-42"
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (?P<level>[A-Z]+) (?P<name>[\w.]+): (?P<message>.*)$")


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

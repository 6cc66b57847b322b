"""Logging for the ``relais`` process: one stderr handler, and no secret in any log record.

Secrets reach logs by several roads: httpx logs every request URL at INFO (a Telegram URL
is ``.../bot<token>/<method>``), python-telegram-bot puts the token in the message of the
``InvalidToken`` raised by ``Bot.initialize()``, and tracebacks repeat exception messages.
So the redaction is applied to each record as it is created (whatever handler receives
it: ours, pytest's ``caplog``, any other), again by a filter on our handler, and once more
to the final formatted line. ``redact()`` applies the same rules to any text, such as the
error messages the publisher stores.

Two formats: text, one line a record, its time with the offset of the machine's zone; and
JSON (``RELAIS_LOG_FORMAT=json``), one object a line for journald and log shippers, with the
fields a record carries in ``extra`` (``FIELDS``: a publication's key, outcome and link).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import quote

from bot import networks
from bot.networks import REDACTED

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
# Libraries that are chatty below WARNING, some of them with secrets in what they say:
# alembic says eleven lines at every start (the store says what it migrated itself),
# watchfiles one at every reload, urllib3 (under Mastodon.py) a line per request at DEBUG.
QUIET_LIBRARIES = (
    "httpx", "httpcore", "telegram", "apscheduler", "hpack", "aiolimiter",
    "alembic", "watchfiles", "urllib3", "PIL", "asyncio",
)
# What a record may carry in ``extra`` for the JSON format (never a reply's text or author).
FIELDS = ("publication", "outcome", "url")

# "Bearer <value>", or "bearer" in any case after "Authorization" (not "the bearer of news").
_BEARER = re.compile(r"\b(Bearer|BEARER|(?i:authorization\W{0,4}bearer))\s+[A-Za-z0-9._~+/=-]+")

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # longest first


def redact(text: str) -> str:
    """``text`` with every configured secret, every secret shaped like one of a network's
    (its profile's ``redact``: Telegram bot tokens) and bearer values replaced."""
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    for network in networks.registered():
        text = network.redact(text)
    return _BEARER.sub(rf"\1 {REDACTED}", text)


def redact_record(record: logging.LogRecord) -> None:
    """Redact a record in place: its message (arguments merged in), traceback and stack.

    The traceback is kept only as redacted text (``exc_text``, which formatters print):
    ``exc_info`` is dropped so that no handler formats the original exception again.
    """
    try:
        message = record.getMessage()
    except Exception:  # a format that does not match its arguments: keep both, redacted
        message = f"{record.msg} (log arguments that do not fit: {record.args!r})"
    record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    record.exc_info = None
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """Redacts each record that passes (see ``redact_record``); never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def timestamp(record: logging.LogRecord, sep: str = " ") -> str:
    """When the record was made, in the machine's zone, to the millisecond, with its offset."""
    return datetime.fromtimestamp(record.created).astimezone().isoformat(sep, "milliseconds")


class RedactingFormatter(logging.Formatter):
    """Redacts the final line, whatever fields the format uses."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return timestamp(record)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the ``FIELDS`` the record
    carries, the traceback as ``exception`` (and ``stack``); every string redacted."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": timestamp(record, "T"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                document[name] = redact(str(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = redact(record.exc_text)
        if record.stack_info:
            document["stack"] = redact(record.stack_info)
        return redact(json.dumps(document, ensure_ascii=False))


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to the current ``sys.stderr`` (which tests and the CLI may replace)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def _redacting_factory(previous: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = previous(*args, **kwargs)
        redact_record(record)
        return record

    factory.relais_redacting = True  # type: ignore[attr-defined]
    return factory


def configure_logging(secrets: Iterable[str], level: str = "INFO", fmt: str = "text") -> None:
    """Log to stderr at ``level`` in ``fmt`` (``text`` or ``json``), with ``secrets`` (and
    token shapes) redacted everywhere.

    Calling it again replaces the secrets and the level; it never adds a second handler.
    """
    global _secrets
    given = {s for s in secrets if s and s.strip()}
    given |= {quote(s, safe="") for s in given}  # as they appear in a URL
    with _lock:
        _secrets = tuple(sorted(given, key=len, reverse=True))
        factory = logging.getLogRecordFactory()
        if not getattr(factory, "relais_redacting", False):
            logging.setLogRecordFactory(_redacting_factory(factory))

    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING or ERROR")
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use text or json")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
        handler.close()
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else RedactingFormatter(FORMAT))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))

"""Logging for the ``relais`` process: one stderr handler, and no secret in any log record.

Secrets reach logs by several roads: httpx logs every request URL at INFO (a Telegram URL
is ``.../bot<token>/<method>``), python-telegram-bot puts the token in the message of the
``InvalidToken`` raised by ``Bot.initialize()``, and tracebacks repeat exception messages.
So the redaction is applied to each record as it is created (whatever handler receives
it: ours, pytest's ``caplog``, any other), again by a filter on our handler, and once more
to the final formatted line, by the ``Redactor`` (``bot.redact``) ``configure_logging``
returns, which the publisher also applies to the error messages it stores.

Two formats: text, one line a record, its time with the offset of the machine's zone; and
JSON (``RELAIS_LOG_FORMAT=json``), one object a line for journald and log shippers, with the
fields a record carries in ``extra`` (``FIELDS``: a publication's key, outcome and link).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TextIO

from bot import networks
from bot.redact import Redactor

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
# Libraries that are chatty below WARNING, some of them with secrets in what they say (and
# those of each network's adapter, which its profile names: ``quiet_loggers``):
# alembic says eleven lines at every start (the store says what it migrated itself),
# watchfiles one at every reload.
QUIET_LIBRARIES = ("httpx", "httpcore", "apscheduler", "hpack", "alembic", "watchfiles", "PIL", "asyncio")
# What a record may carry in ``extra`` for the JSON format (never a reply's text or author).
FIELDS = ("publication", "outcome", "url")


def quiet_libraries() -> tuple[str, ...]:
    """The loggers kept at WARNING or above: the common libraries' and the networks'."""
    return QUIET_LIBRARIES + tuple(name for p in networks.registered() for name in p.quiet_loggers)


def _network_shapes(text: str) -> str:
    """``text`` with what looks like a secret of a registered network (its profile's
    ``redact``: Telegram bot tokens) replaced, whichever networks are registered now."""
    for network in networks.registered():
        text = network.redact(text)
    return text


def redactor(secrets: Iterable[str] = ()) -> Redactor:
    """What log lines go through: ``secrets``, the networks' secret shapes, bearer values."""
    return Redactor.of(secrets, (_network_shapes,))


def redact_record(record: logging.LogRecord, redact: Redactor) -> None:
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

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self.redact)
        return True


def timestamp(record: logging.LogRecord, sep: str = " ") -> str:
    """When the record was made, in the machine's zone, to the millisecond, with its offset."""
    return datetime.fromtimestamp(record.created).astimezone().isoformat(sep, "milliseconds")


class RedactingFormatter(logging.Formatter):
    """Redacts the final line, whatever fields the format uses."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__(FORMAT)
        self.redact = redact

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return timestamp(record)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the ``FIELDS`` the record
    carries, the traceback as ``exception`` (and ``stack``); every string redacted."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        redact = self.redact
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


def _redacting_factory(previous: Any, redact: Redactor) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = previous(*args, **kwargs)
        redact_record(record, redact)
        return record

    factory.relais_wrapped = previous  # type: ignore[attr-defined]
    return factory


def configure_logging(secrets: Iterable[str], level: str = "INFO", fmt: str = "text") -> Redactor:
    """Log to stderr at ``level`` in ``fmt`` (``text`` or ``json``), with ``secrets`` (and
    token shapes) redacted everywhere; returns the redactor, for other text bound for a log
    or a message.

    Calling it again replaces the secrets and the level; it never adds a second handler.
    The secrets live in the record factory, our handler and its formatter (logging's own
    process-wide configuration), nowhere else.
    """
    redact = redactor(secrets)
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(_redacting_factory(getattr(factory, "relais_wrapped", factory), redact))

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
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else RedactingFormatter(redact))
    handler.addFilter(RedactingFilter(redact))
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in quiet_libraries():
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    return redact

"""Telegram's transport: one bot token through python-telegram-bot, and the translation of
its errors into those of ``bot.ports``. Shared by the sender and the reader.

Sends are paced by PTB's ``AIORateLimiter``, which makes a call wait (minutes, for a burst to
one channel) before its request is written. The publisher's ``on_wire`` callback is awaited
by the transport itself (``_WireTransport``), after that wait, once a connection is ready and
right before the request is written; cancelling a send that still waits sends nothing.

The bot token never appears in an error message, a log line or a ``repr``: exceptions of
the library (whose messages and causes can hold the request URL, ``.../bot<token>/...``) are
never chained to the errors raised here.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import warnings
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from functools import cache
from typing import Any, TypeVar

import httpx
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.ports import ChannelError, OnWire, OutcomeUnknown, PermanentError, RateLimited, TemporaryError
from bot.redact import redact

log = logging.getLogger(__package__)  # one logger for the adapter

TOKEN_REFUSED = "Telegram refused the bot token (RELAIS_TELEGRAM_TOKEN); check it with @BotFather"  # noqa: S105
NOT_THE_BOT_API = (
    "RELAIS_TELEGRAM_API_URL answered something other than the Telegram Bot API (HTTP {status}, not JSON); "
    "check that it is the address of a Bot API server"
)

# Telegram's flood limits are about 30 messages a second overall and 20 a minute in one group
# or channel, counted over sliding windows. AIORateLimiter is a leaky bucket (aiolimiter):
# a burst of ``max_rate`` requests, then ``max_rate / time_period`` a second. In any window of
# T seconds it lets through up to burst + rate * T requests, so "30 per 1 s" taken literally
# (a burst of 30, then 30 a second) allows 60 in the first second. Burst and rate are chosen
# so that burst + rate * T stays under each limit, with a margin for network jitter.
OVERALL_BURST, OVERALL_PER_SECOND = 1, 25  # Telegram: 30; 5 spare for requests bunched on the way
GROUP_BURST, GROUP_PER_MINUTE = 4, 14  # at most 18 in any minute (Telegram: 20)

T = TypeVar("T")
Chat = int | str

# The HTTP status of the last answer in this task: PTB raises the same NetworkError for a
# 500 and a 413 (its message is Telegram's description, with the code only when there is
# none), and a 502/504 from Telegram's gateway does not say whether the bot API acted.
last_status: ContextVar[int | None] = ContextVar("relais_telegram_status", default=None)
# What to await right before a request of the publication sent in this task is written.
wire_hook: ContextVar[OnWire | None] = ContextVar("relais_telegram_on_wire", default=None)


class Refused(TelegramError):
    """``on_wire`` raised: the request was not written. A TelegramError, so that PTB passes
    it on as it is (it wraps any other exception of the transport in a NetworkError)."""

    def __init__(self, error: Exception) -> None:
        super().__init__("not sent: on_wire refused it")
        self.error = error


# The trace events of httpcore that come right before a request's first byte is written:
# by then a connection is ready, so a request still waiting for one, or that could not
# connect, was never on the wire.
_FIRST_BYTE = frozenset({"http11.send_request_headers.started", "http2.send_request_headers.started"})


class _WireTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, awaiting the publisher's ``on_wire`` (if this task has one) once a
    connection is ready and right before the request is written."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        hook = wire_hook.get()
        if hook is not None:

            async def trace(event: str, info: dict[str, Any]) -> None:
                if event in _FIRST_BYTE:
                    try:
                        await hook()
                    except Exception as error:
                        raise Refused(error) from None

            request.extensions = {**request.extensions, "trace": trace}
        return await super().handle_async_request(request)


@cache
def _tls() -> ssl.SSLContext:
    """The TLS context of every transport to the Bot API: httpx's default (certifi's
    authorities), made once. httpx would make one per transport, about 1.1 MB resident
    each, and relais run has six (two per bot: the sender's, the reader's, the check's)."""
    return httpx.create_ssl_context()


class _NotJson(TelegramError):
    """An answer that is not JSON (PTB's own error logs it whole, with a traceback)."""

    def __init__(self) -> None:
        super().__init__("Invalid server response")


class _Request(HTTPXRequest):
    """PTB's httpx transport, remembering the HTTP status of each answer, and awaiting the
    publisher's ``on_wire`` right before a request is written (``_WireTransport``)."""

    def __init__(self, *, connection_pool_size: int, timeout: float, media_write_timeout: float) -> None:
        transport = _WireTransport(verify=_tls(), limits=httpx.Limits(max_connections=connection_pool_size))
        super().__init__(
            connection_pool_size=connection_pool_size,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
            media_write_timeout=media_write_timeout,
            httpx_kwargs={"transport": transport},
        )

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        status, payload = await super().do_request(*args, **kwargs)
        last_status.set(status)
        return status, payload

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        """As PTB's, without logging the answer (a web page, or a message's text) and its
        traceback at ERROR: the error says it was not JSON (``_NotJson``)."""
        try:
            return json.loads(payload.decode("utf-8", "replace"))
        except ValueError:
            raise _NotJson() from None


class _Bot(ExtBot[Any]):
    """PTB's bot, plus getUpdates without parsing.

    ``Bot.get_updates`` parses the whole batch at once: one update it cannot read makes it
    fail (logging the whole batch, texts included, at CRITICAL) and blocks the queue. The
    reader parses each update on its own instead."""

    __slots__ = ()

    async def get_raw_updates(
        self, *, offset: int | None, timeout: int, limit: int, allowed_updates: list[str], read_timeout: float
    ) -> list[Any]:
        data = {"offset": offset, "timeout": timeout, "limit": limit, "allowed_updates": allowed_updates}
        result = await self._post("getUpdates", data, read_timeout=read_timeout)
        return result if isinstance(result, list) else []


class TelegramBot:
    """One bot token: the PTB bot and its HTTP transport, and the translation of its errors.
    Shared by the sender and the reader."""

    def __init__(
        self,
        token: str,
        api_url: str = "https://api.telegram.org",
        *,
        timeout: float = 10.0,
        rate_limit: bool = True,
    ) -> None:
        self.bot_id: int | None = None  # known after start()
        self.bot_username: str | None = None
        self._migrated: dict[Chat, int] = {}  # chat as configured -> supergroup id (sender)
        self._token = token
        self._api_url = api_url.rstrip("/")
        self._timeout = timeout

        def request(connections: int) -> _Request:
            return _Request(
                connection_pool_size=connections, timeout=timeout, media_write_timeout=max(timeout, 30.0)
            )

        # Sends are paced by the rate limiter, so a few connections are plenty; a request
        # that waits longer than ``pool_timeout`` for one was never sent (TemporaryError).
        self._requests = (request(16), request(1))  # the second: getUpdates, the reader's only
        limiter = (
            AIORateLimiter(
                overall_max_rate=OVERALL_BURST,
                overall_time_period=OVERALL_BURST / OVERALL_PER_SECOND,
                group_max_rate=GROUP_BURST,
                group_time_period=GROUP_BURST * 60 / GROUP_PER_MINUTE,
                max_retries=0,  # retrying is the publisher's decision
            )
            if rate_limit
            else None
        )
        self._bot = _Bot(
            token,
            base_url=f"{self._api_url}/bot",
            base_file_url=f"{self._api_url}/file/bot",
            request=self._requests[0],
            get_updates_request=self._requests[1],
            rate_limiter=limiter,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._api_url}>"

    async def start(self) -> None:
        """Check the token with getMe, and learn who the bot is."""
        await self._repeatable(self._bot.initialize)
        me = self._bot.bot
        self.bot_id, self.bot_username = me.id, me.username

    async def close(self) -> None:
        await self._bot.shutdown()
        for request in self._requests:  # also when start() failed or was never called
            await request.shutdown()

    # -- errors ------------------------------------------------------------------------------
    async def _repeatable(self, call: Callable[[], Awaitable[T]]) -> T:
        """A call that can be made again without harm (no message is sent by it)."""
        last_status.set(None)
        try:
            return await call()
        except TelegramError as exc:
            error = self._translate_repeatable(exc)
        raise error  # outside the except clause: no library exception chained

    def _translate_repeatable(self, exc: TelegramError) -> ChannelError:
        """As ``_translate``, for a call that sends nothing: an answer that did not come, or
        came garbled, is only a temporary failure."""
        error = self._translate(exc)
        if isinstance(error, OutcomeUnknown):
            return TemporaryError(
                f"no usable answer from Telegram ({redact(exc.message, self._token)}); asking again is safe"
            )
        return error

    def _translate(self, exc: TelegramError) -> ChannelError:
        """The error of ``bot.ports`` that says what ``exc`` means for a send."""
        said = redact(exc.message, self._token)
        if isinstance(exc, RetryAfter):
            seconds = _retry_seconds(exc)
            return RateLimited(f"Telegram flood control: retry in {seconds:g} s", seconds)
        if _not_json(exc) and isinstance(exc, InvalidToken | Forbidden | BadRequest | Conflict):
            # a 4xx that is not the Bot API's (a web server's own 404 page): the URL is wrong
            return PermanentError(NOT_THE_BOT_API.format(status=last_status.get() or "4xx"))
        if isinstance(exc, InvalidToken):
            return PermanentError(TOKEN_REFUSED)
        if isinstance(exc, BadRequest | Forbidden | Conflict | ChatMigrated):
            return PermanentError(f"Telegram refused: {said}")
        if isinstance(exc, TimedOut):
            if isinstance(exc.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout):
                return TemporaryError(f"could not reach Telegram in time, nothing was sent: {said}")
            return OutcomeUnknown(
                f"no answer from Telegram within {self._timeout:g} s; the message may have been "
                "published: check the chat before sending it again"
            )
        if isinstance(exc, NetworkError):
            cause = exc.__cause__
            if isinstance(cause, httpx.ConnectError):
                return TemporaryError(f"cannot connect to Telegram, nothing was sent: {said}")
            if cause is not None and not isinstance(cause, TelegramError):  # lost after sending
                return OutcomeUnknown(
                    f"the connection to Telegram was lost ({said}); the message may have been "
                    "published: check the chat before sending it again"
                )
            return _status_error(last_status.get(), said)
        # An answer PTB could not read (e.g. a 200 that is not JSON): it may have been sent.
        return OutcomeUnknown(
            f"unexpected answer from Telegram ({said}); the message may have been published"
        )


class _NoPayloads(logging.Filter):
    """python-telegram-bot logs what the Bot API answered (at DEBUG: getUpdates' answer holds
    every message's text and author) and an answer it could not parse as JSON (at ERROR,
    whole). In its records, an argument other than a method name or a number is replaced,
    also when a record factory (``bot.logs``) already merged the arguments into the message.
    """

    _NAME = re.compile(r"\w{1,64}")
    _PAYLOADS = (  # PTB's messages that carry payloads, for records already merged
        'Can not load invalid JSON data: "%s"',
        "Call to Bot API endpoint `%s` finished with return value `%s`",
        "Calling Bot API endpoint `%s` with parameters `%s`",
    )
    _MERGED = tuple(
        (template, re.compile(re.escape(template).replace("%s", "(.*)"), re.DOTALL)) for template in _PAYLOADS
    )

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(self._shown(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: "[not logged]" for key in record.args}
        elif isinstance(record.msg, str):
            for template, merged in self._MERGED:
                if found := merged.fullmatch(record.msg):
                    record.msg = template % tuple(self._shown(part) for part in found.groups())
                    break
        return True

    def _shown(self, value: object) -> object:
        if isinstance(value, str):
            return value if self._NAME.fullmatch(value) else "[not logged]"
        return value if isinstance(value, int | float) else "[not logged]"


for _name in ("telegram.Bot", "telegram.ext.ExtBot", "telegram.request.BaseRequest"):
    logging.getLogger(_name).addFilter(_NoPayloads())


def _not_json(exc: BaseException) -> bool:
    """Whether ``exc`` came of an answer that was not JSON (PTB's ``initialize`` wraps the
    error of getMe in another)."""
    seen: BaseException | None = exc
    for _ in range(3):
        if seen is None:
            return False
        if isinstance(seen, _NotJson):
            return True
        seen = seen.__cause__
    return False


def _status_error(status: int | None, said: str) -> ChannelError:
    """An error status that PTB reports as a plain NetworkError: the server answered."""
    if status in (502, 504):  # Telegram's front end gave up waiting for the bot API
        return OutcomeUnknown(
            f"Telegram answered {said} ({status}); the message may have been published: "
            "check the chat before sending it again"
        )
    if status is not None and 400 <= status < 500 and status != 429:
        return PermanentError(f"Telegram refused: {said} ({status})")
    suffix = f" ({status})" if status is not None else ""
    return TemporaryError(f"Telegram answered {said}{suffix}; nothing was published")


def _retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int form is deprecated
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)

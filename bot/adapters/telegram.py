"""The Telegram channel: one bot, through python-telegram-bot, for every chat it posts to.

The only module that imports ``telegram``. It translates, it does not decide: each failure
becomes one of the errors of ``bot.channels`` and the publisher chooses what to do. Nothing
is retried in here, except following a group that Telegram upgraded to a supergroup (the
server refused the first send, so sending again cannot post twice).

The bot token never appears in an error message, a log line or a ``repr``: exceptions of
the library (whose messages and causes can hold the request URL, ``.../bot<token>/...``) are
never chained to the errors raised here.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import warnings
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from telegram import InputMediaPhoto, Message
from telegram.constants import ParseMode
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

from bot.channels import (
    ChannelError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    Receipt,
    TemporaryError,
)
from bot.core.length import TELEGRAM_CAPTION_LIMIT, TELEGRAM_TEXT_LIMIT, telegram_length
from bot.domain import Media, Publication

log = logging.getLogger(__name__)

TOKEN_REFUSED = "Telegram refused the bot token (RELAIS_TELEGRAM_TOKEN); check it with @BotFather"  # noqa: S105
MAX_ALBUM = 10  # photos in one sendMediaGroup

# Telegram's flood limits are about 30 messages a second overall and 20 a minute in one group
# or channel, counted over sliding windows. AIORateLimiter is a leaky bucket (aiolimiter):
# a burst of ``max_rate`` requests, then ``max_rate / time_period`` a second. In any window of
# T seconds it lets through up to burst + rate * T requests, so "30 per 1 s" taken literally
# (a burst of 30, then 30 a second) allows 60 in the first second. Burst and rate are chosen
# so that burst + rate * T stays under each limit, with a margin for network jitter.
OVERALL_BURST, OVERALL_PER_SECOND = 1, 28  # at most 29 in any second (Telegram: 30)
GROUP_BURST, GROUP_PER_MINUTE = 4, 14  # at most 18 in any minute (Telegram: 20)

T = TypeVar("T")
Chat = int | str

# The HTTP status of the last answer in this task: PTB raises the same NetworkError for a
# 500 and a 413 (its message is Telegram's description, with the code only when there is
# none), and a 502/504 from Telegram's gateway does not say whether the bot API acted.
_last_status: ContextVar[int | None] = ContextVar("relais_telegram_status", default=None)


class _Request(HTTPXRequest):
    """PTB's httpx transport, remembering the HTTP status of each answer."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        status, payload = await super().do_request(*args, **kwargs)
        _last_status.set(status)
        return status, payload


class TelegramSender:
    """Publishes to Telegram chats (``"@username"`` or a numeric id) with one bot token."""

    def __init__(
        self,
        token: str,
        api_url: str = "https://api.telegram.org",
        *,
        timeout: float = 10.0,
        rate_limit: bool = True,
    ) -> None:
        self._token = token
        self._api_url = api_url.rstrip("/")
        self._timeout = timeout
        timeouts = {
            "connect_timeout": timeout,
            "read_timeout": timeout,
            "write_timeout": timeout,
            "pool_timeout": timeout,
            "media_write_timeout": max(timeout, 30.0),
        }
        # Sends are paced by the rate limiter, so a few connections are plenty; a request
        # that waits longer than ``pool_timeout`` for one was never sent (TemporaryError).
        self._requests = (
            _Request(connection_pool_size=16, **timeouts),
            _Request(connection_pool_size=1, **timeouts),  # getUpdates: unused by the sender
        )
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
        self._bot: ExtBot[Any] = ExtBot(
            token,
            base_url=f"{self._api_url}/bot",
            base_file_url=f"{self._api_url}/file/bot",
            request=self._requests[0],
            get_updates_request=self._requests[1],
            rate_limiter=limiter,
        )
        self._migrated: dict[Chat, int] = {}  # chat as configured -> supergroup id

    def __repr__(self) -> str:
        return f"<TelegramSender {self._api_url}>"

    async def start(self) -> None:
        """Check the token with getMe."""
        _last_status.set(None)
        try:
            await self._bot.initialize()
        except TelegramError as exc:
            error = self._translate(exc)
        else:
            return
        if isinstance(error, OutcomeUnknown):  # getMe can be repeated safely
            error = TemporaryError(str(error))
        raise error

    async def close(self) -> None:
        await self._bot.shutdown()
        for request in self._requests:  # also when start() failed or was never called
            await request.shutdown()

    async def publish(self, publication: Publication) -> Receipt:
        """Send the publication as one message, a photo, an album, or (for a text over 4096
        characters) several messages; the receipt names the first one."""
        channel = publication.channel
        if channel.chat is None:
            raise PermanentError(f"channel {channel.name!r} has no Telegram chat")
        chat = _chat_ref(channel.chat)
        where = f"channel {channel.name!r} of campaign {publication.campaign!r}"
        if publication.media:
            message = await self._send_media(chat, publication.text, publication.media, where)
            return self._receipt(chat, message)
        parts = split_html(publication.text, TELEGRAM_TEXT_LIMIT)
        first: Message | None = None
        for number, part in enumerate(parts, 1):
            try:
                message = await self._call(chat, where, self._text_sender(part))
            except ChannelError as exc:
                if first is None:
                    raise
                raise OutcomeUnknown(
                    f"Telegram published part 1 of {len(parts)} (message {first.message_id}) but "
                    f"part {number} failed ({exc}); sending again would repeat the parts already sent"
                ) from None
            first = first or message
        assert first is not None  # split_html returns at least one part
        return self._receipt(chat, first)

    async def send_alert(self, chat: str | int, text: str) -> Receipt:
        """Send plain ``text`` to a staff chat (cut to 4096 characters)."""
        ref = _chat_ref(chat)
        if telegram_length(text) > TELEGRAM_TEXT_LIMIT:
            text = _cut(text, TELEGRAM_TEXT_LIMIT - 1) + "…"
        sender = self._text_sender(html.escape(text, quote=False))
        message = await self._call(ref, f"alert chat {chat}", sender)
        return self._receipt(ref, message)

    # -- sending -----------------------------------------------------------------------------
    def _text_sender(self, text: str) -> Callable[[Chat], Awaitable[Message]]:
        async def send(chat: Chat) -> Message:
            return await self._bot.send_message(chat, text, parse_mode=ParseMode.HTML)

        return send

    async def _send_media(self, chat: Chat, text: str, media: tuple[Media, ...], where: str) -> Message:
        size = visible_length(text)
        if size > TELEGRAM_CAPTION_LIMIT:
            raise PermanentError(
                f"the caption has {size} characters; Telegram's limit is {TELEGRAM_CAPTION_LIMIT}"
            )
        if len(media) > MAX_ALBUM:
            raise PermanentError(f"{len(media)} photos; Telegram takes at most {MAX_ALBUM} in an album")
        files = [await _read(item) for item in media]
        caption = text if text.strip() else None
        if len(media) == 1:
            (data,) = files

            async def send_photo(target: Chat) -> Message:
                return await self._bot.send_photo(
                    target, data, caption=caption, parse_mode=ParseMode.HTML, filename=media[0].path.name
                )

            return await self._call(chat, where, send_photo)

        async def send_album(target: Chat) -> Message:
            album = [
                InputMediaPhoto(
                    data,
                    caption=caption if i == 0 else None,
                    parse_mode=ParseMode.HTML if i == 0 else None,
                    filename=item.path.name,
                )
                for i, (item, data) in enumerate(zip(media, files, strict=True))
            ]
            messages = await self._bot.send_media_group(target, album)
            return messages[0]

        return await self._call(chat, where, send_album)

    async def _call(self, chat: Chat, where: str, send: Callable[[Chat], Awaitable[T]]) -> T:
        """One API call, following a group's upgrade to a supergroup once."""
        target = self._migrated.get(chat, chat)
        for attempt in (1, 2):
            _last_status.set(None)
            new_id: int | None = None
            try:
                return await send(target)
            except ChatMigrated as exc:
                new_id = exc.new_chat_id
                error: ChannelError | None = None
                if attempt == 2:
                    error = PermanentError(f"Telegram chat {target} moved again, to {new_id}")
            except TelegramError as exc:
                error = self._translate(exc)
            if error is not None:  # raised outside the except clause: no library exception chained
                raise error
            assert new_id is not None
            self._migrated[chat] = target = new_id
            log.warning(
                "Telegram chat %s (%s) was upgraded to a supergroup whose id is %s; sending there. "
                "Set `chat: %s` in the campaign file so that it is used from the start.",
                chat,
                where,
                new_id,
                new_id,
            )
        raise AssertionError("unreachable")

    def _receipt(self, chat: Chat, message: Message) -> Receipt:
        username = message.chat.username
        if username is None and isinstance(chat, str) and chat.startswith("@"):
            username = chat[1:]
        url = f"https://t.me/{username}/{message.message_id}" if username else None
        return Receipt(remote_id=f"{message.chat.id}:{message.message_id}", url=url)

    # -- errors ------------------------------------------------------------------------------
    def _translate(self, exc: TelegramError) -> ChannelError:
        """The error of ``bot.channels`` that says what ``exc`` means for a send."""
        said = self._scrub(exc.message)
        if isinstance(exc, RetryAfter):
            seconds = _retry_seconds(exc)
            return RateLimited(f"Telegram flood control: retry in {seconds:g} s", seconds)
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
            return _status_error(_last_status.get(), said)
        # An answer PTB could not read (e.g. a 200 that is not JSON): it may have been sent.
        return OutcomeUnknown(
            f"unexpected answer from Telegram ({said}); the message may have been published"
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "[redacted]") if self._token else text


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


def _chat_ref(chat: str | int) -> Chat:
    """A numeric id given as a string becomes an int, so that it names one chat."""
    if isinstance(chat, str) and re.fullmatch(r"-?\d+", chat.strip()):
        return int(chat)
    return chat


async def _read(media: Media) -> bytes:
    try:
        return await asyncio.to_thread(media.path.read_bytes)
    except OSError as exc:
        raise PermanentError(f"cannot read {media.path}: {exc.strerror or exc}") from None


# -- length and splitting ----------------------------------------------------------------------
_TAG = re.compile(r"<[^>]*>")


def visible_length(text: str) -> int:
    """Telegram's length of an HTML text: UTF-16 units once tags and entities are parsed."""
    return telegram_length(html.unescape(_TAG.sub("", text)))


def split_html(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Cut Telegram HTML into messages of at most ``limit`` visible characters, between
    paragraphs (a blank line; no tag spans one). A paragraph over the limit is an error."""
    if visible_length(text) <= limit:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for paragraph in text.split("\n\n"):
        length = visible_length(paragraph)
        if not paragraph.strip():
            continue
        if length > limit:
            raise PermanentError(
                f"a paragraph has {length} characters; Telegram's limit is {limit} and only "
                "whole paragraphs are split into messages"
            )
        if current and size + 2 + length > limit:
            parts.append("\n\n".join(current))
            current, size = [], 0
        size += length + (2 if current else 0)
        current.append(paragraph)
    parts.append("\n\n".join(current))
    return parts


def _cut(text: str, units: int) -> str:
    """The longest prefix of ``text`` of at most ``units`` UTF-16 units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > units:
            return text[:index]
    return text

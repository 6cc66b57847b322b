"""The Telegram channel: one bot, through python-telegram-bot, for every chat it posts to,
and the source of the replies followers post in its groups and private chats.

The only module that imports ``telegram``. It translates, it does not decide: each failure
becomes one of the errors of ``bot.ports`` and the publisher (or the collector) chooses
what to do. Nothing is retried in here, except following a group that Telegram upgraded to a
supergroup (the server refused the first send, so sending again cannot post twice).

``TelegramSender`` publishes and never reads updates; ``TelegramReader`` reads updates
(getUpdates) and reacts to replies. Only one reader may poll a token at a time.

Sends are paced by PTB's ``AIORateLimiter``, which makes a call wait (minutes, for a burst to
one channel) before its request is written. The publisher's ``on_wire`` callback is awaited
by the transport itself (``_Request.do_request``), after that wait and right before the
request is written; cancelling a send that still waits sends nothing.

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
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from datetime import UTC, timedelta
from typing import Any, TypeVar

import httpx
from telegram import InputMediaPhoto, Message, MessageEntity, MessageOriginChannel, Update
from telegram.constants import ChatType, ParseMode
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

from bot.domain import ForwardLink, Media, Network, Publication, Removal, Reply
from bot.networks.telegram import CAPTION_LIMIT as TELEGRAM_CAPTION_LIMIT
from bot.networks.telegram import TEXT_LIMIT as TELEGRAM_TEXT_LIMIT
from bot.networks.telegram import length as telegram_length
from bot.ports import (
    ChannelError,
    OnWire,
    OutcomeUnknown,
    Page,
    PermanentError,
    RateLimited,
    Receipt,
    TemporaryError,
)

log = logging.getLogger(__name__)

TOKEN_REFUSED = "Telegram refused the bot token (RELAIS_TELEGRAM_TOKEN); check it with @BotFather"  # noqa: S105
POLLING_CONFLICT = (
    "another program is reading this bot's updates (getUpdates conflict); only one relais run may "
    "collect Telegram replies per bot token"
)
MAX_ALBUM = 10  # photos in one sendMediaGroup
# What the reader asks getUpdates for. Channel posts are asked for (and skipped) so that the
# setting, which Telegram remembers for the token, is the same whatever asked last.
ALLOWED_UPDATES = ("message", "edited_message", "channel_post", "edited_channel_post")
UPDATES_PAGE = 100  # getUpdates' largest page
ACKNOWLEDGE_REACTION = "👍"

# Telegram's flood limits are about 30 messages a second overall and 20 a minute in one group
# or channel, counted over sliding windows. AIORateLimiter is a leaky bucket (aiolimiter):
# a burst of ``max_rate`` requests, then ``max_rate / time_period`` a second. In any window of
# T seconds it lets through up to burst + rate * T requests, so "30 per 1 s" taken literally
# (a burst of 30, then 30 a second) allows 60 in the first second. Burst and rate are chosen
# so that burst + rate * T stays under each limit, with a margin for network jitter.
OVERALL_BURST, OVERALL_PER_SECOND = 1, 29  # at most 30 in any second; timers only ever fire late
GROUP_BURST, GROUP_PER_MINUTE = 4, 14  # at most 18 in any minute (Telegram: 20)

T = TypeVar("T")
Chat = int | str

# The HTTP status of the last answer in this task: PTB raises the same NetworkError for a
# 500 and a 413 (its message is Telegram's description, with the code only when there is
# none), and a 502/504 from Telegram's gateway does not say whether the bot API acted.
_last_status: ContextVar[int | None] = ContextVar("relais_telegram_status", default=None)
# What to await right before a request of the publication sent in this task is written.
_on_wire: ContextVar[OnWire | None] = ContextVar("relais_telegram_on_wire", default=None)


class _Refused(TelegramError):
    """``on_wire`` raised: the request was not written. A TelegramError, so that PTB passes
    it on as it is (it wraps any other exception of the transport in a NetworkError)."""

    def __init__(self, error: Exception) -> None:
        super().__init__("not sent: on_wire refused it")
        self.error = error


class _Request(HTTPXRequest):
    """PTB's httpx transport, remembering the HTTP status of each answer, and awaiting the
    publisher's ``on_wire`` once the rate limiter has let the request through."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        hook = _on_wire.get()
        if hook is not None:
            try:
                await hook()
            except Exception as error:
                raise _Refused(error) from None
        status, payload = await super().do_request(*args, **kwargs)
        _last_status.set(status)
        return status, payload


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


class _TelegramBot:
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
            _Request(connection_pool_size=1, **timeouts),  # getUpdates: the reader's only
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
        _last_status.set(None)
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
                f"no usable answer from Telegram ({self._scrub(exc.message)}); asking again is safe"
            )
        return error

    def _translate(self, exc: TelegramError) -> ChannelError:
        """The error of ``bot.ports`` that says what ``exc`` means for a send."""
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


class TelegramSender(_TelegramBot):
    """Publishes to Telegram chats (``"@username"`` or a numeric id) with one bot token."""

    async def publish(self, publication: Publication, *, on_wire: OnWire) -> Receipt:
        """Send the publication as one message, a photo, an album, or (for a text over 4096
        characters) several messages; the receipt names the first one. ``on_wire`` is
        awaited before each request is written, once the rate limiter let it through."""
        token = _on_wire.set(on_wire)
        try:
            return await self._publish(publication)
        finally:
            _on_wire.reset(token)

    async def _publish(self, publication: Publication) -> Receipt:
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
            error: Exception | None = None
            try:
                return await send(target)
            except _Refused as exc:
                error = exc.error  # on_wire refused: nothing was written; its error as it is
            except ChatMigrated as exc:
                new_id = exc.new_chat_id
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


class TelegramReader(_TelegramBot):
    """Reads the messages people post where the bot is (groups, channels' discussion groups,
    private chats), for the collector: the ``TelegramSource`` of ``bot.ports``.

    It polls with getUpdates; only one program may do that per bot token (``TelegramSender``
    never does). It does not filter: which replies belong to a campaign (its hashtags, the
    posts they answer) is the collector's business; its own messages are skipped."""

    async def updates(self, offset: str | None, timeout: float) -> Page:
        """The updates after ``offset`` (which confirms every update before it), waiting up to
        ``timeout`` seconds for one; the cursor is the offset that confirms this page."""
        if self.bot_id is None:
            await self.start()
        wait = max(int(timeout), 0)
        try:
            first = int(offset) if offset else None
        except ValueError:
            raise PermanentError(f"not a Telegram update offset: {offset!r}") from None
        raw = await self._repeatable(
            lambda: self._bot.get_raw_updates(
                offset=first,
                timeout=wait,
                limit=UPDATES_PAGE,
                allowed_updates=list(ALLOWED_UPDATES),
                read_timeout=self._timeout + wait,  # the server holds the answer up to ``wait``
            )
        )
        items: list[Reply | Removal | ForwardLink] = []
        last: int | None = None
        for data in raw:
            update_id = _id(data.get("update_id")) if isinstance(data, dict) else None
            if update_id is not None and update_id >= 0:
                last = update_id if last is None else max(last, update_id)
            try:
                item = self._item(Update.de_json(data, self._bot))
            except Exception as exc:  # one unreadable update must not block the others
                log.warning(  # its id only: never what it says, nor who said it
                    "skipped Telegram update %s: it could not be read (%s)",
                    update_id if update_id is not None else "without a valid id",
                    type(exc).__name__,
                )
                continue
            if item is not None:
                items.append(item)
        cursor = str(last + 1) if last is not None else offset
        return Page(items=items, cursor=cursor, more=len(raw) >= UPDATES_PAGE)

    async def acknowledge(self, remote_id: str) -> None:
        """React to a message (``"<chat id>:<message id>"``) with a 👍."""
        chat, _, message = remote_id.rpartition(":")
        try:
            chat_id, message_id = int(chat), int(message)
        except ValueError:
            raise PermanentError(f"not a Telegram message id: {remote_id!r}") from None
        await self._repeatable(
            lambda: self._bot.set_message_reaction(chat_id, message_id, reaction=ACKNOWLEDGE_REACTION)
        )

    def _translate_repeatable(self, exc: TelegramError) -> ChannelError:
        if isinstance(exc, Conflict):
            said = self._scrub(exc.message)
            if "webhook" in said.lower():
                return PermanentError(
                    f"a webhook is set for this bot, so its updates cannot be read by polling; remove it "
                    f"(deleteWebhook) to collect Telegram replies (Telegram said: {said})"
                )
            return PermanentError(f"{POLLING_CONFLICT} (Telegram said: {said})")
        return super()._translate_repeatable(exc)

    # -- reading messages --------------------------------------------------------------------
    def _item(self, update: Update | None) -> Reply | ForwardLink | None:
        """What an update means for the collector; None for what it does not collect.

        PTB does not check the types of what it reads: ids are checked here, and a name,
        handle or language that is not a string counts as missing. ``Reply`` cleans the rest."""
        if update is None:
            raise _Unreadable("no update")
        edited = update.edited_message is not None
        message = update.edited_message or update.message
        if message is None:  # channel_post, edited_channel_post: our posts, or the admins'
            return None
        chat = message.chat
        if chat is None:
            raise _Unreadable("no chat")
        chat_id, message_id = _id(chat.id), _id(message.message_id)
        if chat_id is None or message_id is None:
            raise _Unreadable("no valid chat or message id")
        where = f"{chat_id}:{message_id}"
        if message.is_automatic_forward is True:
            return ForwardLink(remote_id=where, original=_forwarded_from(message), network=Network.TELEGRAM)
        user, speaker = message.from_user, message.sender_chat
        if chat.type == ChatType.CHANNEL or (user is not None and user.id == self.bot_id):
            return None
        text = message.text or message.caption
        if not text:  # stickers, photos without a caption, members joining...
            return None
        if not isinstance(text, str):
            raise _Unreadable("a text that is not a string")
        if message.date is None or (edited and message.edit_date is None):
            raise _Unreadable("no date")
        entities = message.entities if message.text else message.caption_entities
        author: tuple[int | None, str, str, str | None]  # id, handle, name, language
        if speaker is not None:  # a channel, or an anonymous admin speaking as the group
            name = _text(speaker.title) or _full_name(speaker) or _text(speaker.username)
            author = (_id(speaker.id), _handle(speaker.username), name, None)
        elif user is not None:
            language = _text(user.language_code) or None
            author = (_id(user.id), _handle(user.username), _full_name(user), language)
        else:
            raise _Unreadable("no author")
        author_id, handle, name, language = author
        if author_id is None:
            raise _Unreadable("no valid author id")
        private = chat.type == ChatType.PRIVATE
        username = _text(chat.username)
        # a t.me link names a public chat by a username Telegram allows, and a user's chat by nothing
        public = _USERNAME.fullmatch(username) is not None and not private
        replied = message.reply_to_message
        replied_id = _id(replied.message_id) if replied is not None else None
        thread = _id(message.message_thread_id)
        return Reply(
            network=Network.TELEGRAM,
            remote_id=where,
            text=text,
            created_at=message.date.astimezone(UTC),
            author_id=str(author_id),
            author_handle=handle,
            author_name=name,
            url=f"https://t.me/{username}/{message_id}" if public else None,
            language=language,
            hashtags=hashtags(text, entities),
            in_reply_to=f"{chat_id}:{replied_id}" if replied_id is not None else None,
            edited_at=message.edit_date.astimezone(UTC) if edited and message.edit_date else None,
            private=private,
            thread=f"{chat_id}:{thread}" if thread is not None and not private else None,
        )


class _Unreadable(ValueError):
    """An update that lacks what the reader needs."""


class _NoPayloads(logging.Filter):
    """python-telegram-bot logs what the Bot API answered (at DEBUG: getUpdates' answer holds
    every message's text and author) and an answer it could not parse as JSON (at ERROR,
    whole). In its records, an argument other than a method name or a number is replaced,
    also when a record factory (``bot.logs``) already merged the arguments into the message.
    """

    _NAME = re.compile(r"\w{1,64}")
    _PAYLOADS = (  # PTB's messages that carry payloads, for records already merged
        "Can not load invalid JSON data: \"%s\"",
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


_USERNAME = re.compile(r"[A-Za-z0-9_]{1,64}")  # what a t.me link can name
_LARGEST_ID = 2**63  # Telegram's ids fit in 64 bits (52 significant bits, its docs say)


def _id(value: object) -> int | None:
    """A Telegram id, or None when the field holds anything else (PTB does not check)."""
    if isinstance(value, int) and not isinstance(value, bool) and -_LARGEST_ID < value < _LARGEST_ID:
        return value
    return None


def _text(value: object) -> str:
    """An optional string field: "" when it is missing or is not a string."""
    return value if isinstance(value, str) else ""


def _full_name(person: Any) -> str:
    """First and last name, as Telegram shows them (a chat has them too: a private one)."""
    return " ".join(part for part in (_text(person.first_name), _text(person.last_name)) if part)


def _forwarded_from(message: Message) -> str:
    """``"<channel id>:<message id>"`` of the channel post an automatic forward copies."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginChannel):
        chat_id, message_id = _id(getattr(origin.chat, "id", None)), _id(origin.message_id)
    else:  # before Bot API 7.0
        legacy_chat = message.api_kwargs.get("forward_from_chat")
        chat_id = _id(legacy_chat.get("id")) if isinstance(legacy_chat, dict) else None
        message_id = _id(message.api_kwargs.get("forward_from_message_id"))
    if chat_id is None or message_id is None:
        raise _Unreadable("an automatic forward without its channel post")
    return f"{chat_id}:{message_id}"


def _handle(username: object) -> str:
    return f"@{username}" if isinstance(username, str) and username else ""


def hashtags(text: str, entities: Sequence[MessageEntity]) -> tuple[str, ...]:
    """The hashtags of a text, lowercase, without "#" (nor the "@chat" of a "#tag@chat"), in
    order and once each. Entity offsets count UTF-16 code units, as Telegram does (a lone
    surrogate is one of them); an entity whose offset or length is not a count is ignored."""
    encoded = text.encode("utf-16-le", errors="surrogatepass")
    found: dict[str, None] = {}
    for entity in entities or ():
        if getattr(entity, "type", None) != MessageEntity.HASHTAG:
            continue
        offset, length = _id(entity.offset), _id(entity.length)
        if offset is None or length is None or offset < 0 or length <= 0:
            continue
        start = offset * 2
        tag = encoded[start : start + length * 2].decode("utf-16-le", errors="ignore")
        name = tag.lstrip("#").partition("@")[0].lower()
        if name:
            found[name] = None
    return tuple(found)


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

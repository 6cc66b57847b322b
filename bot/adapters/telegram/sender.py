"""Publishing to Telegram chats with one bot token (``TelegramSender``); it never reads
updates. Nothing is retried in here, except following a group that Telegram upgraded to a
supergroup (the server refused the first send, so sending again cannot post twice)."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Awaitable, Callable

from telegram import InputMediaPhoto, Message
from telegram.constants import ParseMode
from telegram.error import ChatMigrated, TelegramError

from bot.adapters.telegram.transport import Chat, Refused, T, TelegramBot, last_status, log, wire_hook
from bot.domain import Media, Publication
from bot.networks import telegram
from bot.ports import OnWire, PermanentError, Receipt

MAX_ALBUM = 10  # photos in one sendMediaGroup


class TelegramSender(TelegramBot):
    """Publishes to Telegram chats (``"@username"`` or a numeric id) with one bot token."""

    async def publish(self, publication: Publication, *, on_wire: OnWire) -> Receipt:
        """Send the publication as one message, a photo or an album; the receipt names the
        (first) message. ``on_wire`` is awaited before each request is written, once the rate
        limiter let it through."""
        token = wire_hook.set(on_wire)
        try:
            return await self._publish(publication)
        finally:
            wire_hook.reset(token)

    async def _publish(self, publication: Publication) -> Receipt:
        channel = publication.channel
        if channel.chat is None:
            raise PermanentError(f"channel {channel.name!r} has no Telegram chat")
        chat = _chat_ref(channel.chat)
        where = f"channel {channel.name!r} of campaign {publication.campaign!r}"
        if publication.media:
            message = await self._send_media(chat, publication.text, publication.media, where)
            return self._receipt(chat, message)
        size = telegram.length(telegram.shown_text(publication.text))
        if size > telegram.TEXT_LIMIT:  # validation does not let one through: never split
            raise PermanentError(
                f"the message has {size} characters; Telegram's limit is {telegram.TEXT_LIMIT}"
            )
        message = await self._call(chat, where, self._text_sender(publication.text))
        return self._receipt(chat, message)

    async def send_alert(self, chat: str | int, text: str) -> Receipt:
        """Send plain ``text`` to a staff chat (cut to 4096 characters)."""
        ref = _chat_ref(chat)
        if telegram.length(text) > telegram.TEXT_LIMIT:
            text = telegram.cut(text, telegram.TEXT_LIMIT - 1) + "…"
        sender = self._text_sender(html.escape(text, quote=False))
        message = await self._call(ref, f"alert chat {chat}", sender)
        return self._receipt(ref, message)

    # -- sending -----------------------------------------------------------------------------
    def _text_sender(self, text: str) -> Callable[[Chat], Awaitable[Message]]:
        async def send(chat: Chat) -> Message:
            return await self._bot.send_message(chat, text, parse_mode=ParseMode.HTML)

        return send

    async def _send_media(self, chat: Chat, text: str, media: tuple[Media, ...], where: str) -> Message:
        size = telegram.length(telegram.shown_text(text))
        if size > telegram.CAPTION_LIMIT:
            raise PermanentError(
                f"the caption has {size} characters; Telegram's limit is {telegram.CAPTION_LIMIT}"
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
            last_status.set(None)
            new_id: int | None = None
            error: Exception | None = None
            try:
                return await send(target)
            except Refused as exc:
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
        url = telegram.message_url(username, message.message_id) if username else None
        return Receipt(remote_id=telegram.remote_id(message.chat.id, message.message_id), url=url)


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

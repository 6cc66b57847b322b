"""Reading what people post where the bot is, for the collector (``TelegramReader``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from telegram import Message, MessageEntity, MessageOriginChannel, Update
from telegram.constants import ChatType
from telegram.error import Conflict, TelegramError

from bot.adapters.telegram.transport import TelegramBot, log
from bot.domain import ForwardLink, Removal, Reply
from bot.networks.telegram import NAME, fingerprint, message_url, remote_id
from bot.ports import ChannelError, Page, PermanentError
from bot.redact import redact

POLLING_CONFLICT = (
    "another program is reading this bot's updates (getUpdates conflict); only one relais run may "
    "collect Telegram replies per bot token"
)
# What the reader asks getUpdates for. Channel posts are asked for (and skipped) so that the
# setting, which Telegram remembers for the token, is the same whatever asked last.
ALLOWED_UPDATES = ("message", "edited_message", "channel_post", "edited_channel_post")
UPDATES_PAGE = 100  # getUpdates' largest page
ACKNOWLEDGE_REACTION = "👍"


class TelegramReader(TelegramBot):
    network = NAME
    """Reads the messages people post where the bot is (groups, channels' discussion groups,
    private chats), for the collector: the ``UpdatesSource`` of ``bot.ports``.

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
            said = redact(exc.message, self._token)
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
        where = remote_id(chat_id, message_id)
        if message.is_automatic_forward is True:
            shown = message.text or message.caption
            return ForwardLink(
                remote_id=where,
                original=_forwarded_from(message),
                network=NAME,
                fingerprint=fingerprint(shown) if isinstance(shown, str) else None,
                posted_at=_aware(message.date),
            )
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
            network=NAME,
            remote_id=where,
            text=text,
            created_at=message.date.astimezone(UTC),
            author_id=str(author_id),
            author_handle=handle,
            author_name=name,
            url=message_url(username, message_id) if public else None,
            language=language,
            hashtags=hashtags(text, entities),
            in_reply_to=remote_id(chat_id, replied_id) if replied_id is not None else None,
            edited_at=message.edit_date.astimezone(UTC) if edited and message.edit_date else None,
            private=private,
            thread=remote_id(chat_id, thread) if thread is not None and not private else None,
        )


class _Unreadable(ValueError):
    """An update that lacks what the reader needs."""


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
    return remote_id(chat_id, message_id)


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


def _aware(moment: object) -> datetime | None:
    if not isinstance(moment, datetime):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

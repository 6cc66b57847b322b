"""Telegram, as Relais knows it: chats named by @username or numeric id, HTML messages,
lengths in UTF-16 code units of the text once the markup is parsed, no idempotency key.

Length: the Bot API's limits (4096 for a message, 1024 for a caption) apply "after entities
parsing", and Telegram counts text in UTF-16 code units (its entity offsets and lengths
do too): an emoji outside the Basic Multilingual Plane counts 2. ``length`` is the one
definition, used by validation and by the adapter alike.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, SecretStr, field_validator

from bot.domain import Campaign, Channel
from bot.networks import ChannelProblem, ChannelSpec, Flavour, ImageInfo, NonEmpty, Pacing, Profile
from bot.networks.setting_values import plain, server_url
from bot.problems import shown
from bot.redact import REDACTED

if TYPE_CHECKING:
    from bot.findings import Finding

NAME = "telegram"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
# sendPhoto: at most 10 MB, width + height at most 10000, the longer side at most 20 times
# the shorter.
PHOTO_BYTES = 10 * 1024 * 1024
PHOTO_SIDES = 10_000
PHOTO_RATIO = 20
_FIX_BYTES = "make it smaller (save it as JPEG, or resize it)"

_USERNAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")
_NUMERIC = re.compile(r"^-?\d+$")
_TAG = re.compile(r"<[^>]*>")

# A bot token: the bot's numeric id, a colon (maybe URL-encoded) and at least 30 characters.
_TOKEN = re.compile(r"(?<![0-9])[0-9]{5,12}(?::|%3[Aa])[A-Za-z0-9_-]{30,}")
# In a URL, the path segment after "/bot" (the Bot API's /bot<token>/method and
# /file/bot<token>/path), whatever the token looks like.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/?#]+(?P<path>/[^\s?#]*)")
_BOT_SEGMENT = re.compile(r"/bot[^/\s?#\"'<>)]+")
# Outside a URL, only a token-like "/bot<id>:<...>/" segment.
_BOT_PATH = re.compile(r"/bot[0-9]+(?::|%3[Aa])[^/\s?#\"'<>]+")


class TelegramChannelSpec(ChannelSpec):
    network: Literal["telegram"]
    chat: Any  # "@username" or a numeric id; checked by ``channel``, which says which (not coerced)
    language: NonEmpty | None = None  # takes only this language of posts in several


def length(shown: str) -> int:
    """Telegram's count: UTF-16 code units of the text as shown (entities parsed)."""
    if shown.isascii():
        return len(shown)
    return len(shown.encode("utf-16-le")) // 2


def cut(text: str, units: int) -> str:
    """The longest prefix of ``text`` that Telegram counts as at most ``units`` long."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > units:
            return text[:index]
    return text


def shown_text(text: str) -> str:
    """What Telegram shows of an HTML message: the text, its tags parsed away."""
    return html.unescape(_TAG.sub("", text))


def fingerprint(text: str) -> str:
    """A digest of what a message shows (plain text, as Telegram gives it back), its
    whitespace folded: a post and its automatic forward share it."""
    folded = " ".join(text.split())
    return hashlib.sha256(folded.encode("utf-8", "surrogatepass")).hexdigest()


def remote_id(chat_id: int, message: int) -> str:
    """A message's remote id: ``"<chat id>:<message id>"``."""
    return f"{chat_id}:{message}"


def message_url(username: str, message: int) -> str:
    """The public link of a message in a chat that has a username."""
    return f"https://t.me/{username}/{message}"


def chat_problem(chat: Any) -> str | None:
    """What is wrong with a Telegram ``chat:``, or None. Never coerced: ``true`` is not user 1."""
    if chat is None:
        return (
            "'chat' has no value; write an @username in quotes, like \"@GautrinWeb2\", or a numeric "
            "chat id, like -1001234567890"
        )
    if isinstance(chat, bool) or not isinstance(chat, str | int):
        return (
            "'chat' must be an @username in quotes, like \"@GautrinWeb2\", or a numeric chat id, "
            f"like -1001234567890; not {shown(chat)}"
        )
    if isinstance(chat, str) and not (_NUMERIC.match(chat) or _USERNAME.match(chat)):
        return (
            f"chat {chat!r} is neither an @username nor a numeric chat id; write "
            f'"@{chat.lstrip("@")}" for a public channel or group, or its numeric id, like -1001234567890'
        )
    return None


_BOT_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_CHAT = re.compile(r"@[A-Za-z][A-Za-z0-9_]{4,31}|-?[0-9]+")


class TelegramSettings(BaseModel):
    """``RELAIS_TELEGRAM_TOKEN``, ``RELAIS_TELEGRAM_API_URL`` and ``RELAIS_ALERT_TELEGRAM_CHAT``."""

    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    alert_telegram_chat: str | None = None

    @field_validator("telegram_token", mode="before")
    @classmethod
    def _telegram_token(cls, value: Any) -> Any:
        if value is None:
            return None
        if not _BOT_TOKEN.fullmatch(plain(value)):
            raise ValueError(
                "this is not a bot token (digits, a colon, then letters, digits, _ or -): "
                "copy it again from @BotFather"
            )
        return value

    @field_validator("telegram_api_url", mode="before")
    @classmethod
    def _telegram_api_url(cls, value: Any) -> str:
        return server_url(
            str(value),
            "give the Bot API server's address alone, like https://api.telegram.org (http or https, "
            "a host, an optional port; the token goes in RELAIS_TELEGRAM_TOKEN)",
        )

    @field_validator("alert_telegram_chat", mode="before")
    @classmethod
    def _alert_chat(cls, value: Any) -> str | None:
        if value is None:
            return None
        if not _CHAT.fullmatch(str(value)):
            raise ValueError(
                "give a chat's @username (5 to 32 letters, digits or _) or its numeric id, "
                "like -1001234567890"
            )
        return str(value)


class Telegram(Profile):
    name = NAME
    title = "Telegram"
    flavour = Flavour.HTML
    adapter = "bot.adapters.telegram"
    channel_spec = TelegramChannelSpec
    settings = TelegramSettings
    quiet_loggers = ("telegram", "aiolimiter")  # python-telegram-bot and its rate limiter
    repeat_window = None  # no idempotency key: a send that may have gone out is never repeated
    lookups = False  # the Bot API cannot fetch a message by its id
    credentials = ("RELAIS_TELEGRAM_TOKEN",)
    # Telegram documents no figure for reactions: at most 5 + 20 a minute here (the reader's
    # limiter also paces each chat).
    acknowledgements = Pacing(burst=5, every=3.0)
    alert_setup = "set RELAIS_ALERT_TELEGRAM_CHAT to a staff chat (@username or id) and add the bot to it"

    def channel(self, name: str, spec: Any) -> Channel:
        if wrong := chat_problem(spec.chat):
            raise ChannelProblem("chat", wrong)
        chat = int(spec.chat) if isinstance(spec.chat, str) and _NUMERIC.match(spec.chat) else spec.chat
        return Channel(name, NAME, chat=chat, language=spec.language)

    def length(self, shown: str, warning: str | None = None) -> int:
        return length(shown)

    def limit(self, channel: Channel, media: bool) -> int:
        return CAPTION_LIMIT if media else TEXT_LIMIT

    def what(self, media: bool) -> str:
        return "caption" if media else "message"

    def image_problems(self, info: ImageInfo, shown: str) -> list[str]:
        found = []
        w, h = info.width, info.height
        if info.size > PHOTO_BYTES:
            found.append(
                f"{shown} is {info.size / 2**20:.1f} MB; Telegram takes photos of at most 10 MB: {_FIX_BYTES}"
            )
        if w + h > PHOTO_SIDES:
            found.append(
                f"{shown} is {w}x{h} pixels; Telegram takes photos whose width and height add up to at "
                f"most {PHOTO_SIDES}: resize it"
            )
        elif max(w, h) > PHOTO_RATIO * min(w, h):
            found.append(
                f"{shown} is {w}x{h} pixels; Telegram takes photos at most {PHOTO_RATIO} times as wide "
                "as they are tall (or as tall as wide): crop it"
            )
        return found

    async def check(self, inspector: Any, campaigns: Sequence[Campaign], settings: Any) -> list[Finding]:
        from bot.networks.telegram_check import check_telegram, telegram_chats

        return await check_telegram(inspector, telegram_chats(campaigns), self.alert_chat(settings))

    def copy_fingerprint(self, text: str) -> str | None:
        return fingerprint(shown_text(text))  # the automatic forward into the discussion group

    def message_url(self, chat: str | int | None, remote_id: str) -> str | None:
        message = remote_id.rsplit(":", 1)[1]
        if isinstance(chat, str) and chat.startswith("@") and message.isdigit():
            return message_url(chat[1:], int(message))
        return None

    # ``linked_id``: none; a message's link names its chat by the chat's username, not its id.

    def author_url(self, handle: str) -> str | None:
        return f"https://t.me/{handle[1:]}" if handle.startswith("@") else None

    def alert_chat(self, settings: Any) -> str | None:
        chat: str | None = settings.alert_telegram_chat
        return chat

    def redact(self, text: str) -> str:
        """Bot tokens, and the ``/bot<token>/`` segment of Bot API URLs."""
        text = _TOKEN.sub(REDACTED, text)
        text = _URL.sub(_redact_url, text)
        return _BOT_PATH.sub(f"/bot{REDACTED}", text)


def _redact_url(match: re.Match[str]) -> str:
    url, start = match.group(0), match.start("path") - match.start()
    return url[:start] + _BOT_SEGMENT.sub(f"/bot{REDACTED}", url[start:])


PROFILE: Profile = Telegram()

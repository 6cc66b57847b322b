"""The Telegram adapter: one bot, through python-telegram-bot, for every chat it posts to
(``sender``), and the source of the replies followers post in its groups and private chats
(``reader``); ``transport`` holds what they share, the bot and the translation of its errors.

The only package that imports ``telegram``. It translates, it does not decide: each failure
becomes one of the errors of ``bot.ports`` and the publisher (or the collector) chooses
what to do. ``TelegramSender`` publishes and never reads updates; ``TelegramReader`` reads
updates (getUpdates) and reacts to replies. Only one reader may poll a token at a time.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from functools import partial
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol, cast

from pydantic import SecretStr

from bot.ports import AlertSender, NotConfigured, Notify, Sender

# python-telegram-bot speaks HTTP through httpx, and httpx imports its own command line
# (httpx._main: rich, pygments, click) whenever those are installed, as they are beside
# Relais: 4.5 MB resident and 25 ms of relais run's start for a command Relais never runs.
# Marked absent, httpx keeps the stub it has for that case (see httpx/__init__.py).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

if TYPE_CHECKING:
    from bot.adapters.telegram.inspect import TelegramInspector
    from bot.adapters.telegram.reader import TelegramReader
    from bot.adapters.telegram.sender import TelegramSender


class Settings(Protocol):
    """What the adapter reads of the bot's settings."""

    telegram_token: SecretStr | None
    telegram_api_url: str
    alert_telegram_chat: str | None


def sender(settings: Settings) -> TelegramSender:
    if settings.telegram_token is None:
        raise NotConfigured(
            "a campaign has a Telegram channel but RELAIS_TELEGRAM_TOKEN is not set "
            "(see .env.example and the README's 'Connecting real accounts')"
        )
    from bot.adapters.telegram.sender import TelegramSender

    return TelegramSender(settings.telegram_token.get_secret_value(), settings.telegram_api_url)


def reader(settings: Settings) -> TelegramReader | None:
    if settings.telegram_token is None:
        return None
    from bot.adapters.telegram.reader import TelegramReader

    return TelegramReader(settings.telegram_token.get_secret_value(), settings.telegram_api_url)


def collect(collector: Any, source: Any, lock: Any, stop: asyncio.Event) -> Coroutine[Any, Any, None]:
    """The collector's Telegram loop (getUpdates, long-polled)."""
    return cast(Coroutine[Any, Any, None], collector.run_updates(source, lock, stop))


def alerts(settings: Settings, sender: Sender) -> Notify | None:
    """RELAIS_ALERT_TELEGRAM_CHAT, when it is set: told through the bot (or the console)."""
    if not settings.alert_telegram_chat:
        return None
    return partial(cast(AlertSender, sender).send_alert, settings.alert_telegram_chat)


def inspector(settings: Settings) -> TelegramInspector:
    """What ``relais check`` asks the Bot API; ``NotConfigured`` without a token."""
    if settings.telegram_token is None:
        raise NotConfigured(
            "RELAIS_TELEGRAM_TOKEN is not set: create a bot with @BotFather and put its token there"
        )
    from bot.adapters.telegram.inspect import TelegramInspector

    return TelegramInspector(settings.telegram_token.get_secret_value(), settings.telegram_api_url)


# What composition calls (``bot.wiring.adapter``), bound now: importing the submodule
# ``reader`` or ``sender`` replaces the package's attribute of that name with the submodule.
ADAPTER = SimpleNamespace(sender=sender, reader=reader, collect=collect, alerts=alerts, inspector=inspector)

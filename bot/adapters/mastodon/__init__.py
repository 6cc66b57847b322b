"""The Mastodon adapter: one account on one instance, through Mastodon.py, that publishes
(``sender``) and reads what followers post (``reader``, with ``text`` turning status HTML
into plain text); ``client`` holds what they share, the client and the translation of its
errors. The only package that imports ``mastodon``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol, cast

from pydantic import SecretStr

from bot.ports import NotConfigured, Notify, Sender

if TYPE_CHECKING:
    from bot.adapters.mastodon.inspect import MastodonInspector
    from bot.adapters.mastodon.reader import MastodonReader
    from bot.adapters.mastodon.sender import MastodonSender


class Settings(Protocol):
    """What the adapter reads of the bot's settings."""

    mastodon_url: str | None
    mastodon_token: SecretStr | None


def sender(settings: Settings) -> MastodonSender:
    if settings.mastodon_url is None or settings.mastodon_token is None:
        raise NotConfigured(
            "a campaign has a Mastodon channel but RELAIS_MASTODON_URL or "
            "RELAIS_MASTODON_TOKEN is not set (see .env.example)"
        )
    from bot.adapters.mastodon.sender import MastodonSender

    return MastodonSender(settings.mastodon_url, settings.mastodon_token.get_secret_value())


def reader(settings: Settings) -> MastodonReader | None:
    if not settings.mastodon_url or settings.mastodon_token is None:
        return None
    from bot.adapters.mastodon.reader import MastodonReader

    token = settings.mastodon_token.get_secret_value()
    return MastodonReader(
        settings.mastodon_url, token, streaming=getattr(settings, "mastodon_streaming", True)
    )


def collect(collector: Any, source: Any, lock: Any, stop: asyncio.Event) -> Coroutine[Any, Any, None]:
    """The collector's Mastodon feeds (streams, hashtags, mentions, contexts, rechecks)."""
    return cast(Coroutine[Any, Any, None], collector.run_timelines(source, lock, stop))


def alerts(settings: Settings, sender: Sender) -> Notify | None:
    return None  # no staff chat is told through Mastodon


def inspector(settings: Settings) -> MastodonInspector:
    """What ``relais check`` asks the instance; ``NotConfigured`` without its settings."""
    if settings.mastodon_url is None or settings.mastodon_token is None:
        raise NotConfigured(
            "RELAIS_MASTODON_URL or RELAIS_MASTODON_TOKEN is not set: the instance's address, and an "
            "access token from Preferences > Development there"
        )
    from bot.adapters.mastodon.inspect import MastodonInspector

    return MastodonInspector(settings.mastodon_url, settings.mastodon_token.get_secret_value())


# What composition calls (``bot.wiring.adapter``), bound now: importing the submodule
# ``reader`` or ``sender`` replaces the package's attribute of that name with the submodule.
ADAPTER = SimpleNamespace(sender=sender, reader=reader, collect=collect, alerts=alerts, inspector=inspector)

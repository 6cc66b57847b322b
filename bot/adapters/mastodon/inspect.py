"""Questions to the instance that post nothing, for ``relais check``: the account
(verify_credentials), the token's scopes (the application's, Mastodon 4.3+) and the
instance's limits (``/api/v2/instance``)."""

from __future__ import annotations

from typing import Any

from bot.adapters.mastodon.client import MastodonClient, get_field, unless_gone
from bot.networks.mastodon_check import MastodonAccountInfo, MastodonLimits


class MastodonInspector(MastodonClient):
    async def account(self) -> MastodonAccountInfo:
        account = await self._call(self._api.account_verify_credentials)
        acct = get_field(account, "acct") or get_field(account, "username") or ""
        return MastodonAccountInfo(acct=str(acct), bot=get_field(account, "bot") is True)

    async def scopes(self) -> tuple[str, ...] | None:
        app = await self._call(unless_gone, self._api.app_verify_credentials)
        scopes = get_field(app, "scopes")
        if not isinstance(scopes, list):
            return None
        return tuple(str(s) for s in scopes)

    async def limits(self) -> MastodonLimits | None:
        instance = await self._call(unless_gone, self._api.instance_v2)
        if instance is None:
            return None
        configuration = get_field(instance, "configuration")
        statuses = get_field(configuration, "statuses")
        media = get_field(configuration, "media_attachments")
        types = get_field(media, "supported_mime_types")
        version = get_field(instance, "version")
        return MastodonLimits(
            version=str(version) if version else None,
            max_characters=_count(get_field(statuses, "max_characters")),
            characters_reserved_per_url=_count(get_field(statuses, "characters_reserved_per_url")),
            max_media_attachments=_count(get_field(statuses, "max_media_attachments")),
            image_size_limit=_count(get_field(media, "image_size_limit")),
            video_size_limit=_count(get_field(media, "video_size_limit")),
            supported_mime_types=tuple(str(t) for t in types) if isinstance(types, list) else None,
        )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

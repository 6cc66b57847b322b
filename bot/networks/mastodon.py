"""Mastodon, as Relais knows it: one account on one instance, plain-text posts counted the
way the server counts them, and an idempotency key that makes a retry safe for a while.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from bot.domain import Campaign, Channel
from bot.networks import ChannelSpec, Flavour, ImageInfo, NonEmpty, Pacing, Profile
from bot.networks.setting_values import plain, server_url

if TYPE_CHECKING:
    from bot.findings import Finding

NAME = "mastodon"
DEFAULT_LIMIT = 500  # the instance's limit, unless the channel says another
URL_LENGTH = 23  # what a link counts, whatever its length
# A Mastodon server remembers an idempotency key for about an hour: a send interrupted
# less than this long ago is safely retried with the same key.
IDEMPOTENCY_WINDOW = timedelta(minutes=50)
# Images (4.x defaults, ``instance.configuration.media_attachments``): at most 16 MB
# (``image_size_limit``) and 33,177,600 pixels, i.e. 7680x4320 (``image_matrix_limit``); a
# GIF at most 921,600 pixels (1280x720). Larger images than 3840x2160 are accepted and
# scaled down by the server.
IMAGE_BYTES = 16 * 1024 * 1024
IMAGE_PIXELS = 33_177_600  # 7680x4320
GIF_PIXELS = 921_600  # 1280x720
_FIX_BYTES = "make it smaller (save it as JPEG, or resize it)"

_URL = re.compile(r"https?://[^\s<>\"'()]+(?:\([^\s<>\"'()]*\)[^\s<>\"'()]*)*", re.IGNORECASE)
_REMOTE_MENTION = re.compile(r"(?<![/\w])@(\w+)@[\w.-]*\w", re.IGNORECASE)
# Characters that are each one grapheme cluster whatever follows them: Latin, Greek,
# Cyrillic letters without combining marks, and the general punctuation of French and
# English typography. Text made only of these is counted with len(); anything else
# (combining marks, emoji, joiners) goes through the grapheme segmentation.
_NOT_SIMPLE = re.compile(r"[^\x00-\u02ff\u0370-\u0482\u048a-\u052f\u2010-\u2027\u202f-\u205f\u20ac]")


class MastodonChannelSpec(ChannelSpec):
    network: Literal["mastodon"]
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    max_characters: Annotated[int, Field(gt=0)] = DEFAULT_LIMIT
    language: NonEmpty | None = None


def graphemes(text: str) -> int:
    if _latin1(text) or _NOT_SIMPLE.search(text) is None:
        return len(text) - text.count("\r\n")
    # (imported here: most texts never need it, and it takes a while to import; it has no type hints)
    import grapheme  # type: ignore[import-untyped]

    return grapheme.length(text)


def _latin1(text: str) -> bool:
    """Whether every character is below U+0100 (all simple). The codec says it ten times
    faster than ``_NOT_SIMPLE`` on the French and English texts most campaigns write."""
    return len(text.encode("latin-1", "ignore")) == len(text)


def length(text: str, spoiler_text: str = "", url_length: int = URL_LENGTH) -> int:
    """Mastodon's count: each link counts ``url_length``, ``@user@domain`` counts as
    ``@user``, everything else in grapheme clusters; the content warning counts too."""
    counted = _URL.sub("x" * url_length, text) if "://" in text else text
    counted = _REMOTE_MENTION.sub(r"@\1", counted) if "@" in counted else counted
    return graphemes(counted) + (graphemes(spoiler_text) if spoiler_text else 0)


_ACCESS_TOKEN = re.compile(r"[A-Za-z0-9_.~+/=-]+")


class MastodonSettings(BaseModel):
    """``RELAIS_MASTODON_URL``, ``RELAIS_MASTODON_TOKEN`` and ``RELAIS_MASTODON_STREAMING``."""

    mastodon_url: str | None = None
    mastodon_token: SecretStr | None = None
    mastodon_streaming: bool = True  # read Mastodon's streams; polling alone when false

    @field_validator("mastodon_url", mode="before")
    @classmethod
    def _mastodon_url(cls, value: Any) -> str | None:
        if value is None:
            return None
        return server_url(
            str(value),
            "give the instance's address alone, like https://mastodon.example (http or https, a host, "
            "an optional port)",
        )

    @field_validator("mastodon_token", mode="before")
    @classmethod
    def _mastodon_token(cls, value: Any) -> Any:
        if value is None:
            return None
        if not _ACCESS_TOKEN.fullmatch(plain(value)):
            raise ValueError(
                "this is not an access token (letters, digits and - _ . ~ + / = only): copy it again "
                "from Preferences > Development on the instance"
            )
        return value


class Mastodon(Profile):
    name = NAME
    title = "Mastodon"
    flavour = Flavour.PLAIN
    adapter = "bot.adapters.mastodon"
    channel_spec = MastodonChannelSpec
    settings = MastodonSettings
    quiet_loggers = ("urllib3",)  # under Mastodon.py (requests): a line per request at DEBUG
    repeat_window = IDEMPOTENCY_WINDOW
    lookups = True  # GET /api/v1/statuses/:id
    credentials = ("RELAIS_MASTODON_URL", "RELAIS_MASTODON_TOKEN")
    # Mastodon allows an account 300 requests in 5 minutes, shared with collecting and
    # publishing: favourites take at most 10 + 60 of them.
    acknowledgements = Pacing(burst=10, every=5.0)

    def channel(self, name: str, spec: Any) -> Channel:
        return Channel(
            name,
            NAME,
            visibility=spec.visibility,
            max_characters=spec.max_characters,
            language=spec.language,
        )

    def length(self, shown: str, warning: str | None = None) -> int:
        return length(shown, warning or "")

    def limit(self, channel: Channel, media: bool) -> int:
        return channel.max_characters or DEFAULT_LIMIT

    def what(self, media: bool) -> str:
        return "post"

    def linked_id(self, url: str) -> str | None:
        return status_id(url)

    def author_url(self, handle: str) -> str | None:
        if handle.count("@") != 2:  # @user@instance
            return None
        user, host = handle.lstrip("@").split("@", 1)
        return f"https://{host}/@{user}"

    async def check(self, inspector: Any, campaigns: Sequence[Campaign], settings: Any) -> list[Finding]:
        from bot.networks.mastodon_check import check_mastodon

        return await check_mastodon(inspector, campaigns)

    def image_problems(self, info: ImageInfo, shown: str) -> list[str]:
        found = []
        w, h = info.width, info.height
        if info.size > IMAGE_BYTES:
            found.append(
                f"{shown} is {info.size / 2**20:.1f} MB; Mastodon takes images of at most 16 MB: {_FIX_BYTES}"
            )
        if info.format == "GIF" and w * h > GIF_PIXELS:
            found.append(
                f"{shown} is a {w}x{h} GIF; Mastodon takes GIFs of at most 1280x720 pixels: resize it, "
                "or save it as PNG"
            )
        elif w * h > IMAGE_PIXELS:
            found.append(
                f"{shown} is {w}x{h} pixels ({w * h / 1e6:.1f} megapixels); Mastodon takes images of at "
                "most 33.2 megapixels (7680x4320): resize it"
            )
        return found


PROFILE: Profile = Mastodon()


_STATUS_URL = re.compile(r"https?://[^/\s]+/(?:@[^/\s]+|users/[^/\s]+/statuses)/(\d+)/?")


def status_id(url: str) -> str | None:
    """The id of a status from its link (``https://instance/@account/123`` or its
    ``/users/account/statuses/123`` form), or None."""
    found = _STATUS_URL.fullmatch(url.strip())
    return found.group(1) if found else None

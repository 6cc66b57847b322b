"""Publishing to one Mastodon account (``MastodonSender``). Posts carry an
``Idempotency-Key`` derived from the publication's key alone, so sending a publication again
after a timeout, a lost connection or a crash returns the status already created instead of
a second one (the server remembers keys for about an hour)."""

from __future__ import annotations

import asyncio
import hashlib
import time

from bot.adapters.mastodon.client import MastodonClient, get_field, unless_gone
from bot.domain import Media, Publication
from bot.networks.mastodon import DEFAULT_LIMIT as MASTODON_DEFAULT_LIMIT
from bot.networks.mastodon import URL_LENGTH as MASTODON_URL_LENGTH
from bot.networks.mastodon import length as mastodon_length
from bot.ports import OnWire, PermanentError, Receipt, TemporaryError

MEDIA_PROCESSING_TIMEOUT = 120.0
MEDIA_POLL_INTERVALS = (0.5, 1.0, 2.0, 5.0)  # then 5 s until the timeout


def idempotency_key(publication: Publication) -> str:
    """The same for every attempt at one publication, in any process, and nothing else."""
    return "relais-" + hashlib.sha256(publication.key.encode("utf-8")).hexdigest()[:40]


def language_subtag(language: str) -> str | None:
    """Mastodon wants ISO 639 ("fr"), not a full BCP 47 tag ("fr-CA")."""
    primary = language.replace("_", "-").split("-", 1)[0].strip().lower()
    return primary or None


class MastodonSender(MastodonClient):
    """Publishes to the Mastodon account that ``token`` belongs to."""

    def __init__(self, api_base_url: str, token: str, *, timeout: float = 15.0) -> None:
        super().__init__(api_base_url, token, timeout=timeout)
        self._max_characters = MASTODON_DEFAULT_LIMIT
        self._url_length = MASTODON_URL_LENGTH
        self._account: str | None = None
        self._started = False

    def __repr__(self) -> str:
        return f"MastodonSender({self._base_url!r}, account={self._account!r})"

    @property
    def max_characters(self) -> int:
        """The instance's limit for a status, content warning included."""
        return self._max_characters

    @property
    def url_length(self) -> int:
        """How many characters the instance counts for each link."""
        return self._url_length

    @property
    def account(self) -> str | None:
        """The account's ``acct`` (e.g. "relais"), once ``start()`` has checked the token."""
        return self._account

    async def start(self) -> None:
        instance = await self._call(unless_gone, self._api.instance_v2)  # None before Mastodon 4.0
        statuses = get_field(get_field(instance, "configuration"), "statuses")
        self._max_characters = _positive_int(get_field(statuses, "max_characters"), MASTODON_DEFAULT_LIMIT)
        self._url_length = _positive_int(
            get_field(statuses, "characters_reserved_per_url"), MASTODON_URL_LENGTH
        )
        account = await self._call(self._api.account_verify_credentials)
        self._account = str(get_field(account, "acct") or get_field(account, "username") or "") or None
        # media_post() picks /api/v2/media from the server's version; read it now, or it
        # would read it lazily and silently fall back to version 1.0.0 on a network error.
        await self._call(self._api.retrieve_mastodon_version, fail_hard=True)
        self._started = True

    async def publish(self, publication: Publication, *, on_wire: OnWire) -> Receipt:
        """Upload the media, then post the status; ``on_wire`` is awaited right before the
        status is posted (an upload publishes nothing)."""
        if not self._started:  # the instance was unreachable at start: ask again (a TemporaryError)
            await self.start()
        length = mastodon_length(publication.text, publication.warning or "", self._url_length)
        if length > self._max_characters:
            raise PermanentError(
                f"{publication.key}: the Mastodon instance allows {self._max_characters} characters "
                f"and the post has {length} (links count {self._url_length}, the content warning counts too)"
            )
        media_ids = [await self._upload(media) for media in publication.media]
        await on_wire()
        status = await self._call(
            self._api.status_post,
            publication.text,
            media_ids=media_ids or None,
            visibility=publication.channel.visibility,
            language=language_subtag(publication.language),
            spoiler_text=publication.warning or None,
            idempotency_key=idempotency_key(publication),
        )
        status_id = get_field(status, "id")
        if status_id is None:
            raise TemporaryError("Mastodon answered the post with something that is not a status")
        url = get_field(status, "url") or get_field(status, "uri")
        return Receipt(remote_id=str(status_id), url=str(url) if url else None)

    async def _upload(self, media: Media) -> str:
        """Upload one file and wait until the server has processed it (a 202 with
        ``url: null``). Not ``synchronous=True``: that polls every 5 s with no end and turns
        any error, network ones included, into "Attachment could not be processed"."""
        attachment = await self._call(self._api.media_post, media.path, description=media.alt)
        media_id = get_field(attachment, "id")
        if media_id is None:
            raise TemporaryError(f"Mastodon answered the upload of {media.path.name} with no media id")
        deadline = time.monotonic() + MEDIA_PROCESSING_TIMEOUT
        polls = 0
        while get_field(attachment, "url") is None:
            if time.monotonic() >= deadline:
                raise TemporaryError(
                    f"Mastodon was still processing {media.path.name} after {MEDIA_PROCESSING_TIMEOUT:.0f} s"
                )
            await asyncio.sleep(MEDIA_POLL_INTERVALS[min(polls, len(MEDIA_POLL_INTERVALS) - 1)])
            polls += 1
            attachment = await self._call(self._api.media, media_id)
        return str(media_id)


def _positive_int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default

"""The Mastodon channel: one account on one instance, through Mastodon.py.

Mastodon.py is synchronous (requests), so every call runs in a worker thread. It is built
with ``ratelimit_method="throw"``: the other methods ``time.sleep`` for minutes. Posts carry
an ``Idempotency-Key`` derived from the publication's key alone, so sending a publication
again after a timeout, a lost connection or a crash returns the status already created
instead of a second one (the server remembers keys for about an hour).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonIOError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
    MastodonVersionError,
)

from bot.channels import ChannelError, PermanentError, RateLimited, Receipt, TemporaryError
from bot.core.length import MASTODON_DEFAULT_LIMIT, MASTODON_URL_LENGTH, mastodon_length
from bot.domain import Media, Publication

T = TypeVar("T")

MIN_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 15 * 60.0
RETRY_AFTER_UNKNOWN = 60.0  # a 429 whose reset time is missing or already past
MEDIA_PROCESSING_TIMEOUT = 120.0
MEDIA_POLL_INTERVALS = (0.5, 1.0, 2.0, 5.0)  # then 5 s until the timeout


def idempotency_key(publication: Publication) -> str:
    """The same for every attempt at one publication, in any process, and nothing else."""
    return "relais-" + hashlib.sha256(publication.key.encode("utf-8")).hexdigest()[:40]


def language_subtag(language: str) -> str | None:
    """Mastodon wants ISO 639 ("fr"), not a full BCP 47 tag ("fr-CA")."""
    primary = language.replace("_", "-").split("-", 1)[0].strip().lower()
    return primary or None


class MastodonSender:
    """Publishes to the Mastodon account that ``token`` belongs to."""

    def __init__(self, api_base_url: str, token: str, *, timeout: float = 15.0) -> None:
        self._base_url = api_base_url.rstrip("/")
        self._api = Mastodon(
            access_token=token,
            api_base_url=self._base_url,
            request_timeout=timeout,
            ratelimit_method="throw",
            version_check_mode="none",
        )
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
        instance = await self._call(self._instance_v2_or_none)
        statuses = _get(_get(instance, "configuration"), "statuses")
        self._max_characters = _positive_int(_get(statuses, "max_characters"), MASTODON_DEFAULT_LIMIT)
        self._url_length = _positive_int(_get(statuses, "characters_reserved_per_url"), MASTODON_URL_LENGTH)
        account = await self._call(self._api.account_verify_credentials)
        self._account = str(_get(account, "acct") or _get(account, "username") or "") or None
        # media_post() picks /api/v2/media from the server's version; read it now, or it
        # would read it lazily and silently fall back to version 1.0.0 on a network error.
        await self._call(self._api.retrieve_mastodon_version, fail_hard=True)
        self._started = True

    async def publish(self, publication: Publication) -> Receipt:
        if not self._started:
            raise RuntimeError("MastodonSender.start() must succeed before publish()")
        length = mastodon_length(publication.text, publication.warning or "", self._url_length)
        if length > self._max_characters:
            raise PermanentError(
                f"{publication.key}: the Mastodon instance allows {self._max_characters} characters "
                f"and the post has {length} (links count {self._url_length}, the content warning counts too)"
            )
        media_ids = [await self._upload(media) for media in publication.media]
        status = await self._call(
            self._api.status_post,
            publication.text,
            media_ids=media_ids or None,
            visibility=publication.channel.visibility,
            language=language_subtag(publication.language),
            spoiler_text=publication.warning or None,
            idempotency_key=idempotency_key(publication),
        )
        status_id = _get(status, "id")
        if status_id is None:
            raise TemporaryError("Mastodon answered the post with something that is not a status")
        url = _get(status, "url") or _get(status, "uri")
        return Receipt(remote_id=str(status_id), url=str(url) if url else None)

    async def close(self) -> None:
        session = getattr(self._api, "session", None)
        if session is not None:
            session.close()

    def _instance_v2_or_none(self) -> object:
        try:
            return self._api.instance_v2()
        except MastodonNotFoundError:
            return None  # before Mastodon 4.0: keep the default limits

    async def _upload(self, media: Media) -> str:
        """Upload one file and wait until the server has processed it (a 202 with
        ``url: null``). Not ``synchronous=True``: that polls every 5 s with no end and turns
        any error, network ones included, into "Attachment could not be processed"."""
        attachment = await self._call(self._api.media_post, media.path, description=media.alt)
        media_id = _get(attachment, "id")
        if media_id is None:
            raise TemporaryError(f"Mastodon answered the upload of {media.path.name} with no media id")
        deadline = time.monotonic() + MEDIA_PROCESSING_TIMEOUT
        polls = 0
        while _get(attachment, "url") is None:
            if time.monotonic() >= deadline:
                raise TemporaryError(
                    f"Mastodon was still processing {media.path.name} after {MEDIA_PROCESSING_TIMEOUT:.0f} s"
                )
            await asyncio.sleep(MEDIA_POLL_INTERVALS[min(polls, len(MEDIA_POLL_INTERVALS) - 1)])
            polls += 1
            attachment = await self._call(self._api.media, media_id)
        return str(media_id)

    async def _call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one Mastodon.py call in a thread; its errors come out as ChannelErrors."""

        def run() -> T:
            try:
                return method(*args, **kwargs)
            except (MastodonError, ValueError) as exc:
                # ratelimit_reset is shared by every call: read it in this thread, right away.
                raise self._translate(exc) from exc

        return await asyncio.to_thread(run)

    def _translate(self, exc: MastodonError | ValueError) -> ChannelError:
        if isinstance(exc, MastodonVersionError) and isinstance(exc.__cause__, MastodonError):
            exc = exc.__cause__  # retrieve_mastodon_version(fail_hard=True) wraps the real one
        if isinstance(exc, MastodonRatelimitError):
            retry_after = self._retry_after()
            return RateLimited(f"Mastodon's rate limit is reached: retry in {retry_after:.0f} s", retry_after)
        if isinstance(exc, MastodonNetworkError):
            # A timeout or a dropped connection: the post may exist, but sending it again
            # with the same idempotency key returns it rather than posting twice.
            cause = type(exc.__context__).__name__ if exc.__context__ else "network error"
            return TemporaryError(f"no answer from Mastodon at {self._base_url} ({cause})")
        if isinstance(exc, MastodonServerError):
            return TemporaryError(f"Mastodon answered with a server error: {_describe(exc)}")
        if isinstance(exc, MastodonUnauthorizedError):
            return PermanentError(
                "Mastodon refused the access token (RELAIS_MASTODON_TOKEN): "
                f"{_server_message(exc) or 'unauthorized'}. "
                f"Check that it belongs to an account on {self._base_url} and has not been revoked."
            )
        if isinstance(exc, MastodonAPIError):
            status = _http_status(exc)
            if status is None:  # 2xx but not JSON: the same key will fetch what was created
                return TemporaryError("Mastodon's answer was not valid JSON")
            if status == 408:
                return TemporaryError(f"Mastodon timed out reading the request: {_describe(exc)}")
            return PermanentError(f"Mastodon refused the request: {_describe(exc)}")
        if isinstance(exc, ValueError | MastodonIOError):
            # Refused before sending: a bad visibility, a media file missing or of unknown type.
            return PermanentError(self._redact(f"Mastodon.py refused the request: {exc}"))
        return TemporaryError(f"Mastodon.py failed: {type(exc).__name__}")

    def _retry_after(self) -> float:
        reset = self._api.ratelimit_reset
        if reset is None:
            return RETRY_AFTER_UNKNOWN
        return min(max(float(reset) - time.time(), MIN_RETRY_AFTER), MAX_RETRY_AFTER)

    def _redact(self, text: str) -> str:
        token = self._api.access_token
        return text.replace(token, "[token]") if token else text


def _get(obj: object, name: str) -> Any:
    """A field of a JSON object, or None when the answer does not have that shape."""
    return obj.get(name) if isinstance(obj, Mapping) else None


def _positive_int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def _http_status(exc: MastodonAPIError) -> int | None:
    """Mastodon.py raises HTTP errors as (text, status, reason, error); others have no status."""
    return exc.args[1] if len(exc.args) >= 4 and isinstance(exc.args[1], int) else None


def _server_message(exc: MastodonAPIError) -> str | None:
    message = exc.args[3] if _http_status(exc) is not None else None
    return str(message) if message else None


def _describe(exc: MastodonAPIError) -> str:
    status = _http_status(exc)
    if status is None:
        return type(exc).__name__
    return f"{status} {_server_message(exc) or exc.args[2] or ''}".strip()

"""Mastodon's transport: one Mastodon.py client for one account, every call run in a worker
thread (the library is synchronous, and built with ``ratelimit_method="throw"``: the other
methods ``time.sleep`` for minutes), its errors translated into those of ``bot.ports``."""

from __future__ import annotations

import asyncio
import logging
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

from bot.ports import ChannelError, PermanentError, RateLimited, TemporaryError
from bot.redact import redact

T = TypeVar("T")
log = logging.getLogger(__package__)  # one logger for the adapter

MIN_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 15 * 60.0
RETRY_AFTER_UNKNOWN = 60.0  # a 429 whose reset time is missing or already past


class MastodonClient:
    """What the sender and the reader share: one Mastodon.py client for the account that
    ``token`` belongs to, every call run in a worker thread, its errors translated into
    ChannelErrors."""

    def __init__(self, api_base_url: str, token: str, *, timeout: float = 15.0) -> None:
        self._base_url = api_base_url.rstrip("/")
        self._api = Mastodon(
            access_token=token,
            api_base_url=self._base_url,
            request_timeout=timeout,
            ratelimit_method="throw",
            version_check_mode="none",
        )

    async def close(self) -> None:
        session = getattr(self._api, "session", None)
        if session is not None:
            session.close()

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
            status = http_status(exc)
            if status is None:  # 2xx but not JSON: asking again (with the same key) is safe
                return TemporaryError("Mastodon's answer was not valid JSON")
            if status == 408:
                return TemporaryError(f"Mastodon timed out reading the request: {_describe(exc)}")
            return PermanentError(f"Mastodon refused the request: {_describe(exc)}")
        if isinstance(exc, ValueError | MastodonIOError):
            # Refused before sending: a bad visibility, a media file missing or of unknown type.
            token = str(self._api.access_token or "")
            return PermanentError(redact(f"Mastodon.py refused the request: {exc}", token))
        return TemporaryError(f"Mastodon.py failed: {type(exc).__name__}")

    def _retry_after(self) -> float:
        reset = self._api.ratelimit_reset
        if reset is None:
            return RETRY_AFTER_UNKNOWN
        return min(max(float(reset) - time.time(), MIN_RETRY_AFTER), MAX_RETRY_AFTER)


def get_field(obj: object, name: str) -> Any:
    """A field of a JSON object, or None when the answer does not have that shape."""
    return obj.get(name) if isinstance(obj, Mapping) else None


def http_status(exc: MastodonAPIError) -> int | None:
    """Mastodon.py raises HTTP errors as (text, status, reason, error); others have no status."""
    return exc.args[1] if len(exc.args) >= 4 and isinstance(exc.args[1], int) else None


def _server_message(exc: MastodonAPIError) -> str | None:
    message = exc.args[3] if http_status(exc) is not None else None
    return str(message) if message else None


def _describe(exc: MastodonAPIError) -> str:
    status = http_status(exc)
    if status is None:
        return type(exc).__name__
    return f"{status} {_server_message(exc) or exc.args[2] or ''}".strip()


def unless_gone(method: Callable[..., T], *args: Any) -> T | None:
    """``method(*args)``, or None when the server answers 404 Not Found or 410 Gone."""
    try:
        return method(*args)
    except MastodonAPIError as exc:
        if isinstance(exc, MastodonNotFoundError) or http_status(exc) == 410:
            return None
        raise

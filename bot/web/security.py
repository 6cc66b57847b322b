"""Sessions, CSRF tokens and slowed logins.

A session is a signed cookie (itsdangerous) holding ids only: the moderator's id, the
epoch of their password (a new password ends the sessions of the old one) and a random
session id, of which the CSRF token is an HMAC, and the account's random session key (ids can be
reused; the key cannot). Every visitor gets a session id before
logging in (the login form carries a token too); logging in gives a new one. The cookie is
``HttpOnly``, ``SameSite=Strict``, and ``Secure`` when the page is served over HTTPS (seen
directly, or through a proxy's ``X-Forwarded-Proto`` when ``RELAIS_WEB_BEHIND_PROXY`` says
to trust it).

Failed logins are counted per name and per address: after ``FREE_FAILURES`` the next
attempt must wait, twice as long each time (up to ``MAX_WAIT``), whatever the password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "relais_session"
LANGUAGE_COOKIE = "relais_lang"
SESSION_AGE = 12 * 3600  # a working day; then log in again
FREE_FAILURES = 3
FIRST_WAIT = timedelta(seconds=2)
MAX_WAIT = timedelta(minutes=15)


@dataclass(frozen=True)
class Session:
    sid: str  # random, per session: the CSRF token is derived from it
    moderator: int | None = None
    epoch: int | None = None
    key: str | None = None  # the account's random session key (ids can be reused)


class Sessions:
    def __init__(self, key: str) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="relais-desk-session")
        self._csrf_key = hashlib.sha256(("csrf:" + key).encode()).digest()

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=SESSION_AGE)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("s"), str):
            return None
        moderator, epoch, key = data.get("m"), data.get("e"), data.get("k")
        if isinstance(moderator, int) and isinstance(epoch, int) and isinstance(key, str):
            return Session(data["s"], moderator, epoch, key)
        return Session(data["s"])

    @staticmethod
    def new(moderator: int | None = None, epoch: int | None = None, key: str | None = None) -> Session:
        return Session(secrets.token_urlsafe(16), moderator, epoch, key)

    def write(self, response: Response, session: Session, *, secure: bool) -> None:
        data: dict[str, object] = {"s": session.sid}
        if session.moderator is not None:
            data |= {"m": session.moderator, "e": session.epoch, "k": session.key}
        response.set_cookie(
            COOKIE,
            self._serializer.dumps(data),
            max_age=SESSION_AGE,
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/",
        )

    def csrf(self, session: Session) -> str:
        return hmac.new(self._csrf_key, session.sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        return bool(session and token and hmac.compare_digest(self.csrf(session), token))


@dataclass
class _Failures:
    count: int = 0
    last: datetime | None = None


@dataclass
class LoginThrottle:
    """How long a login attempt must wait, after failures for this name or this address."""

    failures: dict[str, _Failures] = field(default_factory=dict)

    def wait(self, keys: list[str], now: datetime) -> timedelta:
        """How long until an attempt for ``keys`` is heard (zero: now)."""
        longest = timedelta(0)
        for key in keys:
            found = self.failures.get(key)
            if found is None or found.count < FREE_FAILURES or found.last is None:
                continue
            delay = min(FIRST_WAIT * 2 ** (found.count - FREE_FAILURES), MAX_WAIT)
            longest = max(longest, found.last + delay - now)
        return longest

    def failed(self, keys: list[str], now: datetime) -> None:
        for key in keys:
            found = self.failures.setdefault(key, _Failures())
            found.count += 1
            found.last = now
        if len(self.failures) > 10_000:  # a flood of names: forget the oldest
            oldest = sorted(self.failures, key=lambda k: self.failures[k].last or now)[:5_000]
            for key in oldest:
                del self.failures[key]

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self.failures.pop(key, None)

"""Secrets out of text, for log lines and error messages: one function, one placeholder.

``Redactor`` replaces the secrets it is given (as written, and as written in a URL), what
its ``shapes`` recognise as secrets by their look (a network profile's ``redact``: Telegram
bot tokens), and bearer values. The logs build one from the settings (``bot.logs``); an
adapter redacts its own token with ``redact(text, token)``. Nothing here is process-wide:
whoever redacts holds the secrets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote

REDACTED = "[redacted]"  # what a secret becomes in a log line or a message

# "Bearer <value>", or "bearer" in any case after "Authorization" (not "the bearer of news").
_BEARER = re.compile(r"\b(Bearer|BEARER|(?i:authorization\W{0,4}bearer))\s+[A-Za-z0-9._~+/=-]+")


@dataclass(frozen=True)
class Redactor:
    """Replaces ``secrets`` (longest first), then applies ``shapes``, then hides bearer values."""

    secrets: tuple[str, ...] = ()
    shapes: tuple[Callable[[str], str], ...] = ()

    @classmethod
    def of(cls, secrets: Iterable[str | None], shapes: Iterable[Callable[[str], str]] = ()) -> Redactor:
        """A redactor of ``secrets`` (blank ones ignored: they would hide everything), each also
        as a URL writes it (``p@ss`` as ``p%40ss``)."""
        given = {s for s in secrets if s and s.strip()}
        given |= {quote(s, safe="") for s in given}
        return cls(tuple(sorted(given, key=len, reverse=True)), tuple(shapes))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for shape in self.shapes:
            text = shape(text)
        return _BEARER.sub(rf"\1 {REDACTED}", text)


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with ``secrets`` and bearer values replaced by ``REDACTED``."""
    return Redactor.of(secrets)(text)

"""Language codes as campaigns write them (``fr``, ``fr-CA``, ``en``), checked against
the languages Babel knows, so that a wrong one is caught where it is written and not
when a template first formats a date in it."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from babel import Locale

from bot.core import i18n

_CODE = re.compile(r"[a-z]{2,3}(?:-(?:[A-Z]{2}|[0-9]{3}))?")
ACCEPTED = "a language code like fr, fr-CA or en"


def problem(code: str) -> str | None:
    """What is wrong with ``code`` and what to write instead, or None if it is fine."""
    if known(code):
        return None
    normal = _normal(code)
    if normal is not None:
        return f"unknown language {code!r}; write {normal}"
    named = _by_name().get(_fold(code))
    if named is not None:
        return f"unknown language {code!r}; write {ACCEPTED} ({named[1]} is {named[0]})"
    return f"unknown language {code!r}; write {ACCEPTED}"


def known(code: str) -> bool:
    if not _CODE.fullmatch(code):
        return False
    try:
        locale = i18n.locale_for(code)
    except i18n.UnknownLanguage:
        return False
    language, _, region = code.partition("-")
    # Babel fills in what it does not know ("en-ZZ" becomes en_US): only an exact match counts.
    return locale.language == language and (locale.territory or "") == region


def _normal(code: str) -> str | None:
    """``fr_CA``, ``FR``, ``fr-ca`` → ``fr-CA``, ``fr``, ``fr-CA`` (when that is known)."""
    parts = re.split(r"[-_ ]", code.strip())
    if not 1 <= len(parts) <= 2:
        return None
    normal = "-".join([parts[0].lower(), *(p.upper() for p in parts[1:])])
    return normal if normal != code and known(normal) else None


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _by_name() -> dict[str, tuple[str, str]]:
    """A language's name in English or French (``francais``, ``English``) → (code, name)."""
    found: dict[str, tuple[str, str]] = {}
    for shown in ("fr", "en"):
        for code, name in Locale(shown).languages.items():
            if _CODE.fullmatch(code) and "-" not in code and "_" not in code:
                found.setdefault(_fold(name), (code, Locale("en").languages.get(code, name)))
    return found

"""Dates and relative phrases written the way each language writes them (via Babel)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, format_timedelta

# How a full date and a time are joined. CLDR's own pattern ("{1}, {0}") reads poorly in
# a sentence, so the common languages get the connector they use in running text.
_DATE_AT_TIME = {"fr": "{date} à {time}", "en": "{date} at {time}", "es": "{date} a las {time}"}
_LIVE_NOW = {"fr": "en direct", "en": "live now", "es": "en directo"}


class UnknownLanguage(ValueError):
    pass


@lru_cache(maxsize=64)
def locale_for(language: str) -> Locale:
    """``fr-CA`` → Babel's ``fr_CA``. Raises ``UnknownLanguage``."""
    try:
        return Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        raise UnknownLanguage(f"unknown language {language!r}; use a code like fr, fr-CA or en") from None


@lru_cache(maxsize=4096)
def long_date(moment: datetime, language: str) -> str:
    """``mercredi 2 mai 2012`` (fr-CA)."""
    return format_date(moment, "full", locale=locale_for(language))


@lru_cache(maxsize=4096)
def short_time(moment: datetime, language: str) -> str:
    """``13 h 30`` and ``9 h`` (fr-CA), ``1:30 PM`` (en)."""
    locale = locale_for(language)
    if locale.language == "fr" and locale.territory == "CA":
        # Quebec usage (and the OQLF's): no leading zero, no " 00" for a whole hour;
        # CLDR's pattern gives "09 h 00".
        return f"{moment.hour} h" if moment.minute == 0 else f"{moment.hour} h {moment.minute:02d}"
    return format_time(moment, "short", tzinfo=moment.tzinfo, locale=locale)


def date_and_time(moment: datetime, language: str) -> str:
    """``mercredi 2 mai 2012 à 13 h 30`` (fr-CA)."""
    pattern = _DATE_AT_TIME.get(locale_for(language).language, "{date}, {time}")
    return pattern.format(date=long_date(moment, language), time=short_time(moment, language))


def duration(delta: timedelta, language: str) -> str:
    """``8 heures`` (fr), ``8 hours`` (en)."""
    return format_timedelta(delta, threshold=1.0, locale=locale_for(language))


def relative(when: datetime, event: datetime, language: str) -> str:
    """How a reminder sent at ``when`` speaks of an event at ``event``.

    ``demain`` / ``après-demain`` when the event falls one or two calendar days later,
    otherwise ``dans 1 heure``, ``dans 10 minutes``; ``en direct`` once it has begun.
    """
    locale = locale_for(language)
    if when >= event:
        return _LIVE_NOW.get(locale.language) or _cldr_relative(locale, "second", 0) or "live"
    days = (event.date() - when.date()).days
    if days in (1, 2) and event - when >= timedelta(hours=12):
        phrase = _cldr_relative(locale, "day", days)
        if phrase:
            return phrase
    return format_timedelta(event - when, threshold=1.0, add_direction=True, locale=locale)


def _cldr_relative(locale: Locale, field: str, offset: int) -> str | None:
    try:
        return locale._data["date_fields"][field]["relative"][offset]
    except KeyError:
        return None

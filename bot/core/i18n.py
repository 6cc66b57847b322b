"""Dates, durations and relative phrases written the way each language writes them (via
Babel and CLDR). Durations and "in ..." phrases are exact: never Babel's rounding
``format_timedelta``."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from babel.units import format_unit

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


def long_date(moment: datetime | date, language: str) -> str:
    """``mercredi 2 mai 2012`` (fr-CA)."""
    return _long_date(moment.date() if isinstance(moment, datetime) else moment, language)


@lru_cache(maxsize=4096)
def _long_date(day: date, language: str) -> str:
    # Cached by day, not by instant: Babel formats a datetime's date alone, and a campaign
    # has several publications a day (each one's first formatting cost 0.1 ms).
    return format_date(day, "full", locale=locale_for(language))


def short_time(moment: datetime, language: str) -> str:
    """``13 h 30`` and ``9 h`` (fr-CA), ``1:30 PM`` (en)."""
    locale = locale_for(language)
    if locale.language == "fr" and locale.territory == "CA":
        # Quebec usage (and the OQLF's): no leading zero, no " 00" for a whole hour;
        # CLDR's pattern gives "09 h 00". (Not cached: quicker to write than to look up.)
        return f"{moment.hour} h" if moment.minute == 0 else f"{moment.hour} h {moment.minute:02d}"
    return _cldr_time(moment, language)


@lru_cache(maxsize=4096)
def _cldr_time(moment: datetime, language: str) -> str:
    return format_time(moment, "short", tzinfo=moment.tzinfo, locale=locale_for(language))


def date_and_time(moment: datetime, language: str) -> str:
    """``mercredi 2 mai 2012 à 13 h 30`` (fr-CA)."""
    return _date_at_time(language).format(date=long_date(moment, language), time=short_time(moment, language))


@lru_cache(maxsize=64)
def _date_at_time(language: str) -> str:
    return _DATE_AT_TIME.get(locale_for(language).language, "{date}, {time}")


@lru_cache(maxsize=4096)
def duration(delta: timedelta, language: str) -> str:
    """``1 heure 30 minutes`` (fr), ``1 hour 30 minutes`` (en): every unit, never rounded.

    A stated duration is a published fact: it is never rounded (Babel's
    ``format_timedelta`` makes 1 h 30 "2 heures" on purpose). Each part is CLDR's own
    unit (``format_unit``: the word and its plural in every language), joined as
    ``_join_units`` explains. Seconds are said when there are any; zero is
    ``0 minute`` (fr) / ``0 minutes`` (en). Raises ``ValueError`` for a negative one.
    """
    if delta < timedelta(0):
        raise ValueError("a duration cannot be negative")
    locale = locale_for(language)
    parts = _parts(delta) or [(0, "minute")]
    return _join_units([_unit(count, unit, locale) for count, unit in parts], locale)


def relative(when: datetime, event: datetime, language: str) -> str:
    """How a reminder sent at ``when`` speaks of an event at ``event``, exactly.

    ``demain`` / ``après-demain`` when the event falls one or two calendar days later
    (in a language that has the word), ``en direct`` / ``live now`` once it has begun,
    otherwise the exact time left: ``dans 1 heure 30 minutes``, ``in 1 minute 30
    seconds`` (see ``_in``).
    """
    locale = locale_for(language)
    if when >= event:
        return _LIVE_NOW.get(locale.language) or _cldr_relative(locale, "second", 0) or "live"
    days = (event.date() - when.date()).days
    if days in (1, 2) and event - when >= timedelta(hours=12):
        phrase = _cldr_relative(locale, "day", days)
        if phrase:
            return phrase
    return _in(tuple(_parts(event - when)), locale)


def _parts(delta: timedelta) -> list[tuple[int, str]]:
    """``1 day, 1:30:00`` → ``[(1, "day"), (1, "hour"), (30, "minute")]``; zeros left out."""
    minutes, seconds = divmod(delta.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    counts = ((delta.days, "day"), (hours, "hour"), (minutes, "minute"), (seconds, "second"))
    return [(count, unit) for count, unit in counts if count]


def _unit(count: int, unit: str, locale: Locale) -> str:
    return _plain_spaces(format_unit(count, f"duration-{unit}", "long", locale=locale))


def _plain_spaces(text: str) -> str:
    """A plain space between a number and its word. CLDR's French data writes some units
    with a no-break space and others with a plain one (``1\u00a0heure``, ``30 minutes``);
    the relative-time patterns (``dans {0} heures``) and Relais's own ``13 h 30`` use plain
    spaces, so every phrase does. Spaces inside a number (``1 000``) are kept."""
    return _NUMBER_AND_WORD.sub(" ", text)


_NUMBER_AND_WORD = re.compile(r"(?<=\d)[\u00a0\u202f](?=\D)|(?<=\D)[\u00a0\u202f](?=\d)")

# How the parts of a duration are joined, where usage differs from CLDR's list of
# measures ("1 hour, 30 minutes", "1 heure et 30 minutes"). French follows the OQLF and
# the Translation Bureau for a stated duration: units written out in full (never mixed
# with symbols, "8 heures 5 min" being wrong), one after the other, without "et":
# "1 heure 30 minutes". Written out rather than the shorter "1 h 30" because a message
# also gives clock times as "13 h 30": "durée : 1 h 30" or "dans 1 h 30" could be read as
# a time of day, "1 heure 30 minutes" cannot. English says "1 hour 30 minutes" alike.
_UNIT_SEPARATOR = {"fr": " ", "en": " "}


def _join_units(parts: list[str], locale: Locale) -> str:
    """The parts joined with the language's CLDR list of units (``1 hora y 30 minutos``),
    except where ``_UNIT_SEPARATOR`` says otherwise.

    The patterns are read from CLDR's list data per key, not with Babel's ``format_list``:
    that takes a style whole, while CLDR gives many languages only part of the ``unit``
    style, the rest coming by CLDR's aliases from ``unit-short`` and then ``standard``.
    ``format_list`` then fails (a ``KeyError`` for Spanish and about fifty locales) or, in
    Arabic, writes the last part twice.
    """
    separator = _UNIT_SEPARATOR.get(locale.language)
    if separator is not None:
        return separator.join(parts)
    if len(parts) == 1:
        return parts[0]
    patterns = _unit_list_patterns(locale)
    if len(parts) == 2:
        return patterns["2"].format(*parts)
    text = patterns["start"].format(parts[0], parts[1])
    for part in parts[2:-1]:
        text = patterns["middle"].format(text, part)
    return patterns["end"].format(text, parts[-1])


@lru_cache(maxsize=64)
def _unit_list_patterns(locale: Locale) -> dict[str, str]:
    patterns = {"2": "{0}, {1}", "start": "{0}, {1}", "middle": "{0}, {1}", "end": "{0}, {1}"}  # CLDR root
    for style in ("standard", "unit-short", "unit"):
        patterns.update(locale.list_patterns.get(style, {}))
    return patterns


@lru_cache(maxsize=4096)
def _in(parts: tuple[tuple[int, str], ...], locale: Locale) -> str:
    """``dans 1 heure 30 minutes``, ``in 1 minute 30 seconds``, ``za 1 godzinę i 30 minut``.

    CLDR gives each unit's relative-time pattern (``date_fields``: ``dans {0} heures``),
    with the form the preposition asks for (Polish ``za 1 godzinę``, not ``1 godzina``),
    but nothing for a compound. One unit is CLDR's phrase itself. For several, where the
    units' patterns open with the same words (``dans ``, ``in ``, ``dentro de ``, ``za ``),
    those are said once and each part keeps the form its own pattern gives it, the parts
    joined as a duration's are. Otherwise (a language that puts the word after the
    number: Japanese ``30 分後``, Turkish ``30 dakika sonra``), the last part is CLDR's
    phrase and the others plain units before it: ``1 時間 30 分後``.

    Built from CLDR rather than from a table of "in {0}" per language so that it holds
    in every language a campaign can name; fr, en, es, de, pl and ja are checked by
    tests/test_durations.py.
    """
    patterns = [_future(locale, unit, count) for count, unit in parts]
    numbers = [format_decimal(count, locale=locale) for count, _unit_name in parts]
    opening = {_opening(locale, unit) for _count, unit in parts}
    if len(parts) > 1 and len(opening) == 1 and None not in opening:
        words = opening.pop() or ""
        if words and all(p is not None and p.startswith(words) for p in patterns):
            bodies = [
                _plain_spaces(p[len(words) :].replace("{0}", n))  # type: ignore[index]
                for p, n in zip(patterns, numbers, strict=True)
            ]
            return words + _join_units(bodies, locale)
    last = patterns[-1]
    if last is None:  # no relative-time data for the unit: the duration itself
        return _join_units([_unit(count, unit, locale) for count, unit in parts], locale)
    plain = [_unit(count, unit, locale) for count, unit in parts[:-1]]
    return _join_units([*plain, _plain_spaces(last.replace("{0}", numbers[-1]))], locale)


def _future(locale: Locale, unit: str, count: int) -> str | None:
    """CLDR's ``in {0} hours`` for ``count`` (its plural form), or None."""
    try:
        patterns = locale._data["date_fields"][unit]["future"]
        return patterns.get(locale.plural_form(count)) or patterns["other"]
    except KeyError:
        return None


def _opening(locale: Locale, unit: str) -> str | None:
    """The words before the number in ``unit``'s future pattern (``dans ``), or None."""
    pattern = _future(locale, unit, 1000)
    return pattern.split("{0}")[0] if pattern and "{0}" in pattern else None


def _cldr_relative(locale: Locale, field: str, offset: int) -> str | None:
    try:
        return locale._data["date_fields"][field]["relative"][offset]
    except KeyError:
        return None

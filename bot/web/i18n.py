"""The desk's languages: Quebec French by default, English on request.

Every string of the page goes through gettext (``_`` in the templates and here); the
catalogues are ``locale/<locale>/LC_MESSAGES/messages.po``, compiled to ``.mo`` files that
are committed beside them (``python -m bot.web.catalogues`` extracts, updates and compiles
them; a test fails when a ``.mo`` is behind its ``.po``). The message ids are English: the
English page needs no catalogue of its own. Dates are written by Babel in the campaign's
time zone, the way the language writes them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import DateTimePattern, parse_pattern
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from bot.services import moderation

LOCALES = Path(__file__).parent / "locale"
LANGUAGES = {"fr": "fr_CA", "en": "en_CA"}  # what the page offers, and the locale of each
DEFAULT = "fr"


def N_(message: str) -> str:
    """Marks a message id for extraction where it is defined; translated where shown."""
    return message


# Before a colon, French puts a no-break space; English puts none (a rule of the language's
# typography, not a message to translate).
COLONS = {"fr": "\u00a0: ", "en": ": "}


def language_of(asked: str | None) -> str:
    return asked if asked in LANGUAGES else DEFAULT


@cache
def translations(language: str) -> NullTranslations:
    if language == "en":
        return NullTranslations()
    return Translations.load(str(LOCALES), [LANGUAGES[language]], domain="messages")


@cache
def locale(language: str) -> Locale:
    return Locale.parse(LANGUAGES[language])


def when(moment: datetime | None, zone: tzinfo, language: str) -> str:
    """A date and time as the language writes them, in ``zone`` (2 mai 2012, 14 h 05)."""
    if moment is None:
        return ""
    day, hour = _patterns(language)
    local = moment.astimezone(zone)
    return f"{day.apply(local, locale(language))}, {hour.apply(local, locale(language))}"


def when_written(iso: str | None, language: str) -> str:
    """A time a document gives (ISO 8601, in its campaign's zone) as the language writes it."""
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso)
    return when(moment, moment.tzinfo or UTC, language)


@cache
def _patterns(language: str) -> tuple[DateTimePattern, DateTimePattern]:
    """The language's own patterns for a day and a time (CLDR's skeletons yMMMd and Hm),
    parsed once: a queue page writes a hundred dates."""
    skeletons = locale(language).datetime_skeletons
    return parse_pattern(skeletons["yMMMd"]), parse_pattern(skeletons["Hm"])


def number(n: int, language: str) -> str:
    return format_decimal(n, locale=locale(language))


# What a state or an event is called on the page (the store's words are English ids).
REPLY_WORDS = {
    "pending": N_("to review"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "flagged": N_("flagged"),
    "collected": N_("collected"),
    "edited": N_("edited"),
}
REASON_WORDS = {  # why a reply is rejected: the service's reason codes, and their names
    "spam": N_("Spam"),
    "off_topic": N_("Off topic"),
    "abusive": N_("Abusive"),
    "personal_information": N_("Personal information"),
    "other": N_("Other"),
}
PUBLICATION_WORDS = {
    "planned": N_("planned"),
    "pending": N_("waiting"),
    "sending": N_("sending"),
    "published": N_("published"),
    "failed": N_("failed"),
    "unknown": N_("outcome unknown"),
    "missed": N_("missed"),
}


def word(words: dict[str, str], said: str | None, language: str) -> str:
    """A state or an event as the page calls it, in ``language``."""
    if not said:
        return ""
    return translations(language).gettext(words.get(said, said))


# The reasons Relais itself gives to hold a reply, stored in English as
# ``bot.services.moderation`` writes them, and said here in the moderator's language; a
# moderator's own words are shown as written.
FLAG_WORDS = {
    moderation.BANNED_WORDS: N_("contains a banned word ({words})"),
    moderation.HAS_LINK: N_("contains a link"),
    moderation.REPEATED: N_("the same text was already posted by this author"),
    moderation.EDITED: N_("edited after it was {state}"),
}


def _with_details(text: str) -> re.Pattern[str]:
    """``text`` as a pattern in which each detail (``{words}``) matches any text."""
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+)", re.escape(text)), re.DOTALL)


_FLAG_PATTERNS = [(_with_details(stored), shown) for stored, shown in FLAG_WORDS.items()]


_DETAIL = re.compile(r"\s*\(?\{\w+\}\)?")  # "({words})", " {state}": a flag's detail


def flags_named(typed: str, language: str) -> tuple[str, ...]:
    """The words Relais stores for its flags that ``typed`` names in ``language`` (case
    aside): what the queue's "flag reason" filter also looks for. A flag as the page shows
    it, details included (``modifiée après avoir été approuvée``), is the one reason stored
    for it; a part of a flag's name (``lien``, ``mot interdit``) is the flag's words up to
    its first detail (``contains a banned word``), which every reason of that kind starts with."""
    wanted = " ".join(typed.lower().split())  # spaces as a person types them
    if not wanted:
        return ()
    found = []
    for stored, shown in FLAG_WORDS.items():
        said = translations(language).gettext(shown)
        if whole := _with_details(" ".join(said.lower().split())).fullmatch(wanted):
            values = whole.groupdict()
            if "state" in values:
                values["state"] = _unsaid(REPLY_WORDS, values["state"], language)
            found.append(stored.format(**values))
        elif wanted in " ".join(_DETAIL.sub("", said).lower().split()):
            found.append(_DETAIL.split(stored)[0].strip())
    return tuple(found)


def _unsaid(words: dict[str, str], said: str, language: str) -> str:
    """The store's word for what the page calls ``said`` (``approuvée``: ``approved``)."""
    for stored, shown in words.items():
        if translations(language).gettext(shown).lower() == said.lower():
            return stored
    return said


def flag(reason: str, language: str) -> str:
    """A reason a reply is held for review, in ``language``."""
    for pattern, shown in _FLAG_PATTERNS:
        if found := pattern.fullmatch(reason):
            values = found.groupdict()
            if "state" in values:
                values["state"] = word(REPLY_WORDS, values["state"], language)
            return translations(language).gettext(shown).format(**values)
    return reason

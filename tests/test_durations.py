"""Durations and relative phrases state exact values, in every language (issue 8, §3).

Golden values: what a follower reads. Babel's ``format_timedelta`` rounds on purpose
(a 1 h 30 town hall became "2 heures"), so none of these may go through it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.localedata import locale_identifiers

from bot.core import i18n

MONTREAL = ZoneInfo("America/Montreal")
EVENING = datetime(2012, 5, 2, 23, 59, tzinfo=MONTREAL)  # late: a reminder the same day is not "tomorrow"

DURATIONS = [
    # (duration, fr and fr-CA, en)
    (timedelta(0), "0 minute", "0 minutes"),
    (timedelta(seconds=90), "1 minute 30 secondes", "1 minute 30 seconds"),
    (timedelta(hours=1, minutes=1), "1 heure 1 minute", "1 hour 1 minute"),
    (timedelta(hours=1, minutes=30), "1 heure 30 minutes", "1 hour 30 minutes"),
    (timedelta(hours=23, minutes=59), "23 heures 59 minutes", "23 hours 59 minutes"),
    (timedelta(hours=1), "1 heure", "1 hour"),
    (timedelta(hours=8), "8 heures", "8 hours"),
    (timedelta(days=2), "2 jours", "2 days"),
    (timedelta(days=3, hours=2), "3 jours 2 heures", "3 days 2 hours"),
    (
        timedelta(days=1, hours=1, minutes=1, seconds=1),
        "1 jour 1 heure 1 minute 1 seconde",
        "1 day 1 hour 1 minute 1 second",
    ),
]


@pytest.mark.parametrize(("delta", "french", "english"), DURATIONS, ids=[str(d[0]) for d in DURATIONS])
def test_durations_are_exact(delta: timedelta, french: str, english: str) -> None:
    assert i18n.duration(delta, "fr-CA") == french
    assert i18n.duration(delta, "fr") == french
    assert i18n.duration(delta, "en") == english


RELATIVE = [
    # (reminder before the event, fr and fr-CA, en)
    (timedelta(seconds=90), "dans 1 minute 30 secondes", "in 1 minute 30 seconds"),
    (timedelta(hours=1, minutes=1), "dans 1 heure 1 minute", "in 1 hour 1 minute"),
    (timedelta(hours=1, minutes=30), "dans 1 heure 30 minutes", "in 1 hour 30 minutes"),
    (timedelta(hours=23, minutes=59), "dans 23 heures 59 minutes", "in 23 hours 59 minutes"),
    (timedelta(hours=1), "dans 1 heure", "in 1 hour"),
    (timedelta(minutes=10), "dans 10 minutes", "in 10 minutes"),
    (timedelta(seconds=1), "dans 1 seconde", "in 1 second"),
    (timedelta(0), "en direct", "live now"),
    (timedelta(days=3, hours=2), "dans 3 jours 2 heures", "in 3 days 2 hours"),
]


@pytest.mark.parametrize(("before", "french", "english"), RELATIVE, ids=[str(r[0]) for r in RELATIVE])
def test_relative_phrases_are_exact(before: timedelta, french: str, english: str) -> None:
    assert i18n.relative(EVENING - before, EVENING, "fr-CA") == french
    assert i18n.relative(EVENING - before, EVENING, "fr") == french
    assert i18n.relative(EVENING - before, EVENING, "en") == english


def test_calendar_days_keep_their_words() -> None:
    press = datetime(2012, 5, 2, 13, 30, tzinfo=MONTREAL)
    assert i18n.relative(press - timedelta(days=1), press, "fr-CA") == "demain"
    assert i18n.relative(press - timedelta(days=2), press, "fr-CA") == "après-demain"
    assert i18n.relative(press - timedelta(days=1, hours=1, minutes=30), press, "en") == "tomorrow"
    assert i18n.relative(press - timedelta(days=2), press, "en") == "in 2 days"


@pytest.mark.parametrize(
    ("language", "duration", "relative"),
    [
        ("es", "1 hora y 30 minutos", "dentro de 1 hora y 30 minutos"),
        ("de", "1 Stunde, 30 Minuten", "in 1 Stunde, 30 Minuten"),
        ("pl", "1 godzina i 30 minut", "za 1 godzinę i 30 minut"),
        ("ja", "1 時間 30 分", "1 時間 30 分後"),
        ("ar", "ساعة و30 دقيقة", "خلال ساعة واحدة و30 دقيقة"),  # Babel's format_list doubles the last part
    ],
)
def test_other_languages_use_cldr_units_and_lists(language: str, duration: str, relative: str) -> None:
    delta = timedelta(hours=1, minutes=30)
    assert i18n.duration(delta, language) == duration
    assert i18n.relative(EVENING - delta, EVENING, language) == relative


@pytest.mark.slow
def test_every_language_babel_knows_states_a_compound_duration() -> None:
    delta = timedelta(days=3, hours=2, minutes=5, seconds=9)
    for language in sorted({identifier.split("_")[0] for identifier in locale_identifiers()} - {"root"}):
        stated = i18n.duration(delta, language)
        soon = i18n.relative(EVENING - delta, EVENING, language)
        assert stated, language
        assert soon, language
        assert "{" not in stated + soon, language

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core import i18n

PRESS = datetime(2012, 5, 2, 13, 30, tzinfo=ZoneInfo("America/Montreal"))


def test_quebec_french_dates() -> None:
    assert i18n.date_and_time(PRESS, "fr-CA") == "mercredi 2 mai 2012 à 13 h 30"
    assert i18n.long_date(PRESS, "fr-CA") == "mercredi 2 mai 2012"
    assert i18n.short_time(PRESS, "fr-CA") == "13 h 30"
    assert i18n.short_time(PRESS.replace(hour=9, minute=0), "fr-CA") == "9 h"
    assert i18n.short_time(PRESS.replace(hour=9, minute=5), "fr-CA") == "9 h 05"


def test_english_dates() -> None:
    assert i18n.date_and_time(PRESS, "en") == "Wednesday, May 2, 2012 at 1:30\u202fPM"


@pytest.mark.parametrize(
    ("before", "french", "english"),
    [
        (timedelta(days=1), "demain", "tomorrow"),
        (timedelta(hours=1), "dans 1 heure", "in 1 hour"),
        (timedelta(minutes=10), "dans 10 minutes", "in 10 minutes"),
        (timedelta(0), "en direct", "live now"),
        (timedelta(days=3), "dans 3 jours", "in 3 days"),
    ],
)
def test_relative_phrases_of_reminders(before: timedelta, french: str, english: str) -> None:
    assert i18n.relative(PRESS - before, PRESS, "fr-CA") == french
    assert i18n.relative(PRESS - before, PRESS, "en") == english


def test_a_reminder_late_the_evening_before_is_not_tomorrow_but_in_hours() -> None:
    evening = PRESS.replace(hour=9) - timedelta(hours=10)  # 23:00 the day before a 09:00 event
    assert i18n.relative(evening, PRESS.replace(hour=9), "fr-CA") == "dans 10 heures"


def test_unknown_language() -> None:
    with pytest.raises(i18n.UnknownLanguage, match="unknown language 'zz-ZZ'"):
        i18n.locale_for("zz-ZZ")

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.times import TimeError, parse_duration, parse_reminder, parse_time

MONTREAL = ZoneInfo("America/Montreal")


def test_local_time_is_read_in_the_campaign_zone() -> None:
    assert parse_time("2012-05-02 13:30", MONTREAL) == datetime(2012, 5, 2, 17, 30, tzinfo=UTC)
    assert parse_time("2011-11-16 09:00", MONTREAL) == datetime(2011, 11, 16, 14, 0, tzinfo=UTC)


def test_explicit_offset_wins_over_the_zone() -> None:
    assert parse_time("2012-05-02T13:30:00+02:00", MONTREAL) == datetime(2012, 5, 2, 11, 30, tzinfo=UTC)
    assert parse_time("2012-05-02 13:30Z", MONTREAL) == datetime(2012, 5, 2, 13, 30, tzinfo=UTC)


def test_a_time_skipped_by_daylight_saving_is_refused() -> None:
    with pytest.raises(TimeError) as error:
        parse_time("2012-03-11 02:30", MONTREAL)
    assert str(error.value) == (
        "2012-03-11 02:30 does not exist in America/Montreal: the clocks skip it at the "
        "daylight saving time change; write the instant you mean with an explicit offset, "
        "e.g. 2012-03-11 02:30-05:00"
    )


def test_a_time_that_happens_twice_is_refused() -> None:
    with pytest.raises(TimeError) as error:
        parse_time("2011-11-06 01:30", MONTREAL)
    assert str(error.value) == (
        "2011-11-06 01:30 happens twice in America/Montreal (daylight saving time change); "
        "write it with an explicit offset: 2011-11-06 01:30-04:00 or 2011-11-06 01:30-05:00"
    )


def test_both_instants_of_an_ambiguous_time_can_be_written_with_offsets() -> None:
    first = parse_time("2011-11-06 01:30-04:00", MONTREAL)
    second = parse_time("2011-11-06 01:30-05:00", MONTREAL)
    assert second - first == timedelta(hours=1)


def test_times_just_around_the_change_are_fine() -> None:
    assert parse_time("2012-03-11 01:59", MONTREAL) == datetime(2012, 3, 11, 6, 59, tzinfo=UTC)
    assert parse_time("2012-03-11 03:00", MONTREAL) == datetime(2012, 3, 11, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["demain", "2012-05-02", "13:30", "2012-02-30 10:00", 42])
def test_what_is_not_a_date_and_time(text: object) -> None:
    with pytest.raises(TimeError):
        parse_time(text, MONTREAL)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(minutes=90)),
        ("90s", timedelta(seconds=90)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "15", "1 hour", "m", "-1h", "1h 30m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(TimeError, match="is not a duration; write it like 15m, 1h, 1h30m or 1d"):
        parse_duration(text)


def test_a_duration_past_the_maximum_is_refused_and_names_it() -> None:
    with pytest.raises(TimeError) as error:
        parse_duration("99999999999d")
    assert str(error.value) == (
        "'99999999999d' is longer than 365 days, the longest duration Relais takes; write at most 365d"
    )
    assert parse_duration("365d") == timedelta(days=365)
    with pytest.raises(TimeError, match="longer than 365 days"):
        parse_duration("8761h")
    with pytest.raises(TimeError, match="longer than 365 days"):
        parse_duration("9" * 5000 + "s")  # more digits than int() reads


def test_digits_are_ascii_digits() -> None:
    with pytest.raises(TimeError, match="is not a duration"):
        parse_duration("١h")  # an Arabic-Indic one
    with pytest.raises(TimeError, match="is not a date and time"):
        parse_time("٢٠١٢-05-02 13:30", MONTREAL)


def test_reminders_are_durations_or_start() -> None:
    assert parse_reminder("start") == timedelta(0)
    assert parse_reminder("1h30m") == timedelta(minutes=90)
    with pytest.raises(TimeError) as error:
        parse_reminder("une heure")
    assert str(error.value) == (
        "'une heure' is not a reminder; write how long before the start, like 1d, 1h or 10m, "
        "or start for the moment it begins"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "9999-12-31 23:30",
            "'9999-12-31 23:30': the year 9999 is out of range; Relais takes years from 1970 to 2999",
        ),
        (
            "0001-01-01 10:00+00:00",
            "'0001-01-01 10:00+00:00': the year 1 is out of range; Relais takes years from 1970 to 2999",
        ),
        (
            "2027-01-15 9:00",
            "'2027-01-15 9:00' is not a date and time: the hour needs two digits; write 2027-01-15 09:00",
        ),
        (
            "2027-1-5 09:00",
            "'2027-1-5 09:00' is not a date and time: the month and the day need two digits; "
            "write 2027-01-05 09:00",
        ),
        (
            "2027-02-30 09:00",
            "'2027-02-30 09:00' is not a date: February 2027 has 28 days; check the day "
            "(the last one is 2027-02-28 09:00)",
        ),
        (
            "2027-13-01 09:00",
            "'2027-13-01 09:00' is not a date: there is no month 13; months go from 01 to 12",
        ),
        (
            "2027-01-00 09:00",
            "'2027-01-00 09:00' is not a date: there is no day 00; days start at 01",
        ),
        (
            "2027-01-15 24:00",
            "'2027-01-15 24:00' is not a time: hours go from 00 to 23; "
            "midnight at the end of that day is 2027-01-16 00:00",
        ),
        (
            "2027-01-15 09:60",
            "'2027-01-15 09:60' is not a time: minutes go from 00 to 59",
        ),
        (
            "2027-01-15 09:00+25:00",
            "'2027-01-15 09:00+25:00' has an offset that cannot be: write it like -05:00 or +01:00 "
            "(less than 24 hours)",
        ),
        (
            "2027-01-15",
            "'2027-01-15' has no time of day; write it like 2027-01-15 09:00",
        ),
    ],
)
def test_what_is_wrong_with_a_date_is_said_with_an_example(text: str, message: str) -> None:
    with pytest.raises(TimeError) as error:
        parse_time(text, MONTREAL)
    assert str(error.value) == message


def test_the_year_bounds_are_inclusive() -> None:
    assert parse_time("1970-01-01 00:00Z", MONTREAL) == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_time("2999-12-31 23:30", MONTREAL) == datetime(3000, 1, 1, 4, 30, tzinfo=UTC)

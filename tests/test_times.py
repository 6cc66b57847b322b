from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.times import TimeError, format_duration, parse_duration, parse_time

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
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["", "15", "1 hour", "m", "-1h", "1h 30m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(TimeError, match="is not a duration; write it like 15m, 1h, 1h30m or 1d"):
        parse_duration(text)

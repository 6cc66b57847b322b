"""Property tests: whatever staff write as a time, a duration, an offset or a reminder, the
answer is a value or a plain problem, never another exception."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.core.campaigns import load_campaigns
from bot.core.times import (
    MAX_DURATION,
    MAX_YEAR,
    MIN_YEAR,
    TimeError,
    parse_duration,
    parse_reminder,
    parse_time,
)

SETTINGS = settings(max_examples=150, deadline=None, database=None)
MONTREAL = ZoneInfo("America/Montreal")
# Text that looks like what staff write, so that examples reach deep into the parsers.
TIME_ALPHABET = st.sampled_from([*"0123456789-: T+Z.dhms", "١", "\n", " "])
DURATION_TEXT = st.text(st.sampled_from(list("0123456789dhms ")), max_size=30)
BIG = st.integers(min_value=0, max_value=10**13)


def durations() -> st.SearchStrategy[str]:
    parts = st.tuples(*[st.none() | BIG for _ in "dhms"])
    return parts.map(lambda p: "".join(f"{n}{u}" for n, u in zip(p, "dhms", strict=True) if n is not None))


def stamps() -> st.SearchStrategy[str]:
    """A date and time written as staff would, from any datetime, maybe with an offset."""
    offsets = st.none() | st.integers(min_value=-30 * 60, max_value=30 * 60)
    patterns = st.sampled_from(["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f"])

    def write(moment: datetime, pattern: str, offset: int | None) -> str:
        text = f"{moment.year:04d}" + moment.strftime(pattern[2:])
        if offset is not None:
            sign = "-" if offset < 0 else "+"
            text += f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
        return text

    return st.builds(write, st.datetimes(), patterns, offsets)


def attempt(parse: Callable[..., Any], *args: object) -> Any:
    """What ``parse`` returns, or the ``TimeError`` it raised (any other exception escapes)."""
    try:
        return parse(*args)
    except TimeError as error:
        return error


def check_time(value: datetime) -> None:
    assert value.tzinfo is UTC
    assert MIN_YEAR - 1 <= value.year <= MAX_YEAR + 1


@pytest.mark.slow
@SETTINGS
@given(st.text() | DURATION_TEXT | durations())
def test_parse_duration_gives_a_bounded_duration_or_a_time_error(text: str) -> None:
    value = attempt(parse_duration, text)
    assert str(value)
    assert isinstance(value, TimeError) or timedelta(0) <= value <= MAX_DURATION


@pytest.mark.slow
@SETTINGS
@given(st.text() | durations() | st.just("start") | st.integers())
def test_parse_reminder_gives_a_duration_or_a_time_error(text: object) -> None:
    value = attempt(parse_reminder, text)
    assert isinstance(value, TimeError) or timedelta(0) <= value <= MAX_DURATION


@pytest.mark.slow
@SETTINGS
@given(st.text() | st.text(TIME_ALPHABET, max_size=40), st.timezones())
def test_parse_time_of_any_text_in_any_zone(text: str, zone: ZoneInfo) -> None:
    value = attempt(parse_time, text, zone)
    if not isinstance(value, TimeError):
        check_time(value)


@pytest.mark.slow
@SETTINGS
@given(stamps(), st.timezones())
@example("9999-12-31 23:30", MONTREAL)  # past the largest datetime once in UTC
@example("0001-01-01 00:30", MONTREAL)  # before the smallest one
@example("0001-01-01 10:00+00:00", MONTREAL)
def test_parse_time_of_any_datetime_in_any_zone(text: str, zone: ZoneInfo) -> None:
    value = attempt(parse_time, text, zone)
    if isinstance(value, TimeError):
        return
    check_time(value)
    if not re.search(r"[+-]\d\d:\d\d$", text):  # a local time comes back as it was written
        written = datetime.fromisoformat(text.replace(" ", "T"))
        assert value.astimezone(zone).replace(tzinfo=None) == written


@SETTINGS
@given(st.integers(min_value=-48 * 60, max_value=48 * 60))
def test_offsets_are_read_exactly_or_refused(minutes: int) -> None:
    sign = "-" if minutes < 0 else "+"
    text = f"2012-05-02 13:30{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    value = attempt(parse_time, text, MONTREAL)
    if isinstance(value, TimeError):
        assert abs(minutes) >= 24 * 60, value
        return
    assert value == datetime(2012, 5, 2, 13, 30, tzinfo=UTC) - timedelta(minutes=minutes)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    starts=stamps(),
    length=st.integers(min_value=-10, max_value=10**6),
    reminders=st.lists(durations() | st.just("start"), max_size=4, unique=True),
    grace=durations(),
)
@pytest.mark.slow
@example(starts="0001-01-01 10:00+00:00", length=60, reminders=["1d"], grace="15m")
@example(starts="2012-05-02 13:30", length=60, reminders=["99999999999d"], grace="99999999999d")
def test_reminder_arithmetic_on_a_whole_campaign(
    tmp_path: Path, starts: str, length: int, reminders: list[str], grace: str
) -> None:
    """Reminders before a start, the grace after a time, the conversions to local time: a
    campaign loads into publications or into problems with a file:line:column."""
    (tmp_path / "messages").mkdir(exist_ok=True)
    schedules = tmp_path / "schedules"
    schedules.mkdir(exist_ok=True)
    try:
        ends = (datetime.fromisoformat(starts.replace(" ", "T")) + timedelta(minutes=length)).isoformat()
    except (OverflowError, ValueError):
        ends = "9999-12-31T23:59:00"
    (schedules / "c.yaml").write_text(
        textwrap.dedent(f"""\
            campaign: essai
            timezone: America/Montreal
            channels:
              masto: {{network: mastodon}}
            grace: "{grace}"
            livestreams:
              - id: direct
                title: Direct
                starts: "{starts}"
                ends: "{ends}"
                remind: [{", ".join(f'"{r}"' for r in reminders)}]
                text: "{{{{ relative }}}} {{{{ starts|datetime }}}} {{{{ duration|duration }}}}"
            """),
        encoding="utf-8",
    )
    result = load_campaigns([schedules], tmp_path / "messages")
    for problem in result.problems:
        assert re.match(r"^.*schedules/c\.yaml:\d+:\d+: \S", str(problem)), problem
    for campaign in result.campaigns:
        for publication in campaign.publications:
            check_time(publication.at)
            assert publication.local_at.tzinfo is not None

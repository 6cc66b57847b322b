"""Reading times and durations written by staff.

Every value is bounded so that no arithmetic done with it later (a reminder before a
start, a grace period after a time, a conversion between zones) can overflow: times are
between ``MIN_YEAR`` and ``MAX_YEAR``, durations at most ``MAX_DURATION``. Anything else
is a ``TimeError`` whose message says what is wrong and how to write it.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

MIN_YEAR = 1970
MAX_YEAR = 2999
MAX_DURATION = timedelta(days=365)
START = "start"  # the reminder sent when a livestream begins

# ASCII digits only ([0-9], not \d, which takes any script's digits), and few of them:
# int() refuses numbers of more than 4300 digits.
_DURATION = re.compile(r"(?:([0-9]{1,12})d)?(?:([0-9]{1,12})h)?(?:([0-9]{1,12})m)?(?:([0-9]{1,12})s)?")
_LONG_DURATION = re.compile(r"(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?")
_DATETIME = re.compile(
    r"([0-9]{1,9})-([0-9]{1,9})-([0-9]{1,9})"
    r"(?:[T ]([0-9]{1,9}):([0-9]{1,9})(?::([0-9]{1,9})(\.[0-9]{1,9})?)?)?"
    r"\s*(Z|[+-][0-9]{1,4}(?::[0-9]{1,2})?)?"
)
# The common form, ``2012-05-02 13:30``, read without the checks that explain a mistake.
_USUAL = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})")
_EXAMPLE = "write it like 2012-05-02 13:30 (local time) or 2012-05-02 13:30-04:00"


class TimeError(ValueError):
    """A time or duration that cannot be used; the message says how to fix it."""


def parse_duration(text: object) -> timedelta:
    """``15m``, ``1h``, ``1h30m``, ``1d``, ``90s``; at most ``MAX_DURATION``."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        if isinstance(text, str) and text.strip() and _LONG_DURATION.fullmatch(text.strip()):
            raise TimeError(_too_long(text))
        raise TimeError(f"{text!r} is not a duration; write it like 15m, 1h, 1h30m or 1d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total > MAX_DURATION.total_seconds():
        raise TimeError(_too_long(str(text)))
    return timedelta(seconds=total)


def _too_long(text: str) -> str:
    days = MAX_DURATION.days
    return (
        f"{text.strip()!r} is longer than {days} days, the longest duration Relais takes; "
        f"write at most {days}d"
    )


def parse_reminder(text: object) -> timedelta:
    """How long before a livestream's start a reminder goes out: a duration, or ``start``."""
    if text == START:
        return timedelta(0)
    try:
        return parse_duration(text)
    except TimeError as exc:
        if "longer than" in str(exc):
            raise
        raise TimeError(
            f"{text!r} is not a reminder; write how long before the start, like 1d, 1h or 10m, "
            "or start for the moment it begins"
        ) from None


def parse_time(text: object, zone: ZoneInfo) -> datetime:
    """A date and time, local to ``zone`` unless it carries an offset; returned in UTC.

    Local times that do not exist or happen twice at a daylight-saving change are
    refused: only an explicit offset says which instant is meant.
    """
    value = _usual(text) if isinstance(text, str) else None
    if value is None:
        match = _DATETIME.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise TimeError(f"{text!r} is not a date and time; {_EXAMPLE}")
        value = _checked(str(text), match)
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    # Both readings of the local time (fold 0, fold 1); made rather than ``replace``d, whose
    # keyword arguments cost twice as much (this runs once per post and reminder).
    first = datetime.combine(value.date(), value.time(), zone)
    v = value
    second = datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    shown = value.strftime("%Y-%m-%d %H:%M")
    offsets = [_offset(first), _offset(second)]  # earlier instant first
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
        raise TimeError(
            f"{shown} does not exist in {zone.key}: the clocks skip it at the daylight "
            f"saving time change; write the instant you mean with an explicit offset, "
            f"e.g. {shown}{offsets[0]}"
        )
    raise TimeError(
        f"{shown} happens twice in {zone.key} (daylight saving time change); write it "
        f"with an explicit offset: {shown}{offsets[0]} or {shown}{offsets[1]}"
    )


def _usual(text: str) -> datetime | None:
    """``2012-05-02 13:30`` as a local time, if it is written that way and is a valid one
    (anything else, valid or not, is left to ``_checked``)."""
    match = _USUAL.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute = map(int, match.groups())
    try:
        value = datetime(year, month, day, hour, minute)
    except ValueError:
        return None
    return value if MIN_YEAR <= value.year <= MAX_YEAR else None


def _checked(text: str, match: re.Match[str]) -> datetime:
    """The date and time ``match`` read, or a ``TimeError`` saying which part is wrong."""
    year_s, month_s, day_s, hour_s, minute_s, second_s, fraction, offset = match.groups()
    shown = repr(text)
    if hour_s is None:
        raise TimeError(f"{shown} has no time of day; write it like {text.strip()} 09:00")
    written = {"month": month_s, "day": day_s, "hour": hour_s, "minute": minute_s, "second": second_s}
    if len(year_s) != 4 or any(len(digits) > 2 for digits in written.values() if digits):
        raise TimeError(f"{shown} is not a date and time; {_EXAMPLE}")
    narrow = [name for name, digits in written.items() if digits and len(digits) == 1]
    if narrow:
        fixed = f"{year_s}-{month_s:0>2}-{day_s:0>2} {hour_s:0>2}:{minute_s:0>2}"
        fixed += (f":{second_s:0>2}" if second_s else "") + (fraction or "") + (offset or "")
        parts = " and ".join(f"the {name}" for name in narrow)
        raise TimeError(
            f"{shown} is not a date and time: {parts} need{'s' * (len(narrow) == 1)} two digits; "
            f"write {fixed}"
        )
    year, month, day, hour, minute = (int(s) for s in (year_s, month_s, day_s, hour_s, minute_s))
    second = int(second_s or 0)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise TimeError(
            f"{shown}: the year {year} is out of range; Relais takes years from {MIN_YEAR} to {MAX_YEAR}"
        )
    if not 1 <= month <= 12:
        raise TimeError(f"{shown} is not a date: there is no month {month_s}; months go from 01 to 12")
    last = calendar.monthrange(year, month)[1]
    if day == 0:
        raise TimeError(f"{shown} is not a date: there is no day 00; days start at 01")
    if day > last:
        raise TimeError(
            f"{shown} is not a date: {calendar.month_name[month]} {year} has {last} days; check the day "
            f"(the last one is {year}-{month:02d}-{last:02d} {hour_s}:{minute_s})"
        )
    if hour == 24 and minute == 0 and second == 0:
        after = datetime(year, month, day) + timedelta(days=1)
        raise TimeError(
            f"{shown} is not a time: hours go from 00 to 23; midnight at the end of that day "
            f"is {after:%Y-%m-%d} 00:00"
        )
    for name, value, top in (("hours", hour, 23), ("minutes", minute, 59), ("seconds", second, 59)):
        if value > top:
            raise TimeError(f"{shown} is not a time: {name} go from 00 to {top}")
    iso = f"{year_s}-{month_s}-{day_s}T{hour_s}:{minute_s}" + (f":{second_s}" if second_s else "")
    iso += fraction or ""
    try:
        return datetime.fromisoformat(iso + (offset or ""))
    except ValueError:
        raise TimeError(
            f"{shown} has an offset that cannot be: write it like -05:00 or +01:00 (less than 24 hours)"
        ) from None


def _offset(moment: datetime) -> str:
    minutes = int(moment.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"

"""Reading times and durations written by staff."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?")


class TimeError(ValueError):
    """A time or duration that cannot be used; the message says how to fix it."""


def parse_duration(text: str) -> timedelta:
    """``15m``, ``1h``, ``1h30m``, ``1d``, ``90s``."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise TimeError(f"{text!r} is not a duration; write it like 15m, 1h, 1h30m or 1d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The inverse of ``parse_duration``: ``timedelta(hours=1, minutes=30)`` → ``1h30m``."""
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def parse_time(text: object, zone: ZoneInfo) -> datetime:
    """A date and time, local to ``zone`` unless it carries an offset; returned in UTC.

    Local times that do not exist or happen twice at a daylight-saving change are
    refused: only an explicit offset says which instant is meant.
    """
    if not isinstance(text, str) or not _DATETIME.fullmatch(text.strip()):
        raise TimeError(
            f"{text!r} is not a date and time; write it like 2012-05-02 13:30 "
            "(local time) or 2012-05-02 13:30-04:00"
        )
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise TimeError(f"{text!r} is not a valid date and time") from None
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    first = value.replace(tzinfo=zone, fold=0)
    second = value.replace(tzinfo=zone, fold=1)
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


def _offset(moment: datetime) -> str:
    minutes = int(moment.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"

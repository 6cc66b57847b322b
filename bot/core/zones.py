"""Time zone names: which ones name a place, and what to write instead of the others.

The tz database keeps old names for compatibility: fixed offsets (``EST``, ``Etc/GMT+5``)
that never change for daylight saving time, POSIX-style rules (``EST5EDT``), and aliases
(``US/Eastern``, ``Canada/Eastern``, ``Japan``). They load, so they are warnings, not
errors; a campaign should name the place its audience lives in (``America/Toronto``).
Names under a continent or ocean (``America/Montreal``, an alias of ``America/Toronto``
but a place) are fine.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

PLACES = frozenset(
    {
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    }
)
UTC_NAMES = frozenset({"UTC", "Etc/UTC"})
# Loadable names that are no place at all: the server's own zone, and tzdata's placeholder.
NOT_PLACES = frozenset({"localtime", "Factory"})
# North American names whose tz database target (EST → America/Panama) is not what a team
# writing them means; the project's first campaigns are Canadian.
_MEANT = {
    "EST": "America/Toronto",
    "EST5EDT": "America/Toronto",
    "CST6CDT": "America/Winnipeg",
    "MST": "America/Edmonton",
    "MST7MDT": "America/Edmonton",
    "PST8PDT": "America/Vancouver",
    "HST": "Pacific/Honolulu",
}
# A place for each whole-hour standard offset, to suggest instead of Etc/GMT±N.
_BY_OFFSET = {
    -10: "Pacific/Honolulu",
    -9: "America/Anchorage",
    -8: "America/Vancouver",
    -7: "America/Edmonton",
    -6: "America/Winnipeg",
    -5: "America/Toronto",
    -4: "America/Halifax",
    -3: "America/Sao_Paulo",
    0: "Europe/London",
    1: "Europe/Paris",
    2: "Europe/Athens",
    3: "Europe/Istanbul",
    4: "Asia/Dubai",
    5: "Asia/Karachi",
    7: "Asia/Bangkok",
    8: "Asia/Shanghai",
    9: "Asia/Tokyo",
    10: "Australia/Brisbane",
    12: "Pacific/Auckland",
}


def advice(name: str) -> str | None:
    """Why ``name`` (a zone that loads) should not be used and what to write, or None."""
    if name in UTC_NAMES or name.split("/")[0] in PLACES:
        return None
    zone = ZoneInfo(name)
    target = _links().get(name)
    place = _MEANT.get(name) or (target if target and target.split("/")[0] in PLACES else None)
    january, july = (zone.utcoffset(datetime(2025, month, 1)) or timedelta(0) for month in (1, 7))
    if name not in _MEANT and place is not None:
        return f"'{name}' is an old name for {place}, kept for compatibility; write timezone: {place}"
    if january != july:
        return (
            f"'{name}' is an old name kept for compatibility; write the time zone of the place, {_eg(place)}"
        )
    if not january:
        return (
            f"'{name}' is UTC all year, with no daylight saving time; write timezone: UTC if that "
            "is what you mean, or the time zone of the place, e.g. timezone: Europe/London"
        )
    hours, rest = divmod(int(january.total_seconds()), 3600)
    return (
        f"'{name}' is UTC{_hours(january)} all year, with no daylight saving time; write the time "
        f"zone of the place, {_eg(place or (None if rest else _BY_OFFSET.get(hours)))}"
    )


def _eg(place: str | None) -> str:
    return f"e.g. timezone: {place}" if place else "an IANA name such as America/Toronto"


def _hours(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@lru_cache(maxsize=1)
def _links() -> dict[str, str]:
    """Alias → target, from the ``L`` lines of the tz database's ``tzdata.zi``."""
    text = _tzdata_zi() or ""
    return {
        parts[2]: parts[1]
        for line in text.splitlines()
        if line.startswith("L ") and len(parts := line.split()) == 3
    }


def _tzdata_zi() -> str | None:
    """The tz database's summary, where ``zoneinfo`` finds its data: the system's, else the
    tzdata package's."""
    for directory in zoneinfo.TZPATH:
        path = Path(directory) / "tzdata.zi"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    import importlib.resources  # (here: only a warning about an old zone name needs it)

    try:
        return importlib.resources.files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text(encoding="utf-8")
    except (ModuleNotFoundError, OSError):
        return None


_TOP_LEVEL = re.compile(r"^(campaign|timezone)\s*:\s*['\"]?([^'\"#\s]+)", re.MULTILINE)


def campaign_zones(directory: Path) -> dict[str, ZoneInfo]:
    """Each campaign's zone, read from the top-level ``campaign:`` and ``timezone:`` of the
    YAML files in ``directory`` without loading them (a command that shows times needs no
    more); a file without both, or with a zone that does not load, is left out."""
    found: dict[str, ZoneInfo] = {}
    try:
        paths = sorted(directory.glob("*.y*ml"))
    except OSError:
        return found
    for path in paths:
        try:
            keys = dict(_TOP_LEVEL.findall(path.read_text(encoding="utf-8", errors="replace")))
            if "campaign" in keys and "timezone" in keys:
                found[keys["campaign"]] = ZoneInfo(keys["timezone"])
        except (OSError, ValueError, zoneinfo.ZoneInfoNotFoundError):
            continue
    return found

"""Which replies a ``relais comments`` command is about: the filter options that ``list``
and the decisions share, turned into the moderation service's query, and the campaigns'
zones their dates are read in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click

from bot.cli.common import EXIT_INVALID, Network, fail, settings
from bot.domain import TEXT_CRITERIA, CommentQuery, CommentState, ReasonCode

REASON_CODES = tuple(code.value for code in ReasonCode)
UTC_ZONE = ZoneInfo("UTC")
# The options that select replies, by their parameter names: a state, and the query's words.
FILTERS = ("state", *TEXT_CRITERIA)


def zones(ctx: click.Context) -> Callable[[str | None], ZoneInfo]:
    """Each campaign's zone, from the campaign files (UTC for a campaign they do not name)."""
    from bot.core.zones import campaign_zones

    found = campaign_zones(settings(ctx).schedules_dir)
    return lambda campaign: found.get(campaign or "", UTC_ZONE)


class When(click.ParamType):
    """A date (``2012-05-02``) or a time (``2012-05-02 14:00``), naive: read in the campaign's
    zone. Gives the datetime and whether a time of day was given."""

    name = "DATE"
    FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        for fmt in self.FORMATS:
            try:
                return datetime.strptime(str(value).strip(), fmt), "%H" in fmt
            except ValueError:
                continue
        self.fail(f"{value!r} is not a date like 2012-05-02 or a time like '2012-05-02 14:00'", param, ctx)
        return None  # (fail raises)


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that select replies, shared by ``list`` and the decisions."""
    options = [
        click.option(
            "--status",
            "state",
            type=click.Choice([s.value for s in CommentState]),
            help="Only replies in this state.",
        ),
        click.option("--search", metavar="TEXT", help="Only replies containing these words."),
        click.option("--campaign", metavar="SLUG", help="Only replies to this campaign."),
        click.option(
            "--network", type=Network(), help="Only from this network."
        ),
        click.option("--language", metavar="CODE", help="Only in this language (fr also selects fr-CA)."),
        click.option("--author", metavar="HANDLE", help="Only by this author (handle as shown, or id)."),
        click.option(
            "--flag-reason",
            "reason",
            metavar="TEXT",
            help="Only those whose reason contains this (a flag's: link, banned word).",
        ),
        click.option(
            "--code",
            "reason_code",
            type=click.Choice(REASON_CODES),
            help="A rejection's reason code: only those rejected for it (reject: the code it gives).",
        ),
        click.option("--by", "decided_by", metavar="NAME", help="Only those last decided by this moderator."),
        click.option(
            "--since",
            type=When(),
            help="Posted at or after (in the campaign's zone with --campaign, else UTC).",
        ),
        click.option(
            "--until",
            type=When(),
            help="Posted before (a date alone: up to the end of that day).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def query_of(ctx: click.Context, given: dict[str, Any]) -> CommentQuery | None:
    """The query the filter options ask for; None when none was given."""
    if not any(given.get(k) for k in (*FILTERS, "since", "until")):
        return None
    zone = zones(ctx)(given.get("campaign")) if given.get("campaign") else UTC_ZONE

    def aware(given: tuple[datetime, bool] | None, end: bool = False) -> datetime | None:
        if given is None:
            return None
        value, timed = given
        try:
            if end and not timed:  # --until 2012-05-02: that day included
                value += timedelta(days=1)
            return value.replace(tzinfo=zone).astimezone(UTC)
        except OverflowError:
            fail(f"{value:%Y-%m-%d} is out of range: no reply is dated so far", EXIT_INVALID)

    state = given.get("state")
    texts: dict[str, Any] = {name: given.get(name) for name in TEXT_CRITERIA}  # each str | None
    return CommentQuery(
        states=(state,) if state else (),
        since=aware(given.get("since")),
        until=aware(given.get("until"), end=True),
        **texts,
    )

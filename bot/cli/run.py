"""``relais run``: the bot, or a rehearsal of the campaigns on the console."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from bot.cli.campaigns import load
from bot.cli.common import fail, serving, settings, store_url
from bot.domain import PublicationState

if TYPE_CHECKING:
    from bot.domain import Campaign
    from bot.ports import Source
    from bot.settings import Settings


@click.command()
@click.option(
    "--dry-run", is_flag=True, help="Replace every channel with the console: nothing is sent or recorded."
)
@click.option(
    "--from",
    "start",
    metavar="DATE",
    help="With --dry-run: rehearse on a simulated clock from DATE "
    "(2011-09-01 or 2011-09-01 09:00, in the campaign's time zone).",
)
@click.option(
    "--speed",
    type=float,
    metavar="N",
    help="With --from: simulated seconds per real second (default: as fast as possible).",
)
@click.pass_context
def run(ctx: click.Context, dry_run: bool, start: str | None, speed: float | None) -> None:
    """Run the bot: publish on time, reload schedules/ when it changes, stop cleanly on
    SIGTERM or Ctrl-C (a send in flight is allowed to finish).

    Needs the credentials of every network the campaigns use (see .env.example);
    with --dry-run, none.

    \b
    Example (a rehearsal of the whole sample campaign, no account needed):
      relais run --dry-run --from 2011-09-01
    """
    if (start or speed) and not dry_run:
        raise click.UsageError("--from and --speed rehearse a campaign: use them with --dry-run")
    if speed is not None and start is None:
        raise click.UsageError("--speed needs --from")
    if speed is not None and speed <= 0:
        raise click.UsageError("--speed must be a positive number")
    given = settings(ctx)
    import asyncio

    from bot import app
    from bot.logs import configure_logging
    from bot.store import StoreLocationError
    from bot.store.database import StoreError

    configure_logging(given.secrets(), given.log_level, given.log_format)
    # In JSON, what the campaign files say is logged too: one object a line for journald.
    import logging

    say = logging.getLogger("bot.campaigns").warning if given.log_format == "json" else None
    campaigns = load(ctx, [], keep_going=start is None, say=say)
    if start is not None:
        rehearse(given, campaigns, start, speed)
        return
    try:
        if dry_run:
            from rich.console import Console

            senders = app.console_senders(Console(highlight=False))
            sources: dict[str, Source] = {}  # a rehearsal collects nothing
            url = "sqlite://"
        else:
            url = store_url(ctx)
            networks = app.networks_used(campaigns)
            senders = app.build_senders(given, networks)
            sources = app.build_sources(given, networks)
        serving()
        asyncio.run(
            app.serve(given, campaigns, senders, database_url=url, sources=sources, check=not dry_run)
        )
    except (app.SetupError, StoreError, StoreLocationError) as error:
        fail(str(error))


def rehearse(settings: Settings, campaigns: list[Campaign], start_text: str, speed: float | None) -> None:
    """The campaigns on the console, on a simulated clock from ``start_text``."""
    import asyncio

    from rich.console import Console

    from bot import app

    zone = campaigns[0].timezone if campaigns else ZoneInfo("UTC")
    start = parse_start(start_text, zone)
    console = Console(highlight=False)
    console.print(
        f"Rehearsal from {start.astimezone(zone):%Y-%m-%d %H:%M %Z} on the console: nothing is sent.\n",
        style="dim",
    )
    app.quiet_logging_for_rehearsal()
    serving()
    counts = asyncio.run(
        app.rehearse(
            campaigns,
            app.console_senders(console),
            start,
            speed,
            settings.schedules_dir,
            settings.messages_dir,
        )
    )
    published = counts.get(PublicationState.PUBLISHED, 0)
    missed = counts.get(PublicationState.MISSED, 0)
    tail = f", {missed} before {start_text} skipped" if missed else ""
    console.print(f"{published} publications rehearsed{tail}.", style="dim")


def parse_start(text: str, zone: ZoneInfo) -> datetime:
    from bot.core.times import TimeError, parse_time

    candidate = text.strip()
    if len(candidate) == 10:  # a date alone: its midnight
        candidate += " 00:00"
    try:
        return parse_time(candidate, zone)
    except TimeError as exc:
        raise click.BadParameter(str(exc), param_hint="--from") from None

"""The ``relais`` command: a thin shell over the library.

Exit codes: 0 success, 1 failure while running, 2 invalid campaign files or usage.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import click

from bot import __version__
from bot.clock import SimulatedClock, SystemClock
from bot.core.campaigns import LoadResult, display_path, load_campaigns
from bot.core.times import TimeError, parse_time
from bot.domain import Campaign, Publication, PublicationState
from bot.settings import Settings

EXIT_INVALID = 2


def _settings(ctx: click.Context) -> Settings:
    return ctx.ensure_object(dict).setdefault("settings", Settings())


def _load(settings: Settings, paths: Sequence[Path]) -> list[Campaign]:
    """Load the campaigns or exit 2 after printing every problem on stderr."""
    result: LoadResult = load_campaigns(list(paths) or [settings.schedules_dir], settings.messages_dir)
    if not result.ok:
        for problem in result.problems:
            click.echo(str(problem), err=True)
        count = len(result.problems)
        click.echo(f"{count} problem{'s' if count > 1 else ''}; nothing was changed.", err=True)
        sys.exit(EXIT_INVALID)
    return result.campaigns


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"relais: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="relais")
def main() -> None:
    """Relais publishes a campaign's posts and livestream reminders to Telegram and
    Mastodon, collects the replies that carry its hashtag, and helps moderators
    review and export them.

    Campaigns live in schedules/*.yaml, message templates in messages/. Settings come
    from the environment or .env (see .env.example).
    """


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Check campaign files and their templates.

    Prints every problem of every file, one a line, as file:line:column: message, and
    exits with status 2; prints a summary and exits 0 when all is well.

    \b
    Example:
      relais validate
      relais validate schedules/gouverner-ensemble.yaml
    """
    campaigns = _load(_settings(ctx), paths)
    for campaign in campaigns:
        count = len(campaign.publications)
        click.echo(
            f"{campaign.source}: {campaign.slug}: {count} publication{'s' * (count != 1)} "
            f"on {len(campaign.channels)} channel{'s' * (len(campaign.channels) != 1)}"
        )
    click.echo("ok")


@main.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def plan(ctx: click.Context, fmt: str, paths: tuple[Path, ...]) -> None:
    """Show every publication: when, where, and the text as each network will get it.

    \b
    Example:
      relais plan
      relais plan --format json | jq '.publications[] | select(.channel == "mastodon")'
    """
    campaigns = _load(_settings(ctx), paths)
    publications = sorted(
        (p for c in campaigns for p in c.publications), key=lambda p: (p.at, p.campaign, p.id, p.channel.name)
    )
    states = {p.key: PublicationState.PENDING for p in publications}
    if fmt == "json":
        document = {"publications": [_plan_row(p, states[p.key]) for p in publications]}
        click.echo(json.dumps(document, ensure_ascii=False, indent=2 if sys.stdout.isatty() else None))
        return
    _plan_table(publications, states)


def _plan_row(publication: Publication, state: PublicationState) -> dict[str, Any]:
    return {
        "id": publication.id,
        "campaign": publication.campaign,
        "channel": publication.channel.name,
        "network": str(publication.channel.network),
        "local_time": publication.local_at.isoformat(),
        "utc_time": publication.at.isoformat(),
        "timezone": publication.timezone.key,
        "state": str(state),
        "text": publication.text,
        "length": publication.length,
        "limit": publication.limit,
        "media": [{"file": display_path(m.path), "alt": m.alt} for m in publication.media],
        "warning": publication.warning,
    }


def _plan_table(publications: list[Publication], states: dict[str, PublicationState]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("local time", no_wrap=True)
    table.add_column("UTC", no_wrap=True, style="dim")
    table.add_column("campaign", no_wrap=True)
    table.add_column("publication", no_wrap=True, style="green")
    table.add_column("channel", no_wrap=True, style="cyan")
    table.add_column("state", no_wrap=True)
    table.add_column("length", justify="right", no_wrap=True)
    table.add_column("text", no_wrap=True, overflow="ellipsis", max_width=60)
    for p in publications:
        table.add_row(
            p.local_at.strftime("%Y-%m-%d %H:%M %Z"),
            p.at.strftime("%Y-%m-%d %H:%M"),
            p.campaign,
            p.id,
            p.channel.name,
            str(states[p.key]),
            f"{p.length}/{p.limit}",
            " ".join(p.text.split()),
        )
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 200
    console.print(table)
    click.echo(f"{len(publications)} publications")


@main.command()
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
    """Run the bot: publish on time, collect replies, reload schedules/ when it changes.

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
    settings = _settings(ctx)
    campaigns = _load(settings, [])
    if not dry_run:
        _fail("publishing to the networks is not available yet; use --dry-run to rehearse")
    _rehearse(campaigns, start, speed)


def _rehearse(campaigns: list[Campaign], start_text: str | None, speed: float | None) -> None:
    from rich.console import Console

    from bot.adapters.console import ConsoleSender
    from bot.services.rehearsal import rehearse

    console = Console(highlight=False)
    if start_text is None:
        clock: SimulatedClock | SystemClock = SystemClock()
        start = clock.now()
    else:
        zone = campaigns[0].timezone if campaigns else ZoneInfo("UTC")
        start = _parse_start(start_text, zone)
        clock = SimulatedClock(start, speed)
    sender = ConsoleSender(console)
    publications = [p for c in campaigns for p in c.publications]
    zone = publications[0].timezone if publications else ZoneInfo("UTC")
    console.print(
        f"Rehearsal from {start.astimezone(zone):%Y-%m-%d %H:%M %Z} on the console: nothing is sent.\n",
        style="dim",
    )
    import asyncio

    sent = asyncio.run(rehearse(publications, clock, lambda _p: sender, start=start))
    console.print(f"{sent} publications rehearsed.", style="dim")


def _parse_start(text: str, zone: ZoneInfo) -> datetime:
    candidate = text.strip()
    if len(candidate) == 10:  # a date alone: its midnight
        candidate += " 00:00"
    try:
        return parse_time(candidate, zone)
    except TimeError as exc:
        raise click.BadParameter(str(exc), param_hint="--from") from None

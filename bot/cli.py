"""The ``relais`` command: a thin shell over the library.

Exit codes: 0 success, 1 failure while running, 2 invalid campaign files or usage.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import click
from sqlalchemy.exc import SQLAlchemyError

from bot import __version__
from bot.core.campaigns import LoadResult, display_path, load_campaigns
from bot.core.times import TimeError, parse_time
from bot.domain import Campaign, Publication, PublicationState
from bot.settings import Settings
from bot.store.db import StoreError

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
    settings = _settings(ctx)
    from bot import app
    from bot.logs import configure_logging

    configure_logging(settings.secrets(), settings.log_level)
    campaigns = _load(settings, [])
    if start is not None:
        _rehearse(settings, campaigns, start, speed)
        return
    try:
        if dry_run:
            from rich.console import Console

            senders = app.console_senders(Console(highlight=False))
            url = "sqlite://"
        else:
            senders = app.build_senders(settings, app.networks_used(campaigns))
            url = settings.database_url.get_secret_value()
        asyncio.run(app.serve(settings, campaigns, senders, database_url=url))
    except (app.SetupError, StoreError) as error:
        _fail(str(error))


def _rehearse(settings: Settings, campaigns: list[Campaign], start_text: str, speed: float | None) -> None:
    from rich.console import Console

    from bot import app

    zone = campaigns[0].timezone if campaigns else ZoneInfo("UTC")
    start = _parse_start(start_text, zone)
    console = Console(highlight=False)
    console.print(
        f"Rehearsal from {start.astimezone(zone):%Y-%m-%d %H:%M %Z} on the console: nothing is sent.\n",
        style="dim",
    )
    app.quiet_logging_for_rehearsal()
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


def _parse_start(text: str, zone: ZoneInfo) -> datetime:
    candidate = text.strip()
    if len(candidate) == 10:  # a date alone: its midnight
        candidate += " 00:00"
    try:
        return parse_time(candidate, zone)
    except TimeError as exc:
        raise click.BadParameter(str(exc), param_hint="--from") from None


@main.group()
def db() -> None:
    """The store (RELAIS_DATABASE_URL)."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or migrate the store's tables to the current version (relais run does it too)."""
    from bot.store import db as store_db

    url = _settings(ctx).database_url.get_secret_value()
    try:
        engine = store_db.create(url)
        store_db.upgrade(engine)
        engine.dispose()
    except (StoreError, SQLAlchemyError) as error:
        _fail(f"cannot migrate {store_db.safe_url(url)}: {error.__class__.__name__}")
    click.echo(f"{store_db.safe_url(url)}: up to date")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--next", "upcoming", type=int, default=10, show_default=True, help="How many upcoming publications."
)
@click.pass_context
def status(ctx: click.Context, fmt: str, upcoming: int) -> None:
    """What was published, what failed, what is in doubt or was missed (with why), and what
    is next. Reads the store only: it never changes it.

    \b
    Example:
      relais status
      relais status --format json | jq '.publications[] | select(.state == "unknown")'
    """
    from bot.store import db as store_db
    from bot.store.ledger import Ledger

    url = _settings(ctx).database_url.get_secret_value()
    if store_db.missing_file(url):
        _fail(f"{store_db.safe_url(url)} does not exist: nothing was published from this directory yet")
    try:
        engine = store_db.create(url)
        current = store_db.is_current(engine)
    except (StoreError, SQLAlchemyError) as error:
        _fail(f"cannot read {store_db.safe_url(url)}: {error.__class__.__name__}")
    if not current:
        _fail(f"{store_db.safe_url(url)} holds no Relais store yet (`relais db upgrade` creates it)")
    rows = sorted(Ledger(engine, "status").rows().values(), key=lambda r: (r.due_at, r.key))
    engine.dispose()
    done = [r for r in rows if r.state != PublicationState.PENDING]
    pending = [r for r in rows if r.state == PublicationState.PENDING][:upcoming]
    counts = {state.value: sum(r.state == state for r in rows) for state in PublicationState}
    if fmt == "json":
        document = {
            "counts": counts,
            "publications": [_status_row(r) for r in done],
            "next": [_status_row(r) for r in pending],
        }
        click.echo(json.dumps(document, ensure_ascii=False, indent=2 if sys.stdout.isatty() else None))
        return
    _status_tables(counts, done, pending)


def _status_row(row: Any) -> dict[str, Any]:
    return {
        "campaign": row.campaign,
        "id": row.publication,
        "channel": row.channel,
        "network": row.network,
        "due": row.due_at.isoformat(),
        "state": row.state,
        "attempts": row.attempts,
        "reason": row.last_error,
        "remote_id": row.remote_id,
        "url": row.remote_url,
        "finished": row.finished_at.isoformat() if row.finished_at else None,
    }


def _status_tables(counts: dict[str, int], done: list[Any], pending: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 200
    console.print(", ".join(f"{n} {state}" for state, n in counts.items() if n) or "nothing recorded yet")
    for title, rows, last in (
        ("Done", done, "result"),
        ("Next", pending, ""),
    ):
        if not rows:
            continue
        table = Table(title=title, title_justify="left", box=None, header_style="bold", pad_edge=False)
        for column in ("due (UTC)", "campaign", "publication", "channel", "state", last):
            table.add_column(column, overflow="fold")
        for r in rows:
            result = (
                r.remote_url or r.remote_id or "" if r.state == PublicationState.PUBLISHED else r.last_error
            )
            style = {"failed": "red", "unknown": "yellow", "missed": "magenta"}.get(r.state, "")
            table.add_row(
                r.due_at.strftime("%Y-%m-%d %H:%M"),
                r.campaign,
                r.publication,
                r.channel,
                f"[{style}]{r.state}[/]" if style else r.state,
                result or "" if last else "",
            )
        console.print()
        console.print(table)

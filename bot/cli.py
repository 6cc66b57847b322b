"""The ``relais`` command: a thin shell over the library.

Exit codes: 0 success, 1 failure while running, 2 invalid campaign files or usage.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import click

from bot import __version__
from bot.clock import SystemClock
from bot.core.campaigns import LoadResult, display_path, load_campaigns
from bot.core.times import TimeError, parse_time
from bot.domain import Campaign, CommentState, Publication, PublicationState
from bot.settings import Settings, unknown_variables
from bot.store import StoreLocationError, location, missing_file

EXIT_INVALID = 2


def _settings(ctx: click.Context) -> Settings:
    """The settings, checked: a warning per unknown RELAIS_* variable, and for values that
    cannot work one line each naming the variable and the fix, then exit 2."""
    state = ctx.ensure_object(dict)
    if "settings" not in state:
        import os

        from pydantic import ValidationError

        for warning in unknown_variables(os.environ):
            click.echo(f"relais: warning: {warning}", err=True)
        try:
            state["settings"] = Settings()
        except ValidationError as error:
            for problem in error.errors(include_url=False, include_input=False):
                cause = problem.get("ctx", {}).get("error")
                message = str(cause) if problem["type"] == "value_error" and cause else problem["msg"]
                if problem["loc"]:
                    name = "RELAIS_" + "_".join(str(part) for part in problem["loc"]).upper()
                    message = f"{name}: {message}"
                click.echo(f"relais: {message}", err=True)
            sys.exit(EXIT_INVALID)
    return state["settings"]


def _store_url(settings: Settings) -> str:
    """The store's URL (absolute), after refusing to start a new store beside one an
    earlier version left in the working directory (exit 2, naming both)."""
    hint = _left_behind(settings)
    if hint:
        _fail(hint, EXIT_INVALID)
    return settings.database_url.get_secret_value()


def _left_behind(settings: Settings) -> str | None:
    old = settings.store_left_behind()
    if old is None:
        return None
    store = location(settings.database_url.get_secret_value())
    return (
        f"no store at {store}, but {old} exists (a relative SQLite path is now under the state "
        f"directory, see README): move it to {Path(store).parent}, or set RELAIS_DATABASE_URL=sqlite:///{old}"
    )


def _load(
    settings: Settings,
    paths: Sequence[Path],
    *,
    keep_going: bool = False,
    strict: bool | None = None,
    now: datetime | None = None,
) -> list[Campaign]:
    """Load the campaigns, or exit 2 after printing every problem on stderr.

    Warnings are printed and do not stop anything, unless ``strict`` (``--strict``; None
    for a command without it). With ``now``, a publication already past that the store
    has not settled is a warning. With ``keep_going`` (``relais run``), the files that
    validate run and the others are reported; it still exits 2 when no campaign at all
    validates."""
    result: LoadResult = load_campaigns(
        list(paths) or [settings.schedules_dir], settings.messages_dir, now=now
    )
    if result.overdue:
        keys = sorted({key for keys in result.overdue.values() for key in keys})
        states = _recorded_states(settings, keys)
        result.forget_settled({key for key, state in states.items() if state != PublicationState.PENDING})
    for problem in result.problems:
        click.echo(str(problem), err=True)
    errors, warnings = len(result.errors), len(result.warnings)
    if not errors and not (strict and warnings):
        if warnings and strict is not None:
            click.echo(f"{_count(warnings, 'warning')} (--strict makes warnings errors).", err=True)
        return result.campaigns
    if keep_going and result.campaigns:
        click.echo(
            f"{_count(errors, 'problem')}: the campaigns above are not run until fixed; "
            f"{len(result.campaigns)} campaign(s) run.",
            err=True,
        )
        return result.campaigns
    found = [_count(errors, "problem")] if errors else []
    found += [_count(warnings, "warning") + (" (fatal with --strict)" if strict else "")] if warnings else []
    click.echo(f"{' and '.join(found)} found.", err=True)
    sys.exit(EXIT_INVALID)


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


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


_STRICT = click.option("--strict", is_flag=True, help="Treat warnings as problems: exit 2 if there are any.")


@main.command()
@_STRICT
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def validate(ctx: click.Context, strict: bool, paths: tuple[Path, ...]) -> None:
    """Check campaign files and their templates.

    Prints every problem of every file, one a line, as file:line:column: message, and
    exits with status 2; prints a summary and exits 0 when all is well. Warnings (a time
    already past, a time zone without daylight saving time) are printed as
    file:line:column: warning: message and do not change the exit status, unless --strict.

    \b
    Example:
      relais validate
      relais validate --strict schedules/gouverner-ensemble.yaml
    """
    campaigns = _load(_settings(ctx), paths, strict=strict, now=SystemClock().now())
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
@_STRICT
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def plan(ctx: click.Context, fmt: str, strict: bool, paths: tuple[Path, ...]) -> None:
    """Show every publication: when, where, and the text as each network will get it.

    Problems and warnings go to stderr, as with relais validate.

    \b
    Example:
      relais plan
      relais plan --format json | jq '.publications[] | select(.channel == "mastodon")'
    """
    campaigns = _load(_settings(ctx), paths, strict=strict, now=SystemClock().now())
    publications = sorted(
        (p for c in campaigns for p in c.publications), key=lambda p: (p.at, p.campaign, p.id, p.channel.name)
    )
    states = _recorded_states(_settings(ctx), [p.key for p in publications])
    if fmt == "json":
        click.echo(plan_json(publications, states, indent=2 if sys.stdout.isatty() else None))
        return
    _plan_table(publications, states)


_WARNED: set[str] = set()


def _recorded_states(settings: Settings, keys: list[str]) -> dict[str, PublicationState]:
    """What the store says of each publication: pending when it says nothing (or when
    there is no store yet: ``plan`` never creates one)."""
    states = dict.fromkeys(keys, PublicationState.PENDING)
    url = settings.database_url.get_secret_value()
    hint = _left_behind(settings)
    if hint and hint not in _WARNED:  # plan reads the store twice: say it once
        _WARNED.add(hint)
        click.echo(f"relais: warning: {hint}", err=True)
    if missing_file(url):
        return states
    from bot.store import db as store_db
    from bot.store.ledger import Ledger

    try:
        engine = store_db.create(url)
        if store_db.is_current(engine):
            states.update(
                {k: PublicationState(r.state) for k, r in Ledger(engine, "plan").rows(keys).items()}
            )
        engine.dispose()
    except store_db.StoreError as error:
        click.echo(f"relais: states unknown: {error}", err=True)
    return states


def plan_json(
    publications: list[Publication], states: dict[str, PublicationState], indent: int | None = None
) -> str:
    """``relais plan --format json``'s document (also timed by benchmarks/campaign_load.py)."""
    times: dict[tuple[datetime, ZoneInfo], tuple[str, str]] = {}  # (a post's channels share theirs)
    rows = []
    for p in publications:
        if (p.at, p.timezone) not in times:
            times[p.at, p.timezone] = (p.local_at.isoformat(), p.at.isoformat())
        local, utc = times[p.at, p.timezone]
        rows.append(
            {
                "id": p.id,
                "campaign": p.campaign,
                "channel": p.channel.name,
                "network": str(p.channel.network),
                "local_time": local,
                "utc_time": utc,
                "timezone": p.timezone.key,
                "state": states[p.key].value,
                "text": p.text,
                "length": p.length,
                "limit": p.limit,
                "media": [{"file": display_path(m.path), "alt": m.alt} for m in p.media],
                "warning": p.warning,
            }
        )
    return json.dumps({"publications": rows}, ensure_ascii=False, indent=indent)


_PLAN_COLUMNS = ("local time", "UTC", "campaign", "publication", "channel", "state", "length", "text")
_PLAN_STYLES: tuple[dict[str, Any], ...] = (
    {},
    {"dim": True},
    {},
    {"fg": "green"},
    {"fg": "cyan"},
    {},
    {},
    {},
)
_PLAN_TEXT = 60  # the text column's width at most, in terminal cells


def _plan_table(publications: list[Publication], states: dict[str, PublicationState]) -> None:
    """The plan as a table, one publication a line, the text cut to fit. Written here
    rather than with rich's Table, which took 12 s to lay out 10,000 publications."""
    import shutil

    from rich.cells import cell_len, set_cell_size

    rows = [
        (
            p.local_at.strftime("%Y-%m-%d %H:%M %Z"),
            p.at.strftime("%Y-%m-%d %H:%M"),
            p.campaign,
            p.id,
            p.channel.name,
            str(states[p.key]),
            f"{p.length}/{p.limit}",
            " ".join(p.text.split()),
        )
        for p in publications
    ]
    widths = [max([len(name), *(len(row[i]) for row in rows)]) for i, name in enumerate(_PLAN_COLUMNS[:-1])]
    terminal = sys.stdout.isatty()
    room = shutil.get_terminal_size().columns - sum(widths) - 2 * len(widths) if terminal else _PLAN_TEXT
    text_width = max(10, min(_PLAN_TEXT, room))

    def line(cells: Sequence[str], header: bool = False) -> str:
        *fixed, text = cells
        if cell_len(text) > text_width:
            text = set_cell_size(text, text_width - 1) + "…"
        parts = [
            cell.rjust(width) if i == 6 else cell.ljust(width)  # (the length, to the right)
            for i, (cell, width) in enumerate(zip(fixed, widths, strict=True))
        ]
        parts.append(text)
        if terminal:
            parts = [
                click.style(part, bold=True) if header else click.style(part, **style) if style else part
                for part, style in zip(parts, _PLAN_STYLES, strict=True)
            ]
        return "  ".join(parts).rstrip()

    click.echo("\n".join([line(_PLAN_COLUMNS, header=True), *(line(row) for row in rows)]))
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
    from bot.store import db as store_db

    configure_logging(settings.secrets(), settings.log_level)
    campaigns = _load(settings, [], keep_going=start is None)
    if start is not None:
        _rehearse(settings, campaigns, start, speed)
        return
    try:
        if dry_run:
            from rich.console import Console

            senders = app.console_senders(Console(highlight=False))
            sources: dict = {}  # a rehearsal collects nothing
            url = "sqlite://"
        else:
            url = _store_url(settings)
            networks = app.networks_used(campaigns)
            senders = app.build_senders(settings, networks)
            sources = app.build_sources(settings, networks)
        asyncio.run(app.serve(settings, campaigns, senders, database_url=url, sources=sources))
    except (app.SetupError, store_db.StoreError, StoreLocationError) as error:
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
    """Create or migrate the store's tables to the current version (relais run does it too).
    Prints where the store is."""
    from bot.store import db as store_db
    from bot.store import prepare

    url = _store_url(_settings(ctx))
    try:
        prepare(url)
        engine = store_db.create(url)
        store_db.upgrade(engine)
        engine.dispose()
    except (store_db.StoreError, StoreLocationError) as error:
        _fail(str(error))
    click.echo(f"{location(url)}: up to date")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--next", "upcoming", type=int, default=10, show_default=True, help="How many upcoming publications."
)
@click.pass_context
def status(ctx: click.Context, fmt: str, upcoming: int) -> None:
    """What was published, what failed, what is in doubt or was missed (with why), what
    is next, where the collectors are, and the acknowledgements queued, sent and failed.
    Reads the store only: it never changes it.

    \b
    Example:
      relais status
      relais status --format json | jq '.publications[] | select(.state == "unknown")'
    """
    from bot.store.acknowledgements import AcknowledgementQueue
    from bot.store.comments import CommentStore
    from bot.store.ledger import Ledger

    engine = _open_store(ctx)
    store_location = location(_settings(ctx).database_url.get_secret_value())
    rows = sorted(Ledger(engine, "status").rows().values(), key=lambda r: (r.due_at, r.key))
    store = CommentStore(engine)
    positions = {
        name: {"position": p, "updated": at.isoformat()} for name, (p, at) in store.positions().items()
    }
    replies = store.counts()
    acknowledgements = AcknowledgementQueue(engine, "status").counts()
    aside_count, aside_latest = sum(store.set_aside_count().values()), store.set_aside_latest()
    engine.dispose()
    done = [r for r in rows if r.state != PublicationState.PENDING]
    pending = [r for r in rows if r.state == PublicationState.PENDING][:upcoming]
    counts = {state.value: sum(r.state == state for r in rows) for state in PublicationState}
    if fmt == "json":
        document = {
            "store": store_location,
            "counts": counts,
            "publications": [_status_row(r) for r in done],
            "next": [_status_row(r) for r in pending],
            "collectors": positions,
            "replies": replies,
            "acknowledgements": acknowledgements,
            "set_aside": {
                "count": aside_count,
                "latest": [item | {"at": item["at"].isoformat()} for item in aside_latest],
            },
        }
        click.echo(json.dumps(document, ensure_ascii=False, indent=2 if sys.stdout.isatty() else None))
        return
    click.echo(f"store: {store_location}")
    _status_tables(counts, done, pending)
    if positions or replies:
        click.echo()
        click.echo(
            "replies: " + (", ".join(f"{n} {state}" for state, n in sorted(replies.items())) or "none")
        )
        for name, where in sorted(positions.items()):
            click.echo(f"  {name}: at {where['position']} (updated {where['updated']})")
    if any(acknowledgements.values()):
        click.echo("acknowledgements: " + ", ".join(f"{n} {state}" for state, n in acknowledgements.items()))
    if aside_count:
        click.echo()
        click.echo(
            f"set aside: {aside_count} item(s) the store refused, left out of the comments "
            "(by id: relais status --format json)"
        )
        for item in aside_latest[:5]:
            click.echo(
                f"  {item['network']} {item['remote_id']}, read at {item['from']}: {item['error']} "
                f"({item['at'].isoformat()})"
            )


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
    from rich.text import Text

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
                Text(r.state, style),
                Text(result or "") if last else "",  # a server's words: never markup
            )
        console.print()
        console.print(table)


# -- the comment store -------------------------------------------------------------------

_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def terminal_safe(text: str) -> str:
    """A reply as a terminal may show it: control characters, bidi overrides and invisible
    characters written as escapes (``\\u202e``), so a reply can neither drive the terminal
    nor disguise itself. Rich markup is never applied to it (see ``Text``)."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _open_store(ctx: click.Context) -> Any:
    """The engine of an existing, current store; exits with the reason otherwise."""
    from bot.store import db as store_db

    url = _store_url(_settings(ctx))
    if missing_file(url):
        _fail(
            f"no store at {location(url)}: Relais has not run with this store yet "
            "(if it has, set RELAIS_DATABASE_URL to its store)"
        )
    try:
        engine = store_db.create(url)
        current = store_db.is_current(engine)
    except store_db.StoreError as error:
        _fail(str(error))
    if not current:
        _fail(f"{location(url)} is not a current Relais store: run `relais db upgrade`")
    return engine


def _state_choice() -> click.Choice:
    return click.Choice([s.value for s in CommentState])


@main.group()
def comments() -> None:
    """The replies collected from the networks, and their moderation."""


@comments.command("list")
@click.option("--status", "state", type=_state_choice(), help="Only replies in this state.")
@click.option("--search", metavar="TEXT", help="Only replies containing these words.")
@click.option("--campaign", metavar="SLUG", help="Only replies to this campaign.")
@click.option("--limit", type=int, default=50, show_default=True, help="How many, newest first (0: all).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
@click.pass_context
def comments_list(
    ctx: click.Context, state: str | None, search: str | None, campaign: str | None, limit: int, fmt: str
) -> None:
    """List collected replies, newest first.

    \b
    Example:
      relais comments list --status pending
      relais comments list --search "données ouvertes" --format json
    """
    from bot.store.comments import CommentStore

    engine = _open_store(ctx)
    click.echo(f"store: {location(_settings(ctx).database_url.get_secret_value())}", err=True)
    found = CommentStore(engine).list(
        states=[state] if state else None, search=search, campaign=campaign, limit=limit or None
    )
    engine.dispose()
    if fmt == "json":
        click.echo(
            json.dumps(
                {"comments": [_comment_json(c) for c in found]},
                ensure_ascii=False,
                indent=2 if sys.stdout.isatty() else None,
            )
        )
    elif fmt == "csv":
        import csv

        from bot.services.export import spreadsheet_safe

        writer = csv.writer(sys.stdout)
        header = ["id", "network", "time", "state", "author", "answers", "reason", "text"]
        writer.writerow(header)
        for c in found:
            writer.writerow(
                [
                    spreadsheet_safe(v)
                    for v in (
                        c.id,
                        c.network,
                        c.created_at.isoformat(),
                        c.state,
                        c.author_handle or c.author_name,
                        c.publication or "",
                        c.reason or "",
                        c.text,
                    )
                ]
            )
    else:
        _comments_table(found)


def _comment_json(c: Any) -> dict[str, Any]:
    return {
        "id": c.id,
        "network": c.network,
        "remote_id": c.remote_id,
        "url": c.url,
        "campaign": c.campaign,
        "answers": c.publication,
        "author": {"handle": c.author_handle, "name": c.author_name, "nobot": c.author_nobot},
        "text": c.text,
        "language": c.language,
        "hashtags": c.hashtags.split(),
        "private": c.private,
        "created": c.created_at.isoformat(),
        "collected": c.collected_at.isoformat(),
        "edited": c.edited_at.isoformat() if c.edited_at else None,
        "state": c.state,
        "reason": c.reason,
        "decided_by": c.decided_by,
        "decided": c.decided_at.isoformat() if c.decided_at else None,
    }


def _comments_table(found: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 200
    if not found:
        console.print("no reply")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("id", "time (UTC)", "network", "state", "author", "answers", "text"):
        table.add_column(name, overflow="fold" if name == "text" else "ellipsis", no_wrap=name != "text")
    for c in found:
        text = terminal_safe(" ".join(c.text.split()))
        reason = f"  [{terminal_safe(c.reason)}]" if c.reason and c.state == CommentState.FLAGGED else ""
        table.add_row(
            str(c.id),
            c.created_at.strftime("%Y-%m-%d %H:%M"),
            c.network,
            c.state,
            Text(terminal_safe(c.author_handle or c.author_name)),
            (c.publication or "").split("/")[1] if c.publication else "",
            Text(text[:300] + ("…" if len(text) > 300 else "") + reason),
        )
    console.print(table)


@comments.command("show")
@click.argument("comment_id", type=int)
@click.pass_context
def comments_show(ctx: click.Context, comment_id: int) -> None:
    """One reply in full, with what it answers and the history of its decisions."""
    from rich.console import Console
    from rich.text import Text

    from bot.store.comments import CommentStore

    engine = _open_store(ctx)
    found = CommentStore(engine).get(comment_id)
    engine.dispose()
    if found is None:
        _fail(f"no reply {comment_id}")
    c, events = found
    console = Console(highlight=False)
    lines = [
        ("reply", f"{c.id} on {c.network} ({c.remote_id})"),
        ("author", f"{c.author_name} {c.author_handle}" + ("  (#nobot)" if c.author_nobot else "")),
        ("posted", c.created_at.isoformat() + (f", edited {c.edited_at.isoformat()}" if c.edited_at else "")),
        ("answers", c.publication or (f"{c.in_reply_to} (not a campaign post)" if c.in_reply_to else "—")),
        ("campaign", c.campaign or "—"),
        ("link", c.url or "—"),
        ("state", c.state + (f" — {c.reason}" if c.reason else "")),
    ]
    for label, value in lines:
        console.print(Text.assemble((f"{label:>9}: ", "bold"), terminal_safe(value)))
    console.print()
    console.print(Text(terminal_safe(c.text)))
    console.print()
    console.print(Text("history", style="bold"))
    for e in events:
        what = f"  {e.at:%Y-%m-%d %H:%M} {e.kind} by {e.actor}" + (f": {e.reason}" if e.reason else "")
        console.print(Text(terminal_safe(what)))
        if e.previous_text is not None:
            console.print(
                Text("      before: " + terminal_safe(" ".join(e.previous_text.split())), style="dim")
            )


def _decide(state: CommentState) -> Any:
    @click.argument("ids", nargs=-1, type=int, required=True)
    @click.option("--reason", metavar="TEXT", help="Why; kept in the reply's history.")
    @click.option("--as", "actor", metavar="NAME", help="The moderator's name (default: your login name).")
    @click.pass_context
    def command(ctx: click.Context, ids: tuple[int, ...], reason: str | None, actor: str | None) -> None:
        import getpass

        from bot.clock import SystemClock
        from bot.store.comments import CommentStore

        engine = _open_store(ctx)
        name = actor or getpass.getuser()
        done = CommentStore(engine).decide(
            list(ids), state, actor=name, reason=reason, now=SystemClock().now()
        )
        engine.dispose()
        missing = sorted(set(ids) - set(done))
        if done:
            click.echo(f"{state.value}: {', '.join(map(str, sorted(done)))} (by {name})")
        if missing:
            _fail(f"no reply {', '.join(map(str, missing))}")

    command.__doc__ = f"Mark replies {state.value}, with an optional reason; recorded with who and when."
    return command


for _state, _name in (
    (CommentState.APPROVED, "approve"),
    (CommentState.REJECTED, "reject"),
    (CommentState.FLAGGED, "flag"),
):
    comments.command(_name)(_decide(_state))


@main.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "json"]), required=True)
@click.option(
    "--status",
    "state",
    type=click.Choice([*(s.value for s in CommentState), "all"]),
    help="Only replies in this state; default: approved ('all': every state, rejected ones included).",
)
@click.option("--campaign", metavar="SLUG", help="Only replies to this campaign.")
@click.option("--with-authors", is_flag=True, help="Name the authors (handle, name, link), not pseudonyms.")
@click.option("--with-private", is_flag=True, help="Include private messages (left out by default).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True)
@click.pass_context
def export(
    ctx: click.Context,
    fmt: str,
    state: str | None,
    campaign: str | None,
    with_authors: bool,
    with_private: bool,
    output: Path,
) -> None:
    """Export the collected replies for the public archive, oldest first.

    Approved replies only, unless --status says otherwise. Authors are pseudonymised
    ("participant 1", …) unless --with-authors: nothing in the file then leads back to
    them. Private messages are left out unless --with-private.

    \b
    Example:
      relais export --format xlsx -o gouverner-ensemble.xlsx
    """
    from rich.progress import Progress

    from bot.services.export import ExportOptions, states_for, write
    from bot.store.comments import CommentStore

    engine = _open_store(ctx)
    store = CommentStore(engine)
    selected = store.list(states=states_for(state), campaign=campaign, limit=None, newest_first=False)
    with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("exporting", total=len(selected))
        count = write(
            output,
            fmt,
            selected,
            ExportOptions(with_authors=with_authors, with_private=with_private),
            lambda: progress.advance(task),
        )
    engine.dispose()
    where = location(_settings(ctx).database_url.get_secret_value())
    click.echo(f"{count} replies from {where} written to {output}")

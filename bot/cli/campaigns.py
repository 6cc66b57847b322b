"""``relais validate`` and ``relais plan``: the campaign files, checked and laid out."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.common import EXIT_INVALID, count, echo_json, left_behind, settings, warn
from bot.clock import SystemClock
from bot.domain import PublicationState
from bot.store import missing_file, sqlite_file

if TYPE_CHECKING:
    from bot.domain import Campaign, Publication

STRICT = click.option("--strict", is_flag=True, help="Treat warnings as problems: exit 2 if there are any.")


def load(
    ctx: click.Context,
    paths: Sequence[Path],
    *,
    keep_going: bool = False,
    strict: bool | None = None,
    now: datetime | None = None,
    say: Callable[[str], None] | None = None,
) -> list[Campaign]:
    """Load the campaigns, or exit 2 after printing every problem on stderr (or giving it to
    ``say``: ``relais run`` logs them, so that JSON logs stay one object a line).

    Warnings are printed and do not stop anything, unless ``strict`` (``--strict``; None
    for a command without it). With ``now``, a publication already past that the store
    has not settled is a warning. With ``keep_going`` (``relais run``), the files that
    validate run and the others are reported; it still exits 2 when no campaign at all
    validates."""
    from bot.core.campaigns import load_campaigns

    if say is None:
        say = partial(click.echo, err=True)
    given = settings(ctx)
    result = load_campaigns(list(paths) or [given.schedules_dir], given.messages_dir, now=now)
    if result.overdue:
        keys = sorted({key for keys in result.overdue.values() for key in keys})
        states = recorded_states(ctx, keys)
        result.forget_settled({key for key, state in states.items() if state != PublicationState.PENDING})
    for problem in result.problems:
        say(str(problem))
    errors, warnings = len(result.errors), len(result.warnings)
    if not errors and not (strict and warnings):
        if warnings and strict is not None:
            say(f"{count(warnings, 'warning')} (--strict makes warnings errors).")
        return result.campaigns
    if keep_going and result.campaigns:
        say(
            f"{count(errors, 'problem')}: the campaigns above are not run until fixed; "
            f"{len(result.campaigns)} campaign(s) run."
        )
        return result.campaigns
    found = [count(errors, "problem")] if errors else []
    found += [count(warnings, "warning") + (" (fatal with --strict)" if strict else "")] if warnings else []
    say(f"{' and '.join(found)} found.")
    sys.exit(EXIT_INVALID)


def recorded_states(ctx: click.Context, keys: list[str]) -> dict[str, PublicationState]:
    """What the store says of each publication: pending when it says nothing (or when
    there is no store yet: ``plan`` never creates one)."""
    states = dict.fromkeys(keys, PublicationState.PENDING)
    url = settings(ctx).database_url.get_secret_value()
    hint = left_behind(settings(ctx))
    if hint:
        warn(ctx, hint)
    if missing_file(url):
        return states
    store = sqlite_file(url)
    if store is not None:  # (read with sqlite3: SQLAlchemy's import was a third of plan's time)
        from bot.store.glance import recorded_states as glanced

        found = glanced(store, keys)
        if found is not None:
            states.update({key: PublicationState(state) for key, state in found.items()})
            return states
    from bot.store import database
    from bot.store.ledger import Ledger

    try:
        engine = database.create(url)
        if database.is_current(engine):
            states.update(
                {k: PublicationState(r.state) for k, r in Ledger(engine, "plan").rows(keys).items()}
            )
        engine.dispose()
    except database.StoreError as error:
        click.echo(f"relais: states unknown: {error}", err=True)
    return states


@click.command()
@STRICT
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
    campaigns = load(ctx, paths, strict=strict, now=SystemClock().now())
    # What was loaded lives until the process ends: out of the cycle collector's sight, it
    # is not gone through again at each full collection and once more at exit (a tenth
    # of the command's time for 10,000 publications).
    gc.freeze()
    for campaign in campaigns:
        click.echo(
            f"{campaign.source}: {campaign.slug}: {count(len(campaign.publications), 'publication')} "
            f"on {count(len(campaign.channels), 'channel')}"
        )
    click.echo("ok")


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@STRICT
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
    campaigns = load(ctx, paths, strict=strict, now=SystemClock().now())
    gc.freeze()  # (as in validate)
    publications = sorted(
        (p for c in campaigns for p in c.publications), key=lambda p: (p.at, p.campaign, p.id, p.channel.name)
    )
    states = recorded_states(ctx, [p.key for p in publications])
    if fmt == "json":
        from bot.services.documents import plan_document

        echo_json(plan_document(publications, states))
        return
    plan_table(publications, states)


PLAN_TEXT = 60  # the text column's width at most, in terminal cells


def plan_table(publications: list[Publication], states: dict[str, PublicationState]) -> None:
    """The plan as a table, one publication a line, fitted to the terminal: the time in the
    campaign's zone with its offset, the channel, the state and the length are kept; the
    text is cut to fit, then left out, with the UTC time and the campaign (said once below
    when there is only one)."""
    from bot.cli import layout

    width = layout.terminal_width()
    campaigns = sorted({p.campaign for p in publications})
    columns = [
        layout.Column("local time"),
        layout.Column("UTC", style=partial(click.style, dim=True)),
        layout.Column("campaign"),
        layout.Column("publication", style=partial(click.style, fg="green")),
        layout.Column("channel", style=partial(click.style, fg="cyan")),
        layout.Column("state"),
        layout.Column("length", right=True),
        layout.Column("text", most=PLAN_TEXT),
    ]
    rows = [
        (
            layout.local_time(p.local_at),
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
    one = len(campaigns) == 1 and width is not None
    steps: list[layout.Step] = [
        layout.Shrink("text", 30),
        layout.Drop("UTC"),
        layout.Shrink("text", 12),
        layout.Drop("text"),
        layout.Drop("campaign"),
        layout.Shrink("publication", 16),
        layout.Shrink("channel", 12),
    ]
    lines = layout.table(columns, rows, width, steps, hide={"campaign"} if one else ())
    lines.append(f"{len(publications)} publications" + (f" of {campaigns[0]}" if one else ""))
    layout.show(lines)

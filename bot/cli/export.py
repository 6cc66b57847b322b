"""``relais export``: the collected replies, for the public archive."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.cli.comments import moderation
from bot.cli.common import open_store, store_location
from bot.domain import CommentState


@click.command("export")
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
    from bot.services.moderation import CommentQuery

    with open_store(ctx) as engine:
        query = CommentQuery(states=tuple(states_for(state)), campaign=campaign)
        selected = moderation(engine).page(query, limit=None).comments  # oldest first
        with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
            task = progress.add_task("exporting", total=len(selected))
            written = write(
                output,
                fmt,
                selected,
                ExportOptions(with_authors=with_authors, with_private=with_private),
                lambda: progress.advance(task),
            )
    click.echo(f"{written} replies from {store_location(ctx)} written to {output}")

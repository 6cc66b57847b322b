"""``relais export``: the collected replies, for the public archive."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.comments import moderation
from bot.cli.common import fail, open_store, settings, store_location, store_url
from bot.domain import CommentState

if TYPE_CHECKING:
    from bot.store.comments import Comment


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
@click.option(
    "--no-verify",
    is_flag=True,
    help="Do not look the replies up again (offline); the file then says it was not verified.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True)
@click.pass_context
def export(
    ctx: click.Context,
    fmt: str,
    state: str | None,
    campaign: str | None,
    with_authors: bool,
    with_private: bool,
    no_verify: bool,
    output: Path,
) -> None:
    """Export the collected replies for the public archive, oldest first.

    Approved replies only, unless --status says otherwise. Authors are pseudonymised
    ("participant 1", …) unless --with-authors: nothing in the file then leads back to
    them. Private messages are left out unless --with-private.

    Before writing, every Mastodon reply not looked at in the last hour is looked up again
    (a remote one at its origin too), within the account's rate limit: those their authors
    deleted leave the store and the file. --no-verify skips that, and says so in the file.

    \b
    Example:
      relais export --format xlsx -o gouverner-ensemble.xlsx
    """
    from rich.progress import Progress

    from bot.services.export import UNVERIFIED, ExportOptions, states_for, write
    from bot.services.moderation import CommentQuery

    with open_store(ctx) as engine:
        query = CommentQuery(states=tuple(states_for(state)), campaign=campaign)
        selected = moderation(engine).page(query, limit=None).comments  # oldest first
        if not no_verify:
            selected = _verified(ctx, selected)
        with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
            task = progress.add_task("exporting", total=len(selected))
            written = write(
                output,
                fmt,
                selected,
                ExportOptions(with_authors=with_authors, with_private=with_private),
                lambda: progress.advance(task),
                note=UNVERIFIED if no_verify else None,
            )
    click.echo(f"{written} replies from {store_location(ctx)} written to {output}")


def _verified(ctx: click.Context, selected: list[Comment]) -> list[Comment]:
    """The replies still there once those that can be are looked up again (``Profile.lookups``),
    with a progress bar on stderr; says how many were looked up and removed."""
    import asyncio

    from rich.console import Console
    from rich.progress import Progress

    from bot import networks, wiring

    looked_up = networks.titles(networks.with_lookups())
    with Progress(transient=True, console=Console(stderr=True), disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task(f"checking with {looked_up}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            verified = asyncio.run(wiring.verify_export(settings(ctx), store_url(ctx), selected, advance))
        except wiring.SetupError as error:
            fail(str(error))
    click.echo(
        f"{verified.checked} {looked_up} replies looked up again, {verified.removed} deleted by their "
        "authors removed from the store and the file",
        err=True,
    )
    return list(verified.comments)

"""``relais check``: a pre-flight of every channel against the real networks, and
``--alive`` for monitors."""

from __future__ import annotations

import click

from bot.cli.common import EXIT_FAILURE, fail, open_store


@click.command()
@click.option(
    "--alive",
    is_flag=True,
    help="Only say whether `relais run` is running on this store (its heartbeat); exit 1 if not.",
)
@click.option(
    "--max-age",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="With --alive: a heartbeat older than this is stale.",
)
@click.pass_context
def check(ctx: click.Context, alive: bool, max_age: float) -> None:
    """Check that every channel of every campaign can work: credentials, chats, rights,
    the instance's limits, the store. Each failure comes with its fix; exit 1 if any.

    \b
    Example (a cron job or an uptime monitor):
      relais check --alive || echo "the bot is down"
    """
    if alive:
        is_alive(ctx, max_age)


def is_alive(ctx: click.Context, max_age: float) -> None:
    """Exit 0 with one line if a ``relais run`` beat within ``max_age`` seconds, else 1."""
    from datetime import timedelta

    from bot.cli.status import bot_lines
    from bot.clock import SystemClock
    from bot.services.documents import bot_document
    from bot.store.heartbeat import beats

    now = SystemClock().now()
    with open_store(ctx) as engine:
        found = beats(engine)
    document = bot_document(found, now, timedelta(seconds=max_age))
    if not document["running"]:
        fail(bot_lines(document)[0], EXIT_FAILURE, hint="start it (systemctl start relais, or relais run)")
    click.echo(f"alive: {bot_lines(document)[0]}")

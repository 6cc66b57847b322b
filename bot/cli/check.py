"""``relais check``: a pre-flight of every channel against the real networks, and
``--alive`` for monitors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from bot.cli.common import EXIT_FAILURE, echo_json, fail, settings, status_reading, store_url

if TYPE_CHECKING:
    from bot.findings import Finding


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
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def check(ctx: click.Context, alive: bool, max_age: float, fmt: str) -> None:
    """Check, against the real networks, that every channel of every campaign can work:
    the tokens and their scopes, each Telegram chat and the bot's rights there, each
    channel's discussion group (where comments are), the alert chat, the Mastodon
    instance's limits, the store. Each problem comes with its fix; exit 1 if there is any
    (warnings alone: 0). Nothing is sent or changed.

    \b
    Example:
      relais check
      relais check --alive || echo "the bot is down"   # cron, an uptime monitor
    """
    if alive:
        is_alive(ctx, max_age, fmt)
        return
    import asyncio

    from bot import app
    from bot.cli.campaigns import load
    from bot.findings import failed
    from bot.services.check import check_store
    from bot.services.documents import check_document

    given = settings(ctx)
    findings = check_store(store_url(ctx))
    campaigns = load(ctx, [], keep_going=True)
    findings += asyncio.run(app.network_checks(given, campaigns))
    if fmt == "json":
        echo_json(check_document(findings))
    else:
        show(findings)
    if failed(findings):
        raise SystemExit(EXIT_FAILURE)


def show(findings: list[Finding]) -> None:
    """A checklist: one line a check, its fix under each problem, a count at the end."""
    from bot.findings import Level

    marks = {Level.OK: "ok     ", Level.WARNING: "warning", Level.ERROR: "FAILED "}
    for f in findings:
        click.echo(f"{marks[f.level]}  {f.subject}: {f.message}")
        if f.fix and f.level is not Level.OK:
            click.echo(f"         fix: {f.fix}")
    errors = sum(f.level is Level.ERROR for f in findings)
    warnings = sum(f.level is Level.WARNING for f in findings)
    if errors:
        click.echo(f"\n{errors} problem(s) and {warnings} warning(s): fix them, then run relais check again.")
    elif warnings:
        click.echo(f"\nready, with {warnings} warning(s).")
    else:
        click.echo("\nready: every check passed.")


def is_alive(ctx: click.Context, max_age: float, fmt: str = "text") -> None:
    """Exit 0 with one line if a ``relais run`` beat within ``max_age`` seconds, else 1;
    in JSON, the document of ``relais status``'s ``bot`` either way."""
    from datetime import timedelta

    from bot.cli.status import bot_lines
    from bot.clock import SystemClock
    from bot.services.documents import bot_document

    now = SystemClock().now()
    document = bot_document(status_reading(ctx).beats, now, timedelta(seconds=max_age))
    if fmt == "json":
        echo_json(document)
        if not document["running"]:
            raise SystemExit(EXIT_FAILURE)
        return
    if not document["running"]:
        fail(bot_lines(document)[0], EXIT_FAILURE, hint="start it (systemctl start relais, or relais run)")
    click.echo(f"alive: {bot_lines(document)[0]}")

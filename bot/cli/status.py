"""``relais status``: what the store says happened and what comes next."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

from bot.cli.common import echo_json, open_store, store_location
from bot.domain import PublicationState

if TYPE_CHECKING:
    from bot.services.documents import BotDocument, StatusDocument, StatusRow


@click.command()
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
    from bot.clock import SystemClock
    from bot.services.status import report

    with open_store(ctx) as engine:
        document = report(engine, store=store_location(ctx), upcoming=upcoming, now=SystemClock().now())
    if fmt == "json":
        echo_json(document)
    else:
        show(document)


def show(document: StatusDocument) -> None:
    """The status for a person: tables of what was done and what is next, then the replies,
    the collectors, the acknowledgements and what the store set aside."""
    replies, positions = document["replies"], document["collectors"]
    acknowledgements, aside = document["acknowledgements"], document["set_aside"]
    click.echo(f"store: {document['store']}")
    for line in bot_lines(document["bot"]):
        click.echo(f"bot: {line}")
    tables(document["counts"], document["publications"], document["next"])
    to_settle = [r for r in document["publications"] if r["command"]]
    if to_settle:
        click.echo()
        click.echo("to settle (each needs a person):")
        for r in to_settle:
            click.echo(f"  {r['state']}: {r['command']}")
    settled = [r for r in document["publications"] if r["settled"]]
    if settled:
        click.echo()
        click.echo("settled by a person:")
        for r in settled:
            s = r["settled"]
            assert s is not None
            why = f": {s['reason']}" if s["reason"] else ""
            click.echo(
                f"  {r['campaign']}/{r['id']}/{r['channel']} ({s['was']}): {s['action']} by {s['by']}, "
                f"{_when(s['at'])}{why} — now {r['state']}"
            )
    if positions or replies:
        click.echo()
        click.echo(
            "replies: " + (", ".join(f"{n} {state}" for state, n in sorted(replies.items())) or "none")
        )
        for name, where in sorted(positions.items()):
            click.echo(f"  {name}: at {where['position']} (updated {where['updated']})")
    if any(acknowledgements.values()):
        click.echo("acknowledgements: " + ", ".join(f"{n} {state}" for state, n in acknowledgements.items()))
    if aside["count"]:
        click.echo()
        click.echo(
            f"set aside: {aside['count']} item(s) the store refused, left out of the comments "
            "(by id: relais status --format json)"
        )
        for item in aside["latest"][:5]:
            read = f"{item['network']} {item['remote_id']}, read at {item['from']}"
            click.echo(f"  {read}: {item['error']} ({item['at']})")


def bot_lines(bot: BotDocument) -> list[str]:
    """Whether the bot runs: one line per process alive, else when it stopped."""
    if bot["running"]:
        return [
            f"running since {_when(p['started'])} on {p['host']} (pid {p['pid']}), "
            f"last seen {_ago(p['seen_seconds_ago'])} ago"
            for p in bot["processes"]
        ]
    last = bot["last"]
    if last is None:
        return ["not running: no relais run has used this store yet"]
    seen = _ago(last["seen_seconds_ago"])
    how = "stopped" if last["stopped"] else f"last seen {seen} ago, without stopping"
    since = _when(last["stopped"] or last["seen"])
    return [f"not running since {since} ({how}; was on {last['host']}, pid {last['pid']})"]


def _when(moment: str) -> str:
    return datetime.fromisoformat(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(seconds: float) -> str:
    whole = max(int(seconds), 0)
    if whole < 120:
        return f"{whole} s"
    if whole < 7200:
        return f"{whole // 60} min"
    if whole < 172800:
        return f"{whole // 3600} h"
    return f"{whole // 86400} days"


def tables(counts: dict[str, int], done: list[StatusRow], pending: list[StatusRow]) -> None:
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
                r["url"] or r["remote_id"] or "" if r["state"] == PublicationState.PUBLISHED else r["reason"]
            )
            style = {"failed": "red", "unknown": "yellow", "missed": "magenta"}.get(r["state"], "")
            table.add_row(
                datetime.fromisoformat(r["due"]).strftime("%Y-%m-%d %H:%M"),
                r["campaign"],
                r["id"],
                r["channel"],
                Text(r["state"], style),
                Text(result or "") if last else "",  # a server's words: never markup
            )
        console.print()
        console.print(table)

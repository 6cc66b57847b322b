"""``relais status``: what the store says happened and what comes next."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import click

from bot.cli.common import echo_json, settings, status_reading, store_location
from bot.domain import PublicationState

if TYPE_CHECKING:
    from collections.abc import Mapping
    from zoneinfo import ZoneInfo

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

    read = status_reading(ctx)
    document = report(read, store=store_location(ctx), upcoming=upcoming, now=SystemClock().now())
    if fmt == "json":
        echo_json(document)
    else:
        from bot.core.zones import campaign_zones

        show(document, campaign_zones(settings(ctx).schedules_dir))


def show(document: StatusDocument, zones: Mapping[str, ZoneInfo]) -> None:
    """The status for a person: tables of what was done and what is next (times in each
    campaign's zone), then the replies, the collectors, the acknowledgements and what the
    store set aside; through a pager when it is longer than the terminal."""
    from bot.cli import layout

    replies, positions = document["replies"], document["collectors"]
    acknowledgements, aside = document["acknowledgements"], document["set_aside"]
    out = [f"store: {document['store']}"]
    out += [f"bot: {line}" for line in bot_lines(document["bot"])]
    width = layout.terminal_width()
    out += tables(document["counts"], document["publications"], document["next"], zones, width)
    to_settle = [r for r in document["publications"] if r["command"]]
    if to_settle:
        out += ["", "to settle (each needs a person):"]
        out += [f"  {r['state']}: {r['command']}" for r in to_settle]
    settled = [r for r in document["publications"] if r["settled"]]
    if settled:
        out += ["", "settled by a person:"]
        for r in settled:
            s = r["settled"]
            assert s is not None
            why = f": {s['reason']}" if s["reason"] else ""
            out.append(
                f"  {r['campaign']}/{r['id']}/{r['channel']} ({s['was']}): {s['action']} by {s['by']}, "
                f"{_when(s['at'])}{why} — now {r['state']}"
            )
    if positions or replies or document["streams"]:
        out.append("")
        said = ", ".join(f"{n} {state}" for state, n in sorted(replies.items()))
        out.append(f"replies: {said or 'none'}")
        for name, where in sorted(positions.items()):
            out.append(f"  {name}: at {where['position']} (updated {_when(where['updated'])})")
        for name, stream in sorted(document["streams"].items()):
            out.append(f"  stream {name}: {stream['mode']} (since {_when(stream['since'])})")
    if any(acknowledgements.values()):
        out.append("acknowledgements: " + ", ".join(f"{n} {state}" for state, n in acknowledgements.items()))
    if aside["count"]:
        out.append("")
        out.append(
            f"set aside: {aside['count']} item(s) the store refused, left out of the comments "
            "(by id: relais status --format json)"
        )
        for item in aside["latest"][:5]:
            read = f"{item['network']} {item['remote_id']}, read at {item['from']}"
            out.append(f"  {read}: {printable(item['error'])} ({item['at']})")
    layout.show(out)


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
    at = datetime.fromisoformat(moment)  # the store's times are UTC; SQLite's come without an offset
    return (at.astimezone(UTC) if at.tzinfo else at).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(seconds: float) -> str:
    whole = max(int(seconds), 0)
    if whole < 120:
        return f"{whole} s"
    if whole < 7200:
        return f"{whole // 60} min"
    if whole < 172800:
        return f"{whole // 3600} h"
    return f"{whole // 86400} days"


STATE_COLOURS = {"failed": "red", "unknown": "yellow", "missed": "magenta"}


def tables(
    counts: dict[str, int],
    done: list[StatusRow],
    pending: list[StatusRow],
    zones: Mapping[str, ZoneInfo],
    width: int | None,
) -> list[str]:
    """What was done (with the link of each post, whole, or why it was not published) and
    what is next, fitted to ``width`` (None: piped)."""
    from bot.cli import layout

    lines = [", ".join(f"{n} {state}" for state, n in counts.items() if n) or "nothing recorded yet"]
    campaigns = {r["campaign"] for r in done + pending}
    one = len(campaigns) == 1 and width is not None  # said once, below the tables
    steps: list[layout.Step] = [
        layout.Drop("campaign"),
        layout.Shrink("publication", 16),
        layout.Shrink("channel", 12),
    ]
    for title, rows, with_result in (("Done", done, True), ("Next", pending, False)):
        if not rows:
            continue
        columns = [
            layout.Column("due"),
            layout.Column("campaign"),
            layout.Column("publication", style=partial(click.style, fg="green")),
            layout.Column("channel", style=partial(click.style, fg="cyan")),
            layout.Column("state"),
        ]
        if with_result:
            columns.append(layout.Column("result", whole=True))
        cells, styles = [], []
        for r in rows:
            due = layout.local_time(datetime.fromisoformat(r["due"]), zones.get(r["campaign"]))
            row = [due, r["campaign"], r["id"], r["channel"], r["state"]]
            if with_result:
                published = r["state"] == PublicationState.PUBLISHED
                row.append(r["url"] or r["remote_id"] or "" if published else printable(r["reason"] or ""))
            cells.append(row)
            colour = STATE_COLOURS.get(r["state"])
            state_style = partial(click.style, fg=colour) if colour else None
            styles.append([*(c.style for c in columns[:4]), state_style, *([None] * with_result)])
        lines += ["", click.style(title, bold=True) if width else title]
        lines += layout.table(columns, cells, width, steps, styles=styles, hide={"campaign"} if one else ())
    if one:
        lines += ["", f"campaign: {campaigns.pop()}"]
    return lines


def printable(text: str) -> str:
    """A server's words on one line, without what a terminal would act on (escapes)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())

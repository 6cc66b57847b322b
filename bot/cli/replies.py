"""How replies look printed by ``relais comments``: a table that gives the text the room,
one reply in full with its history, and CSV. Nothing a follower wrote can drive the
terminal (``terminal_safe``)."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from bot.domain import CommentState

if TYPE_CHECKING:
    from bot.services.moderation import Detail
    from bot.store.comments import Comment

_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def terminal_safe(text: str) -> str:
    """A reply as a terminal may show it: control characters, bidi overrides and invisible
    characters written as escapes (``\\u202e``), so a reply can neither drive the terminal
    nor disguise itself. Rich markup is never applied to it (see ``Text``)."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def write_csv(found: list[Comment], zone_of: Callable[[str | None], ZoneInfo]) -> None:
    import csv

    from bot.services.export import spreadsheet_safe

    writer = csv.writer(sys.stdout)
    writer.writerow(["id", "network", "time", "state", "author", "answers", "reason", "text"])
    for c in found:
        cells = (
            c.id,
            c.network,
            c.created_at.astimezone(zone_of(c.campaign)).isoformat(),
            c.state,
            c.author_handle or c.author_name,
            c.publication_key or "",
            c.reason or "",
            c.text,
        )
        writer.writerow([spreadsheet_safe(v) for v in cells])


def short_handle(c: Comment) -> str:
    """``@alice`` for ``@alice@example.org``: the list gives the text the room."""
    handle = c.author_handle or c.author_name
    if handle.startswith("@") and handle.count("@") == 2:
        handle = handle.rsplit("@", 1)[0]
    return handle if len(handle) <= 16 else handle[:15] + "…"


def local_time(at: datetime, zone: ZoneInfo) -> str:
    """``2012-05-02 14:00-04:00``: the campaign's local time with its offset."""
    local = at.astimezone(zone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M}{offset[:3]}:{offset[3:]}"


def console() -> Any:
    """A console as wide as the terminal (``COLUMNS`` if set); piped, as wide as each line
    needs: a table is never folded nor padded to 80 columns for a file or ``grep``."""
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = 100_000
    return out


def print_lines(out: Any, renderable: Any) -> None:
    """Print through ``out`` without the spaces Rich pads lines with."""
    with out.capture() as captured:
        out.print(renderable)
    for line in captured.get().splitlines():
        click.echo(line.rstrip())


def table(found: list[Comment], zone_of: Callable[[str | None], ZoneInfo]) -> None:
    from rich.table import Table
    from rich.text import Text

    out = console()
    if not found:
        click.echo("no reply")
        return
    # A column that says the same on every row is left out: the text gets the room.
    networks = {c.network for c in found}
    states = {c.state for c in found}
    shown = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1))
    names = [
        "id",
        "time",
        *(["network"] if len(networks) > 1 else []),
        *(["state"] if len(states) > 1 else []),
    ]
    for name in [*names, "author", "text"]:
        shown.add_column(name, overflow="fold" if name == "text" else "ellipsis", no_wrap=name != "text")
    for c in found:
        text = terminal_safe(" ".join(c.text.split()))
        reason = f"  [{terminal_safe(c.reason)}]" if c.reason and c.state != CommentState.PENDING else ""
        cells: list[Any] = [str(c.id), local_time(c.created_at, zone_of(c.campaign))]
        if len(networks) > 1:
            cells.append(c.network)
        if len(states) > 1:
            cells.append(c.state)
        cells += [
            Text(terminal_safe(short_handle(c))),
            Text(text[:300] + ("…" if len(text) > 300 else "") + reason),
        ]
        shown.add_row(*cells)
    if len(networks) == 1 or len(states) == 1:
        said = [*([f"network: {next(iter(networks))}"] if len(networks) == 1 else [])]
        said += [f"state: {next(iter(states))}"] if len(states) == 1 else []
        click.echo(", ".join(said))
    print_lines(out, shown)


def show_text(detail: Detail, zone: ZoneInfo) -> None:
    from rich.text import Text

    c = detail.comment
    out = console()
    edited = f", edited {local_time(c.edited_at, zone)}" if c.edited_at else ""
    decided = f" — {c.reason_code}" if c.reason_code else ""
    lines = [
        ("reply", f"{c.id} on {c.network} ({c.remote_id})"),
        ("author", f"{c.author_name} {c.author_handle}" + ("  (#nobot)" if c.author_nobot else "")),
        ("posted", f"{local_time(c.created_at, zone)} ({zone.key}){edited}"),
        (
            "answers",
            c.publication_key or (f"{c.in_reply_to} (not a campaign post)" if c.in_reply_to else "—"),
        ),
        ("campaign", c.campaign or "—"),
        ("link", c.url or "—"),
        ("state", c.state + decided + (f" — {c.reason}" if c.reason else "")),
        ("version", str(c.version)),
    ]
    for label, value in lines:
        print_lines(out, Text.assemble((f"{label:>9}: ", "bold"), terminal_safe(value)))
    click.echo()
    print_lines(out, Text(terminal_safe(c.text)))
    click.echo()
    click.echo("history")
    for e in detail.history:
        code = f" ({e.reason_code})" if e.reason_code else ""
        undo = f", undoing decision {e.undoes}" if e.undoes else ""
        number = f" [decision {e.decision}{undo}]" if e.decision else ""
        what = f"  {local_time(e.at, zone)} {e.kind}{code} by {e.actor}" + (
            f": {e.reason}" if e.reason else ""
        )
        print_lines(out, Text(terminal_safe(what + number)))
        if e.previous_text is not None:
            print_lines(
                out, Text("      before: " + terminal_safe(" ".join(e.previous_text.split())), style="dim")
            )

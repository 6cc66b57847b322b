"""``relais comments``: the collected replies and their moderation, through the
moderation service (``bot.services.moderation``), which holds every rule."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from bot.cli.common import actor, echo_json, fail, open_store, store_location
from bot.clock import SystemClock
from bot.domain import CommentState, PublicationKey

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.services.moderation import Detail, ModerationService
    from bot.store.comments import Comment

_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def terminal_safe(text: str) -> str:
    """A reply as a terminal may show it: control characters, bidi overrides and invisible
    characters written as escapes (``\\u202e``), so a reply can neither drive the terminal
    nor disguise itself. Rich markup is never applied to it (see ``Text``)."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def moderation(engine: Engine) -> ModerationService:
    from bot.services.moderation import ModerationService
    from bot.store.comments import CommentStore

    return ModerationService(CommentStore(engine), SystemClock())


@contextmanager
def moderation_errors() -> Iterator[None]:
    """What the moderation rules refuse, as one line (and what to do about it)."""
    from bot.services.moderation import DecidedMeanwhile, ModerationError

    try:
        yield
    except DecidedMeanwhile as error:
        shown = " ".join(str(c.id) for c in error.replies)
        fail(str(error), hint=f"nothing was decided: look again with relais comments show {shown}")
    except ModerationError as error:
        fail(str(error))


@click.group()
def comments() -> None:
    """The replies collected from the networks, and their moderation.

    \b
    Example:
      relais comments list --status flagged
      relais comments approve 12 14 --as ana
    """


@comments.command("list")
@click.option(
    "--status",
    "state",
    type=click.Choice([s.value for s in CommentState]),
    help="Only replies in this state.",
)
@click.option("--search", metavar="TEXT", help="Only replies containing these words.")
@click.option("--campaign", metavar="SLUG", help="Only replies to this campaign.")
@click.option("--limit", type=int, default=50, show_default=True, help="How many, newest first (0: all).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
@click.pass_context
def list_(
    ctx: click.Context, state: str | None, search: str | None, campaign: str | None, limit: int, fmt: str
) -> None:
    """List collected replies, newest first.

    \b
    Example:
      relais comments list --status pending
      relais comments list --search "données ouvertes" --format json
    """
    from bot.services.moderation import CommentQuery

    query = CommentQuery(states=(state,) if state else (), search=search, campaign=campaign)
    with open_store(ctx) as engine:
        click.echo(f"store: {store_location(ctx)}", err=True)
        with moderation_errors():
            found = moderation(engine).page(query, limit=limit or None, newest_first=True).comments
    if fmt == "json":
        from bot.services.documents import comments_document

        echo_json(comments_document(found))
    elif fmt == "csv":
        write_csv(found)
    else:
        table(found)


def write_csv(found: list[Comment]) -> None:
    import csv

    from bot.services.export import spreadsheet_safe

    writer = csv.writer(sys.stdout)
    writer.writerow(["id", "network", "time", "state", "author", "answers", "reason", "text"])
    for c in found:
        cells = (
            c.id,
            c.network,
            c.created_at.isoformat(),
            c.state,
            c.author_handle or c.author_name,
            c.publication_key or "",
            c.reason or "",
            c.text,
        )
        writer.writerow([spreadsheet_safe(v) for v in cells])


def table(found: list[Comment]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 200
    if not found:
        console.print("no reply")
        return
    shown = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("id", "time (UTC)", "network", "state", "author", "answers", "text"):
        shown.add_column(name, overflow="fold" if name == "text" else "ellipsis", no_wrap=name != "text")
    for c in found:
        text = terminal_safe(" ".join(c.text.split()))
        reason = f"  [{terminal_safe(c.reason)}]" if c.reason and c.state == CommentState.FLAGGED else ""
        shown.add_row(
            str(c.id),
            c.created_at.strftime("%Y-%m-%d %H:%M"),
            c.network,
            c.state,
            Text(terminal_safe(c.author_handle or c.author_name)),
            PublicationKey.parse(c.publication_key).publication_id if c.publication_key else "",
            Text(text[:300] + ("…" if len(text) > 300 else "") + reason),
        )
    console.print(shown)


@comments.command("show")
@click.argument("comment_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def show(ctx: click.Context, comment_id: int, fmt: str) -> None:
    """One reply in full, with what it answers and the history of its decisions.

    \b
    Example:
      relais comments show 12
      relais comments show 12 --format json | jq .history
    """
    with open_store(ctx) as engine, moderation_errors():
        detail = moderation(engine).show(comment_id)
    if fmt == "json":
        from bot.services.documents import comment_detail

        echo_json(comment_detail(detail))
    else:
        show_text(detail)


def show_text(detail: Detail) -> None:
    from rich.console import Console
    from rich.text import Text

    c = detail.comment
    console = Console(highlight=False)
    lines = [
        ("reply", f"{c.id} on {c.network} ({c.remote_id})"),
        ("author", f"{c.author_name} {c.author_handle}" + ("  (#nobot)" if c.author_nobot else "")),
        ("posted", c.created_at.isoformat() + (f", edited {c.edited_at.isoformat()}" if c.edited_at else "")),
        (
            "answers",
            c.publication_key or (f"{c.in_reply_to} (not a campaign post)" if c.in_reply_to else "—"),
        ),
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
    for e in detail.history:
        what = f"  {e.at:%Y-%m-%d %H:%M} {e.kind} by {e.actor}" + (f": {e.reason}" if e.reason else "")
        console.print(Text(terminal_safe(what)))
        if e.previous_text is not None:
            console.print(
                Text("      before: " + terminal_safe(" ".join(e.previous_text.split())), style="dim")
            )


def decision(state: CommentState, verb: str) -> click.Command:
    """The command that records ``state`` on replies (``relais comments VERB``)."""

    @click.argument("ids", nargs=-1, type=int, required=True)
    @click.option("--reason", metavar="TEXT", help="Why; kept in the reply's history.")
    @click.option("--as", "name", metavar="NAME", help="The moderator's name (default: your login name).")
    @click.pass_context
    def command(ctx: click.Context, ids: tuple[int, ...], reason: str | None, name: str | None) -> None:
        moderator = actor(name)
        with open_store(ctx) as engine, moderation_errors():
            done = moderation(engine).decide(list(ids), state, actor=moderator, reason=reason)
        click.echo(f"{state.value}: {', '.join(str(i) for i in sorted(c.id for c in done))} (by {moderator})")

    command.__doc__ = f"""Mark replies {state.value}, with an optional reason; recorded with who and when.
    All or nothing: if one of the replies does not exist, none is marked.

    \b
    Example:
      relais comments {verb} 12 14 --reason "{EXAMPLE_REASONS[state]}" --as ana
    """
    return comments.command(verb)(command)


EXAMPLE_REASONS = {
    CommentState.APPROVED: "on topic",
    CommentState.REJECTED: "spam",
    CommentState.FLAGGED: "ask the legal team",
}
approve = decision(CommentState.APPROVED, "approve")
reject = decision(CommentState.REJECTED, "reject")
flag = decision(CommentState.FLAGGED, "flag")

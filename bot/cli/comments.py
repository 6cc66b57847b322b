"""``relais comments``: the collected replies and their moderation, through the
moderation service (``bot.services.moderation``), which holds every rule. Listing and
showing are here; deciding, undoing and the author view in ``bot.cli.moderate``."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from bot.cli.common import EXIT_INVALID, Id, Network, echo_json, fail, open_store, settings, store_location
from bot.clock import SystemClock
from bot.domain import CommentState

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.services.moderation import CommentQuery, Detail, ModerationService
    from bot.store.comments import Comment

_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
REASON_CODES = ("spam", "off_topic", "abusive", "personal_information", "other")  # ReasonCode's
UTC_ZONE = ZoneInfo("UTC")


def terminal_safe(text: str) -> str:
    """A reply as a terminal may show it: control characters, bidi overrides and invisible
    characters written as escapes (``\\u202e``), so a reply can neither drive the terminal
    nor disguise itself. Rich markup is never applied to it (see ``Text``)."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def moderation(engine: Engine) -> ModerationService:
    from bot.services.moderation import ModerationService
    from bot.store.comments import CommentStore

    return ModerationService(CommentStore(engine), SystemClock())


def zones(ctx: click.Context) -> Callable[[str | None], ZoneInfo]:
    """Each campaign's zone, from the campaign files (UTC for a campaign they do not name)."""
    from bot.core.zones import campaign_zones

    found = campaign_zones(settings(ctx).schedules_dir)
    return lambda campaign: found.get(campaign or "", UTC_ZONE)


@contextmanager
def moderation_errors() -> Iterator[None]:
    """What the moderation rules refuse, as one line (and what to do about it)."""
    from bot.services.moderation import (
        DecidedMeanwhile,
        MatchChanged,
        ModerationError,
        NoSuchDecision,
        NotYours,
        Overturning,
    )

    try:
        yield
    except NotYours as error:
        fail(str(error), hint=f"nothing was undone: add --force to undo {error.actor}'s decision")
    except Overturning as error:
        whose = sorted({c.decided_by or "" for c in error.replies})
        fail(str(error), hint=f"nothing was decided: add --force to overturn {', '.join(whose)}'s decision")
    except DecidedMeanwhile as error:
        shown = " ".join(str(c.id) for c in error.replies[:10])
        fail(str(error), hint=f"nothing was decided: look again with relais comments show {shown}")
    except MatchChanged as error:
        fail(str(error), hint="nothing was decided: run it again to decide those it selects now")
    except NoSuchDecision as error:
        fail(str(error), hint="relais comments decisions lists them")
    except ModerationError as error:
        fail(str(error))


# -- filters ----------------------------------------------------------------------------


class When(click.ParamType):
    """A date (``2012-05-02``) or a time (``2012-05-02 14:00``), naive: read in the campaign's
    zone. Gives the datetime and whether a time of day was given."""

    name = "DATE"
    FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        for fmt in self.FORMATS:
            try:
                return datetime.strptime(str(value).strip(), fmt), "%H" in fmt
            except ValueError:
                continue
        self.fail(f"{value!r} is not a date like 2012-05-02 or a time like '2012-05-02 14:00'", param, ctx)
        return None  # (fail raises)


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that select replies, shared by ``list`` and the decisions."""
    options = [
        click.option(
            "--status",
            "state",
            type=click.Choice([s.value for s in CommentState]),
            help="Only replies in this state.",
        ),
        click.option("--search", metavar="TEXT", help="Only replies containing these words."),
        click.option("--campaign", metavar="SLUG", help="Only replies to this campaign."),
        click.option(
            "--network", type=Network(), help="Only from this network."
        ),
        click.option("--language", metavar="CODE", help="Only in this language (fr also selects fr-CA)."),
        click.option("--author", metavar="HANDLE", help="Only by this author (handle as shown, or id)."),
        click.option(
            "--flag-reason",
            "reason",
            metavar="TEXT",
            help="Only those whose reason contains this (a flag's: link, banned word).",
        ),
        click.option(
            "--code",
            "reason_code",
            type=click.Choice(REASON_CODES),
            help="A rejection's reason code: only those rejected for it (reject: the code it gives).",
        ),
        click.option("--by", "decided_by", metavar="NAME", help="Only those last decided by this moderator."),
        click.option(
            "--since",
            type=When(),
            help="Posted at or after (in the campaign's zone with --campaign, else UTC).",
        ),
        click.option(
            "--until",
            type=When(),
            help="Posted before (a date alone: up to the end of that day).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


FILTERS = (
    "state",
    "search",
    "campaign",
    "network",
    "language",
    "author",
    "reason",
    "reason_code",
    "decided_by",
)


def query_of(ctx: click.Context, given: dict[str, Any]) -> CommentQuery | None:
    """The query the filter options ask for; None when none was given."""
    from bot.services.moderation import CommentQuery

    if not any(given.get(k) for k in (*FILTERS, "since", "until")):
        return None
    zone = zones(ctx)(given.get("campaign")) if given.get("campaign") else UTC_ZONE

    def aware(given: tuple[datetime, bool] | None, end: bool = False) -> datetime | None:
        if given is None:
            return None
        value, timed = given
        try:
            if end and not timed:  # --until 2012-05-02: that day included
                value += timedelta(days=1)
            return value.replace(tzinfo=zone).astimezone(UTC)
        except OverflowError:
            fail(f"{value:%Y-%m-%d} is out of range: no reply is dated so far", EXIT_INVALID)

    state = given.get("state")
    return CommentQuery(
        states=(state,) if state else (),
        search=given.get("search"),
        campaign=given.get("campaign"),
        network=given.get("network"),
        language=given.get("language"),
        author=given.get("author"),
        reason=given.get("reason"),
        reason_code=given.get("reason_code"),
        decided_by=given.get("decided_by"),
        since=aware(given.get("since")),
        until=aware(given.get("until"), end=True),
    )


@click.group()
def comments() -> None:
    """The replies collected from the networks, and their moderation.

    \b
    Example:
      relais comments list --status flagged --oldest
      relais comments approve 12 14-20
      relais comments reject --search casino --status pending --code spam --yes
      relais comments undo
    """


@comments.command("list")
@filter_options
@click.option("--oldest/--newest", default=False, help="Oldest first (default: newest first).")
@click.option("--limit", type=int, default=50, show_default=True, help="How many (0: all).")
@click.option("--after", type=Id(), metavar="ID", help="The page after this reply (as the last page says).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
@click.pass_context
def list_(ctx: click.Context, oldest: bool, limit: int, after: int | None, fmt: str, **given: Any) -> None:
    """List collected replies, newest first, 50 at a time, with "50 of 525 shown".
    Times are in the campaign's zone, with its offset.

    \b
    Example:
      relais comments list --status pending --oldest
      relais comments list --search "données ouvertes" --format json
      relais comments list --status flagged --flag-reason link --since 2012-05-02
    """
    if limit < 0:
        fail("--limit takes 0 (all) or more", EXIT_INVALID)
    query = query_of(ctx, given)
    with open_store(ctx) as engine:
        click.echo(f"store: {store_location(ctx)}", err=True)
        with moderation_errors():
            service = moderation(engine)
            if limit:
                queue = service.queue(query, after=after, limit=limit, newest_first=not oldest)
            else:
                from bot.services.moderation import Queue

                page = service.page(query, after=after, limit=None, newest_first=not oldest)
                queue = Queue(page, service.counts(query))
    found, page = queue.page.comments, queue.page
    shown = f"{len(found)} of {page.total} shown" + (f"; next: --after {page.next}" if page.next else "")
    if fmt == "json":
        from bot.services.documents import queue_document

        echo_json(queue_document(queue, newest_first=not oldest, zones=zones(ctx)))
    elif fmt == "csv":
        write_csv(found, zones(ctx))
        click.echo(shown, err=True)
    else:
        table(found, zones(ctx))
        click.echo(shown)


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


@comments.command("show")
@click.argument("comment_id", type=Id())
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

        echo_json(comment_detail(detail, zones(ctx)))
    else:
        show_text(detail, zones(ctx)(detail.comment.campaign))


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


from bot.cli import moderate  # noqa: E402,F401  (adds the decisions to the group)

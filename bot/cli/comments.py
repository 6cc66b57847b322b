"""``relais comments``: the collected replies and their moderation, through the
moderation service (``bot.services.moderation``), which holds every rule. Listing and
showing are here; which replies the filters select in ``bot.cli.selection``, how they are
printed in ``bot.cli.replies``; deciding, undoing and the author view in ``bot.cli.moderate``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from bot.cli.common import EXIT_INVALID, Id, echo_json, fail, open_store, store_location
from bot.cli.replies import show_text, table, write_csv
from bot.cli.selection import filter_options, query_of, zones
from bot.clock import SystemClock

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.services.moderation import ModerationService


def moderation(engine: Engine) -> ModerationService:
    from bot.services.moderation import ModerationService
    from bot.store.comments import CommentStore

    return ModerationService(CommentStore(engine), SystemClock())


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


from bot.cli import moderate  # noqa: E402,F401  (adds the decisions to the group)

"""``relais comments approve|reject|flag|review|undo|decisions|author``: deciding, on ids,
ranges (``12-40``) or all the replies a filter selects, undoing, and the history; the
rules are the moderation service's (``bot.services.moderation``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from bot.cli.comments import comments, moderation, moderation_errors
from bot.cli.common import EXIT_INVALID, Id, Network, actor, echo_json, fail, is_id, open_store
from bot.cli.replies import local_time, terminal_safe
from bot.cli.selection import REASON_CODES, filter_options, query_of, zones
from bot.domain import CommentState

if TYPE_CHECKING:
    from bot.services.moderation import Decision, ModerationService

LONGEST_RANGE = 100_000  # ids in one range (12-40)
ASK_FROM = 50  # replies in ranges past which a decision asks first (unless --yes)


def replies(n: int) -> str:
    return f"{n} {'reply' if n == 1 else 'replies'}"


def parse_ids(given: tuple[str, ...]) -> tuple[list[int], list[tuple[int, int]]]:
    """Ids and ranges as typed (``12 14-20``): the ids, and the ranges (first, last)."""
    ids: list[int] = []
    ranges: list[tuple[int, int]] = []
    for item in given:
        for part in item.replace(",", " ").split():
            first, dash, last = part.partition("-")
            if not is_id(first) or (dash and not is_id(last)):
                fail(f"{part!r} is not a reply id nor a range like 12-40", EXIT_INVALID)
            if not dash:
                ids.append(int(first))
                continue
            low, high = int(first), int(last)
            if low > high:
                fail(f"{part!r} is backwards: write {high}-{low}", EXIT_INVALID)
            if high - low >= LONGEST_RANGE:
                fail(f"{part!r} spans more than {LONGEST_RANGE:,} ids: use a filter instead", EXIT_INVALID)
            ranges.append((low, high))
    return ids, ranges


def compact(ids: list[int]) -> str:
    """``1-4, 7`` for 1, 2, 3, 4, 7."""
    runs: list[list[int]] = []
    for i in sorted(ids):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def said(decision: Decision) -> str:
    """``rejected: 2 (by ana; decision 5)``."""
    ids = compact([c.id for c in decision.comments])
    return f"{decision.state}: {ids} (by {decision.actor}; decision {decision.id})"


def decision(state: CommentState, verb: str, summary: str) -> click.Command:
    """The command that records ``state`` on replies (``relais comments VERB``)."""

    @click.argument("given", nargs=-1, metavar="[ID|FIRST-LAST]...")
    @filter_options
    @click.option("--reason", "why", metavar="TEXT", help="Why, in your words; kept in the history.")
    @click.option("--yes", is_flag=True, help="Decide all a filter selects without asking.")
    @click.option("--force", is_flag=True, help="Overturn a colleague's approval or rejection.")
    @click.option("--as", "name", metavar="NAME", help="The moderator (default: RELAIS_MODERATOR).")
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
    @click.pass_context
    def command(
        ctx: click.Context,
        given: tuple[str, ...],
        why: str | None,
        yes: bool,
        force: bool,
        name: str | None,
        fmt: str,
        **filters: Any,
    ) -> None:
        code = None
        if state == CommentState.REJECTED:  # --code is the rejection's, not a criterion
            code, filters["reason_code"] = filters.get("reason_code"), None
        query = query_of(ctx, filters)
        if given and query is not None:
            fail("give reply ids or a filter, not both", EXIT_INVALID)
        if not given and query is None:
            fail("which replies? give ids (12 14-20) or a filter (--status pending --search …)", EXIT_INVALID)
        if state == CommentState.REJECTED and not code:
            fail(f"a rejection needs a reason code: add --code {'|'.join(REASON_CODES)}", EXIT_INVALID)
        moderator = actor(ctx, name)
        with open_store(ctx) as engine, moderation_errors():
            service = moderation(engine)
            if query is None:
                ids, ranges = parse_ids(given)
                within = service.existing(ranges)
                if ranges and not within and not ids:
                    fail(f"no reply in {', '.join(f'{a}-{b}' for a, b in ranges)}")
                ids += within
                if len(within) > ASK_FROM and not yes:  # a big range asks first, as a filter does
                    ask(f"{', '.join(f'{a}-{b}' for a, b in ranges)} selects", len(set(ids)), state)
                done = service.decide(ids, state, actor=moderator, reason=why, reason_code=code, force=force)
            else:
                done = on_filter(service, query, state, moderator, why, code, yes=yes, force=force)
        if fmt == "json":
            from bot.services.documents import decision_document

            echo_json(decision_document(done, zones(ctx)))
        else:
            click.echo(said(done))

    command.__doc__ = f"""{summary} Recorded with who (RELAIS_MODERATOR, or --as) and when.

    On ids and ranges, or on every reply a filter selects (a filter, or ranges of more than
    {ASK_FROM} replies, asks first, showing how many, unless --yes). All or nothing: if one
    reply does not exist, or a colleague approved or rejected one (unless --force), nothing
    is decided. `relais comments undo` undoes it.

    \b
    Example:
      relais comments {verb} 12 14-20{EXAMPLES[state]}
      relais comments {verb} --status pending --search casino{EXAMPLES[state]} --yes
    """
    return comments.command(verb)(command)


def ask(said: str, count: int, state: CommentState) -> None:
    """Ask before deciding ``count`` replies (a terminal), or refuse without ``--yes``."""
    if not sys.stdin.isatty():
        fail(f"{said} {replies(count)}", hint="add --yes to decide them all")
    if not click.confirm(f"Mark {replies(count)} {state.value}?", err=True):
        fail("nothing was decided")


def on_filter(
    service: ModerationService,
    query: Any,
    state: CommentState,
    moderator: str,
    why: str | None,
    code: str | None,
    *,
    yes: bool,
    force: bool,
) -> Decision:
    """A decision on all ``query`` selects: asked first (showing how many) unless ``yes``,
    and refused if their number changed before it was recorded."""
    match = service.matching(query)
    expected = match.count
    if not expected:
        fail("no reply matches this filter: nothing to decide")
    if not yes:
        if not sys.stdin.isatty():
            fail(
                f"this filter selects {replies(expected)}",
                hint="add --yes to decide them all",
            )
        if not click.confirm(f"Mark {replies(expected)} {state.value}?", err=True):
            fail("nothing was decided")
    return service.decide_matching(
        query,
        state,
        actor=moderator,
        reason=why,
        reason_code=code,
        expected=expected,
        force=force,
        match=match.fingerprint,
    )


EXAMPLES = {
    CommentState.APPROVED: "",
    CommentState.REJECTED: " --code spam",
    CommentState.FLAGGED: ' --reason "ask the legal team"',
    CommentState.PENDING: "",
}
approve = decision(
    CommentState.APPROVED,
    "approve",
    "Approve replies: they go to the export (and are acknowledged where the campaign asks).",
)
reject = decision(
    CommentState.REJECTED,
    "reject",
    f"Reject replies, with a reason code ({', '.join(REASON_CODES)}) and, if you like, --reason.",
)
flag = decision(CommentState.FLAGGED, "flag", "Flag replies for a second look.")
review = decision(CommentState.PENDING, "review", "Put replies back to review (pending).")


@comments.command("undo")
@click.argument("decision_id", type=Id(), required=False, metavar="[DECISION]")
@click.option(
    "--force", is_flag=True, help="Undo it even if a colleague's, or if a reply was decided or edited since."
)
@click.option("--as", "name", metavar="NAME", help="The moderator (default: RELAIS_MODERATOR).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def undo(ctx: click.Context, decision_id: int | None, force: bool, name: str | None, fmt: str) -> None:
    """Undo a decision: your last one (again: the one before), or any from the history.
    Each reply gets back what it had before; recorded as your decision.

    \b
    Example:
      relais comments undo
      relais comments undo 42
    """
    moderator = actor(ctx, name)
    with open_store(ctx) as engine, moderation_errors():
        service = moderation(engine)
        if decision_id is None:
            done = service.undo_last(moderator, force=force)
        else:
            done = service.undo(decision_id, actor=moderator, force=force)
    if fmt == "json":
        from bot.services.documents import decision_document

        echo_json(decision_document(done, zones(ctx)))
        return
    back = ", ".join(f"{c.id} {c.state}" for c in done.comments[:20]) + (
        " …" if len(done.comments) > 20 else ""
    )
    click.echo(
        f"undid decision {done.undoes}: {back or 'no reply left'} (by {done.actor}; decision {done.id})"
    )


@comments.command("decisions")
@click.option("--by", "who", metavar="NAME", help="Only this moderator's.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--before", type=Id(), metavar="DECISION", help="The page before this decision.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def decisions(ctx: click.Context, who: str | None, limit: int, before: int | None, fmt: str) -> None:
    """The moderators' decisions, newest first: each can be undone (relais comments undo N).

    \b
    Example:
      relais comments decisions --by ana
    """
    with open_store(ctx) as engine, moderation_errors():
        rows = moderation(engine).decisions(actor=who, before=before, limit=limit)
    if fmt == "json":
        from bot.services.documents import decisions_document

        echo_json(decisions_document(rows))
        return
    if not rows:
        click.echo("no decision")
    for d in rows:
        what = (
            f"undo of {d.undoes}" if d.undoes else d.state + (f" ({d.reason_code})" if d.reason_code else "")
        )
        undone = f"  [undone by {d.undone_by}]" if d.undone_by else ""
        reason = f": {d.reason}" if d.reason else ""
        line = f"{d.id:>6}  {d.at:%Y-%m-%d %H:%M}Z  {d.actor}  {what}, {replies(d.count)}{reason}{undone}"
        click.echo(terminal_safe(line))


@comments.command("author")
@click.argument("network", type=Network())
@click.argument("handle")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def author(ctx: click.Context, network: str, handle: str, fmt: str) -> None:
    """Every reply of one author across campaigns, newest first, with the decisions taken:
    a repeat spammer at a glance.

    \b
    Example:
      relais comments author mastodon @mallory@example.org
    """
    with open_store(ctx) as engine, moderation_errors():
        view = moderation(engine).author(network, handle)
    zone_of = zones(ctx)
    if fmt == "json":
        from bot.services.documents import author_document

        echo_json(author_document(view, zone_of))
        return
    tally = ", ".join(f"{n} {state.value}" for state, n in view.counts.items() if n)
    click.echo(
        terminal_safe(
            f"{view.name or handle} {handle} on {network}: {view.total} replies ({tally or 'none'})"
        )
    )
    for c in view.comments:
        text = terminal_safe(" ".join(c.text.split()))
        when = local_time(c.created_at, zone_of(c.campaign))
        campaign = terminal_safe(c.campaign or "—")
        click.echo(f"{c.id:>6}  {when}  {c.state:<8}  {campaign}  {text[:120]}")
        for e in view.histories.get(c.id, []):
            if e.kind not in ("collected", "edited"):
                reason = f": {e.reason}" if e.reason else ""
                click.echo(terminal_safe(f"        {e.kind} by {e.actor}{reason}"))

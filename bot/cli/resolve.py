"""``relais resolve``: settle a publication in doubt, failed or missed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from bot.cli.common import EXIT_FAILURE, EXIT_INVALID, fail, open_store, settings, store_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.domain import Campaign
    from bot.settings import Settings
    from bot.store.ledger import Resolution


@click.command()
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@click.option("--published", "action", flag_value="published", help="It did go out: record it as published.")
@click.option("--resend", "action", flag_value="resend", help="Send it now (again).")
@click.option("--skip", "action", flag_value="skip", help="Leave it unpublished.")
@click.option("--url", metavar="URL", help="With --published: the link to the post, if known.")
@click.option("--reason", metavar="TEXT", help="Why: kept with the decision and told to the alert chat.")
@click.option("--as", "actor", metavar="NAME", help="Who decides (required; kept with the decision).")
@click.option(
    "--yes", is_flag=True, help="With --resend: do not ask before sending one that may be out already."
)
@click.pass_context
def resolve(
    ctx: click.Context,
    keys: tuple[str, ...],
    action: str | None,
    url: str | None,
    reason: str | None,
    actor: str | None,
    yes: bool,
) -> None:
    """Settle publications that are unknown (a send in doubt), failed or missed. KEY is
    campaign/publication/channel, as `relais status` shows it next to each row that needs
    one. The decision is recorded with who (--as), when and why, shown by `relais status`
    and told to the alert chat.

    \b
    --published  it did go out (give its link with --url)
    --resend     send it now; for one in doubt this may publish it twice, so it asks first
                 (or --yes). A failed one whose cause was fixed goes out again this way.
    --skip       leave it unpublished

    If `relais run` is running on the same store, a resend goes through the same ledger
    claim as the bot's own sends: it is sent once, by one of them.

    \b
    Example:
      relais resolve gouverner-ensemble/rapport-en-ligne/annonces-telegram --published \\
        --url https://t.me/GautrinWeb2/42 --as marie --reason "vu dans le canal"
    """
    from bot.store.ledger import Resolution

    if action is None:
        raise click.UsageError("say what to do: --published, --resend or --skip")
    if url is not None and action != "published":
        raise click.UsageError("--url goes with --published")
    if url is not None and len(set(keys)) > 1:
        raise click.UsageError("--url names one post: give one KEY with it")
    if url is not None and not _web_link(url):
        raise click.UsageError(
            "--url takes the post's link, like https://t.me/GautrinWeb2/42 (http or https, a host)"
        )
    if yes and action != "resend":
        raise click.UsageError("--yes goes with --resend")
    if not actor or not actor.strip():
        fail("say who settles it: --as NAME (recorded with the decision)", EXIT_INVALID)
    decided = Resolution(action)
    given = settings(ctx)
    with open_store(ctx) as engine:
        from bot.store.ledger import SETTLEABLE, Ledger

        rows = Ledger(engine, "resolve").rows(list(keys))
        for key in keys:  # checked before anything changes or goes out
            if key not in rows:
                fail(f"no publication {key} in the store", hint="relais status lists them, with their keys")
            if rows[key].state not in SETTLEABLE:
                fail(f"{key} is {rows[key].state}: only one that is unknown, failed or missed can be settled")
        campaigns: list[Campaign] = []
        if decided is Resolution.RESEND:
            campaigns = _campaigns_for(ctx, keys)
            doubtful = [k for k in keys if rows[k].state == "unknown"]
            if doubtful and not yes:
                _confirm(doubtful)
        import asyncio

        code = asyncio.run(
            _settle(
                given,
                engine,
                store_url(ctx),
                list(dict.fromkeys(keys)),
                decided,
                actor.strip(),
                reason,
                url,
                campaigns,
            )
        )
    if code:
        raise SystemExit(code)


def _campaigns_for(ctx: click.Context, keys: tuple[str, ...]) -> list[Campaign]:
    """The campaigns, if every key is still in them (a resend renders it from the files)."""
    from bot.cli.campaigns import load

    campaigns = load(ctx, [], keep_going=True)
    known = {p.key for c in campaigns for p in c.publications}
    for key in keys:
        if key not in known:
            fail(
                f"{key} is not in the campaign files that validate: it cannot be sent again",
                hint="fix its file (relais validate), or settle it with --skip or --published",
            )
    return campaigns


def _confirm(doubtful: list[str]) -> None:
    click.echo(
        f"{', '.join(doubtful)}: the earlier send may have gone out; sending again may publish it twice. "
        "Look in the chat or on the account first.",
        err=True,
    )
    try:
        agreed = click.confirm("Send again anyway?", default=False, err=True)
    except click.Abort:
        agreed = False
    if not agreed:
        fail("not sent: nothing changed", hint="add --yes to send it again without being asked")


async def _settle(
    given: Settings,
    engine: Engine,
    url: str,
    keys: list[str],
    action: Resolution,
    actor: str,
    reason: str | None,
    link: str | None,
    campaigns: list[Campaign],
) -> int:
    from bot import app
    from bot.services.resolve import action_words, outcome
    from bot.store.ledger import Resolution, Unsettleable

    def say(line: str) -> None:
        click.echo(f"relais: {line}", err=True)

    try:
        rows = await app.settle(given, engine, url, keys, action, actor, reason, link, campaigns, say)
    except (app.SetupError, Unsettleable) as error:
        fail(str(error))
    code = 0
    for key in keys:
        click.echo(f"{key}: {action_words(action)} by {actor}: {outcome(rows[key])}")
        if action is Resolution.RESEND and rows[key].state != "published":
            code = EXIT_FAILURE
    return code


def _web_link(url: str) -> bool:
    """An http(s) link with a host and no blank: what moderators and the alert chat are shown."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [ in the host
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)

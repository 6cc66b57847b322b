"""``relais web``: the moderation desk, served on this machine (``bot.web``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.common import count, fail, open_store, serving, settings, warn

if TYPE_CHECKING:
    from bot.domain import Campaign
    from bot.store.handle import Store


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="The port.")
@click.option(
    "--demo",
    is_flag=True,
    help="A throwaway store with sample replies and a demo login; no account on any network.",
)
@click.pass_context
def web(ctx: click.Context, host: str, port: int, demo: bool) -> None:
    """Serve the moderation desk: moderators log in (relais moderators add), work the
    queue of replies, and export the approved ones.

    It runs beside relais run on the same store, or alone. Behind a proxy that serves it
    over HTTPS, set RELAIS_WEB_BEHIND_PROXY=true so that its cookies are marked Secure.

    \b
    Example:
      relais moderators add ana --admin
      relais web --port 8080
    """
    import uvicorn

    from bot.clock import SystemClock
    from bot.store.handle import Store
    from bot.web.app import create_app

    campaigns = _campaigns(ctx)
    proxy = settings(ctx).web_behind_proxy
    options = {
        "host": host,
        "port": port,
        "proxy_headers": proxy,
        # believed from the proxy only: a client's own X-Forwarded-For would escape the
        # per-address login throttle
        "forwarded_allow_ips": settings(ctx).web_proxy_addresses if proxy else None,
        "access_log": False,  # an address holds searches and authors' handles: never logged
        "log_level": "warning",
        "server_header": False,
    }
    if demo:
        with tempfile.TemporaryDirectory(prefix="relais-demo-") as folder:
            store, login = _demo_store(Path(folder), campaigns)
            with store:
                app = create_app(store, SystemClock(), campaigns, demo_login=login)
                click.echo(f"Demo desk on http://{host}:{port}/ — log in as {login[0]}, password {login[1]}")
                click.echo("Its store is thrown away when it stops (Ctrl+C).")
                serving()
                uvicorn.run(app, **options)  # type: ignore[arg-type]
        return
    with open_store(ctx) as engine:
        store = Store(engine)
        from bot.store.moderators import ModeratorStore

        if not ModeratorStore(engine).all():
            fail("no moderator can log in yet", hint="add one with relais moderators add NAME --admin")
        with store:
            from bot.wiring import export_checker

            app = create_app(store, SystemClock(), campaigns, verify=export_checker(settings(ctx)))
            click.echo(f"Moderation desk on http://{host}:{port}/ (Ctrl+C stops it)")
            serving()
            uvicorn.run(app, **options)  # type: ignore[arg-type]


def _campaigns(ctx: click.Context) -> list[Campaign]:
    """The campaigns that validate, for their time zones and their plan. The desk serves
    the replies without them: a campaign file with a problem, or none at all, is a
    warning, never a reason not to start."""
    from bot.core.campaigns import load_campaigns

    given = settings(ctx)
    if not given.schedules_dir.is_dir():
        warn(ctx, f"no campaign files in {given.schedules_dir}: times are shown in UTC and the plan is empty")
        return []
    result = load_campaigns([given.schedules_dir], given.messages_dir)
    if result.errors:
        warn(
            ctx,
            f"{count(len(result.errors), 'problem')} in the campaign files (relais validate lists them): "
            f"the desk knows the {count(len(result.campaigns), 'campaign')} that validate",
        )
    return result.campaigns


def _demo_store(folder: Path, campaigns: list[Campaign]) -> tuple[Store, tuple[str, str]]:
    from bot.clock import SystemClock
    from bot.services.accounts import Accounts
    from bot.store import database
    from bot.store.handle import Store
    from bot.store.moderators import ModeratorStore
    from bot.web.demo import demo_account, seed

    store = Store.open(f"sqlite:///{folder / 'demo.db'}")
    database.upgrade(store.engine)
    seed(store.comments, campaigns, SystemClock().now())
    login = demo_account(Accounts(ModeratorStore(store.engine), SystemClock()))
    return store, login

"""``relais db``: the store itself."""

from __future__ import annotations

import click

from bot.cli.common import store_errors, store_url
from bot.store import location


@click.group("db")
def db() -> None:
    """The store (RELAIS_DATABASE_URL): create it, migrate it.

    \b
    Example:
      relais db upgrade
    """


@db.command("upgrade")
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Create or migrate the store's tables to the current version (relais run does it too).
    Prints where the store is.

    \b
    Example (a store on PostgreSQL):
      RELAIS_DATABASE_URL=postgresql+psycopg://relais@db.example/relais relais db upgrade
    """
    from bot.store import database, prepare

    url = store_url(ctx)
    with store_errors():
        prepare(url)
        engine = database.create(url)
        try:
            database.upgrade(engine)
        finally:
            engine.dispose()
    click.echo(f"{location(url)}: up to date")

"""``relais db``: the store itself."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.common import fail, store_errors, store_url
from bot.store import location, sqlite_file


@click.group("db")
def db() -> None:
    """The store (RELAIS_DATABASE_URL): create it, migrate it, back it up.

    \b
    Example:
      relais db upgrade
      relais db backup /var/backups/relais/relais-$(date +%F).db
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
    url = store_url(ctx)
    path = sqlite_file(url)
    if path is not None:
        from bot.store.glance import ready

        if ready(path):  # nothing to do: said without loading SQLAlchemy (half the time)
            click.echo(f"{location(url)}: up to date")
            return
    from bot.store import database, prepare

    with store_errors():
        prepare(url)
        engine = database.create(url)
        try:
            migrated = database.upgrade(engine)
        finally:
            engine.dispose()
    before = migrated[0] if migrated else None
    said = f"migrated from {before} to {migrated[1]}, " if migrated and before else ""
    click.echo(f"{location(url)}: {said}up to date")


@db.command("backup")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=True))
@click.pass_context
def backup(ctx: click.Context, file: Path) -> None:
    """Copy the SQLite store to FILE, consistently, even while relais run writes to it
    (SQLite's online backup). FILE is replaced if it exists. To restore, stop the bot and
    copy FILE back over the store (README, "Deploying"). For PostgreSQL, use pg_dump.

    \b
    Example (nightly, from cron or a systemd timer):
      relais db backup /var/backups/relais/relais-$(date +%F).db
    """
    from bot.store.backup import BackupError
    from bot.store.backup import backup as copy

    url = store_url(ctx)
    try:
        made = copy(url, file)
    except BackupError as error:
        fail(str(error))
    click.echo(f"{made.target}: a copy of {made.source} ({made.size / 1e6:.1f} MB)")

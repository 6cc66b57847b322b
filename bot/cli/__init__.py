"""The ``relais`` command: a thin shell over the library, one module per command group.

Each command reads its options, calls the library (``bot.services``, ``bot.app``) and
turns the library's small exceptions into one-line errors that say what to do
(``common.fail``). Opening the store and as whom a moderator acts are in ``common``.

Start-up stays fast: this package imports click and light modules only; a command imports
the store, the networks' libraries and the rest when it runs (``relais validate`` never
loads SQLAlchemy).

Exit codes: 0 success, 1 failure while running, 2 invalid campaign files or usage.
"""

from __future__ import annotations

import click

from bot import __version__
from bot.cli import campaigns, check, comments, database, export, resolve, run, status


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="relais")
def main() -> None:
    """Relais publishes a campaign's posts and livestream reminders to Telegram and
    Mastodon, collects the replies that carry its hashtag, and helps moderators
    review and export them.

    Campaigns live in schedules/*.yaml, message templates in messages/. Settings come
    from the environment or .env (see .env.example).

    \b
    Example (check the campaigns, then rehearse them on the console):
      relais validate
      relais run --dry-run --from 2011-09-01
    """


for command in (
    campaigns.validate,
    campaigns.plan,
    run.run,
    status.status,
    check.check,
    resolve.resolve,
    comments.comments,
    export.export,
    database.db,
):
    main.add_command(command)

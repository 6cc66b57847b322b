"""The ``relais`` command: a thin shell over the library, one module per command group.

Each command reads its options, calls the library (``bot.services``, ``bot.app``) and
turns the library's small exceptions into one-line errors that say what to do
(``common.fail``). Opening the store and as whom a moderator acts are in ``common``.

Start-up stays fast: this package imports click alone, and a command's module is imported
when that command is run or its help shown (``COMMANDS``); a command imports the store, the
networks' libraries and the rest when it runs (``relais validate`` never loads SQLAlchemy,
``relais --help`` loads none of them: ``tests/test_startup.py``).

Adding a command: one line in ``COMMANDS``.

Exit codes: 0 success, 1 failure while running, 2 invalid campaign files or usage.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator, MutableMapping

import click

from bot import __version__

# Every command of ``relais``: its name, and where it is (``module:attribute``).
COMMANDS = {
    "validate": "bot.cli.campaigns:validate",
    "plan": "bot.cli.campaigns:plan",
    "run": "bot.cli.run:run",
    "status": "bot.cli.status:status",
    "check": "bot.cli.check:check",
    "resolve": "bot.cli.resolve:resolve",
    "comments": "bot.cli.comments:comments",
    "export": "bot.cli.export:export",
    "db": "bot.cli.database:db",
    "moderators": "bot.cli.moderators:moderators",
    "web": "bot.cli.web:web",
}


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands by name, each imported from its module the first time it is
    looked up: click lists the names without importing anything, and runs only the one
    command asked for (``relais --version`` imports no command at all)."""

    def __init__(self, where: dict[str, str]) -> None:
        self._where = dict(where)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module, _, attribute = self._where[name].partition(":")
            self._loaded[name] = getattr(importlib.import_module(module), attribute)
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._where[name] = ""
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._where[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, name: object) -> bool:
        return name in self._where


@click.group(
    commands=LazyCommands(COMMANDS),
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="relais")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Relais publishes a campaign's posts and livestream reminders to Telegram and
    Mastodon, collects the replies that carry its hashtag, and helps moderators
    review and export them.

    Campaigns live in schedules/*.yaml, message templates in messages/. Settings come
    from the environment or .env (see .env.example), or the file RELAIS_ENV_FILE names.

    \b
    Example (check the campaigns, then rehearse them on the console):
      relais validate
      relais run --dry-run --from 2011-09-01
    """
    # Start-up allocates a great many objects that live as long as the command, and Python's
    # cycle collector went through them again and again while the libraries were imported:
    # a twentieth of a command's time. It is off while one runs; ``common.serving`` puts it
    # back for the commands that run until stopped.
    if gc.isenabled():
        gc.disable()
        ctx.call_on_close(gc.enable)


def entry() -> None:
    """The ``relais`` command (and ``python -m bot``): ``main`` in a process of its own.

    The cycle collector stays off to the end, and what the command leaves is frozen before
    the interpreter exits: Python's exit goes through every object once more otherwise,
    and through them all again if the collector was back on, a tenth of a command's time.
    (``main`` called in a process that goes on, as the tests do, puts the collector back.)
    So an object left in a reference cycle at exit is never finalized: a command closes
    what it opens (engines are disposed, files closed) rather than leave it to ``__del__``.
    """
    gc.disable()
    try:
        main()
    finally:
        gc.freeze()

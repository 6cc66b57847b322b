"""``relais moderators``: the accounts that log in to the web desk (``relais web``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from bot.cli.common import fail, open_store

if TYPE_CHECKING:
    from bot.services.accounts import Accounts


@contextmanager
def accounts(ctx: click.Context) -> Iterator[Accounts]:
    """The accounts service over the store; its refusals as one line."""
    from bot.clock import SystemClock
    from bot.services.accounts import AccountError, Accounts
    from bot.store.moderators import ModeratorStore

    with open_store(ctx) as engine:
        try:
            yield Accounts(ModeratorStore(engine), SystemClock())
        except AccountError as error:
            fail(str(error))


def read_password(name: str) -> str:
    """Asked twice on a terminal (never echoed); one line of standard input otherwise, so
    that a script can pipe it in (``printf '%s\\n' "$PASSWORD" | relais moderators add ana``)."""
    if sys.stdin.isatty():
        return str(
            click.prompt(
                f"Password for {name}",
                hide_input=True,
                confirmation_prompt="Again, to be sure",
                err=True,
            )
        )
    line = sys.stdin.readline()
    if not line:
        fail("no password on standard input: give it on one line")
    return line.rstrip("\r\n")


@click.group()
def moderators() -> None:
    """The moderators who log in to the web desk (relais web).

    \b
    Example:
      relais moderators add ana --admin
      relais moderators list
    """


@moderators.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May manage moderators and export authors' names.")
@click.pass_context
def add(ctx: click.Context, name: str, admin: bool) -> None:
    """Add a moderator. The password is asked twice on a terminal, or read as one line
    from standard input.

    \b
    Example:
      relais moderators add ana --admin
    """
    from bot.services.accounts import AccountError, checked_name, checked_password

    try:
        name = checked_name(name)
        password = checked_password(read_password(name))
    except AccountError as error:
        fail(str(error))
    with accounts(ctx) as service:
        service.add(name, password, admin=admin)
    click.echo(f"{name} added{' (admin)' if admin else ''}: they can log in to relais web")


@moderators.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """The moderators, their role and when they last logged in.

    \b
    Example:
      relais moderators list
    """
    with accounts(ctx) as service:
        found = service.all()
    if not found:
        click.echo("no moderator yet: add one with relais moderators add NAME --admin")
        return
    for m in found:
        last = f"{m.last_login_at:%Y-%m-%d %H:%M} UTC" if m.last_login_at else "never"
        click.echo(f"{m.name}\t{'admin' if m.admin else 'moderator'}\tlast login: {last}")


@moderators.command("remove")
@click.argument("name")
@click.pass_context
def remove(ctx: click.Context, name: str) -> None:
    """Remove a moderator: they are logged out at once. Their decisions keep their name.

    \b
    Example:
      relais moderators remove bob
    """
    with accounts(ctx) as service:
        service.remove(name)
    click.echo(f"{name} removed")


@moderators.command("password")
@click.argument("name")
@click.pass_context
def password(ctx: click.Context, name: str) -> None:
    """Set a moderator's password (asked as for add); their sessions end.

    \b
    Example:
      relais moderators password bob
    """
    from bot.services.accounts import AccountError, checked_password

    try:
        new = checked_password(read_password(name))
    except AccountError as error:
        fail(str(error))
    with accounts(ctx) as service:
        service.change_password(name, new)
    click.echo(f"password of {name} changed: their sessions have ended")

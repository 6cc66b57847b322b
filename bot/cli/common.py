"""What every command shares: the settings, opening the store, as whom a moderator acts,
and saying a failure in one line.

Light on purpose (see ``bot.cli``): the settings' and the store's libraries are imported
when a command asks for them, not when the command line starts.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from bot.store import StoreLocationError, location, missing_file, sqlite_file

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.settings import Settings
    from bot.store.records import StatusReading

EXIT_FAILURE = 1
EXIT_INVALID = 2


@dataclass
class Session:
    """What one run of ``relais`` learns once (click's context object)."""

    settings: Settings | None = None
    warned: set[str] = field(default_factory=set)  # warnings already said


def session(ctx: click.Context) -> Session:
    return ctx.ensure_object(Session)


LARGEST_ID = 2**63 - 1  # a store's ids (SQLite's INTEGER) never go past it


def is_id(text: str) -> bool:
    """Whether ``text`` is an id as typed: ASCII digits (not ``١٢``), within ``LARGEST_ID``."""
    return text.isascii() and text.isdigit() and int(text) <= LARGEST_ID


class Network(click.ParamType):
    """A registered network's name, checked against the registry when a value is given (as
    click's ``Choice`` does, with its message). Importing the registry loads pydantic, which a
    command's --help must not: the help says NETWORK rather than listing them."""

    name = "network"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from bot import networks

        chosen: str = click.Choice(networks.names()).convert(value, param, ctx)
        return chosen


class Id(click.ParamType):
    """A reply's or a decision's number: ASCII digits, within what a store holds."""

    name = "ID"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        if not is_id(str(value).strip()):
            self.fail(f"{value!r} is not a number like 12", param, ctx)
        return int(str(value).strip())


def serving() -> None:
    """For a command about to run until it is stopped (``run``, ``web``): the cycle
    collector, which ``main`` keeps off while a command starts, back on."""
    gc.enable()


def fail(message: str, code: int = EXIT_FAILURE, *, hint: str | None = None) -> NoReturn:
    """Say what went wrong in one line (and what to do, with ``hint``), then exit."""
    click.echo(f"relais: {message}" + (f"; {hint}" if hint else ""), err=True)
    sys.exit(code)


def warn(ctx: click.Context, message: str) -> None:
    """A warning, said once per run however often a command comes across it."""
    said = session(ctx).warned
    if message not in said:
        said.add(message)
        click.echo(f"relais: warning: {message}", err=True)


def echo_json(document: Mapping[str, object]) -> None:
    """One JSON document on stdout and nothing else, indented for a person at a terminal."""
    click.echo(json.dumps(document, ensure_ascii=False, indent=2 if sys.stdout.isatty() else None))


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def settings(ctx: click.Context) -> Settings:
    """The settings, checked: a warning per unknown RELAIS_* variable, and for values that
    cannot work one line each naming the variable and the fix, then exit 2."""
    state = session(ctx)
    if state.settings is None:
        import os

        from pydantic import ValidationError

        from bot.settings import Settings, env_file, unknown_variables

        try:
            file = env_file(os.environ)
        except ValueError as error:
            fail(str(error), EXIT_INVALID)
        for warning in unknown_variables(os.environ, file):
            click.echo(f"relais: warning: {warning}", err=True)
        try:
            state.settings = Settings(_env_file=file)  # type: ignore[call-arg]  # (pydantic-settings: no stub)
        except ValidationError as error:
            for problem in error.errors(include_url=False, include_input=False):
                cause = problem.get("ctx", {}).get("error")
                message = str(cause) if problem["type"] == "value_error" and cause else problem["msg"]
                if problem["loc"]:
                    name = "RELAIS_" + "_".join(str(part) for part in problem["loc"]).upper()
                    message = f"{name}: {message}"
                click.echo(f"relais: {message}", err=True)
            sys.exit(EXIT_INVALID)
    return state.settings


def store_url(ctx: click.Context) -> str:
    """The store's URL (absolute), after refusing to start a new store beside one an
    earlier version left in the working directory (exit 2, naming both)."""
    hint = left_behind(settings(ctx))
    if hint:
        fail(hint, EXIT_INVALID)
    return settings(ctx).database_url.get_secret_value()


def store_location(ctx: click.Context) -> str:
    """Where the store is, for people (no password)."""
    return location(settings(ctx).database_url.get_secret_value())


def left_behind(settings: Settings) -> str | None:
    """What to do when a store an earlier version made is in the working directory and
    none where the settings now say."""
    old = settings.store_left_behind()
    if old is None:
        return None
    store = location(settings.database_url.get_secret_value())
    return (
        f"no store at {store}, but {old} exists (a relative SQLite path is now under the state "
        f"directory, see README): move it to {Path(store).parent}, or set RELAIS_DATABASE_URL=sqlite:///{old}"
    )


def existing_store(ctx: click.Context) -> str:
    """The store's URL; exits saying so when it names an SQLite file that does not exist
    (a command that reads never creates a store)."""
    url = store_url(ctx)
    if missing_file(url):
        fail(
            f"no store at {location(url)}: Relais has not run with this store yet "
            "(if it has, set RELAIS_DATABASE_URL to its store)"
        )
    return url


def status_reading(ctx: click.Context) -> StatusReading:
    """What ``relais status`` reports of the store: read with ``sqlite3`` alone where it
    can be (``bot.store.glance``), else through SQLAlchemy, which says what is wrong."""
    url = existing_store(ctx)
    path = sqlite_file(url)
    if path is not None:
        from bot.store.glance import status

        found = status(path)
        if found is not None:
            return found
    from bot.services.status import reading

    with open_store(ctx) as engine:
        return reading(engine)


@contextmanager
def open_store(ctx: click.Context) -> Iterator[Engine]:
    """The engine of an existing, current store, disposed of when the block ends; exits
    with the reason and the fix otherwise (a command that reads never creates a store)."""
    from bot.store import database

    url = existing_store(ctx)
    try:
        engine = database.create(url)
        current = database.is_current(engine)
    except database.StoreError as error:
        fail(str(error))
    try:
        if not current:
            fail(f"{location(url)} is not a current Relais store: run `relais db upgrade`")
        yield engine
    finally:
        engine.dispose()


@contextmanager
def store_errors() -> Iterator[None]:
    """The store's failures (it cannot be opened, created or migrated) as one line."""
    from bot.store.database import StoreError

    try:
        yield
    except (StoreError, StoreLocationError) as error:
        fail(str(error))


def actor(ctx: click.Context, given: str | None) -> str:
    """As whom a moderator acts: the name given (``--as``), else ``RELAIS_MODERATOR``; never
    the login name (``root`` is nobody's name in the archive)."""
    name = (given or settings(ctx).moderator or "").strip()
    if not name:
        fail(
            "who is deciding? nobody is named",
            EXIT_INVALID,
            hint="set RELAIS_MODERATOR=your-name (in .env or the environment), or add --as NAME",
        )
    return name

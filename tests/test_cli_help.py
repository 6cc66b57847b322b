"""Every command's --help ends with an example of that very command (sqlite-utils' way: a
user learns a command from its help)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from bot.cli import main


def commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of ``command`` and of every command below it."""
    yield path
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from commands(sub, (*path, name))


ALL = list(commands(main))


def test_the_walk_sees_every_command() -> None:
    assert {
        (),
        ("validate",),
        ("plan",),
        ("run",),
        ("status",),
        ("export",),
        ("db",),
        ("db", "upgrade"),
        ("comments",),
        ("comments", "list"),
        ("comments", "show"),
        ("comments", "approve"),
        ("comments", "reject"),
        ("comments", "flag"),
    } <= set(ALL)


@pytest.mark.parametrize("path", ALL, ids=lambda path: " ".join(("relais", *path)))
def test_every_command_shows_an_example_of_itself(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"relais {' '.join(path)} --help has no example"
    example = result.output.split("Example", 1)[1]
    # a line of the example runs this command (after any VARIABLE=value)
    command = " ".join(("relais", *path))
    assert re.search(rf"^\s+(?:\w+=\S+\s+)?{re.escape(command)}(?:\s|$)", example, re.MULTILINE), example

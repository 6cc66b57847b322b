"""``relais comments`` against the defects found by the hostile review of the desk (issue
10): undoing a colleague's decision, ids and dates out of range, non-ASCII digits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_moderate_cli import relais, root, states

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test

__all__ = ["root"]  # the fixture, shared with tests/test_moderate_cli.py


def test_undoing_a_colleagues_decision_needs_force_and_says_whose(root: Path) -> None:
    relais(root, "comments", "reject", "1", "--code", "spam", moderator="bob")
    refused = relais(root, "comments", "undo", "1")
    assert refused.returncode == 1
    assert refused.stderr == (
        "relais: decision 1 is bob's, not yours; nothing was undone: add --force to undo bob's decision\n"
    )
    assert states(root)[1] == "rejected"
    forced = relais(root, "comments", "undo", "1", "--force")
    assert forced.returncode == 0
    assert states(root)[1] == "pending"


HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "args",
    [
        ("comments", "approve", HUGE),
        ("comments", "approve", f"1-{HUGE}"),
        ("comments", "undo", HUGE),
        ("comments", "show", HUGE),
        ("comments", "list", "--after", HUGE),
        ("comments", "decisions", "--before", HUGE),
        ("comments", "list", "--since", "9999-12-31", "--until", "9999-12-31"),
        ("comments", "list", "--until", "9999-12-31 23:59", "--campaign", "gouverner-ensemble"),
        ("comments", "list", "--since", "0001-01-01", "--campaign", "gouverner-ensemble"),
    ],
)
def test_ids_and_dates_out_of_range_are_one_line_errors(root: Path, args: tuple[str, ...]) -> None:
    result = relais(root, *args)
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 1, 2)
    if result.returncode:  # one line, relais's or click's (after its usage)
        assert result.stderr.strip().splitlines()[-1].startswith(("relais: ", "Error: ")), result.stderr
    assert set(states(root).values()) == {"pending"}


def test_ids_are_ascii_digits_only(root: Path) -> None:
    for args in (("approve", "\u0661"), ("approve", "\u0661-\u0662"), ("show", "\u0662"), ("undo", "\u0661")):
        result = relais(root, "comments", *args)
        assert result.returncode == 2, args
    assert set(states(root).values()) == {"pending"}


def test_a_big_range_asks_first_as_a_filter_does(root: Path) -> None:
    from bot.store import database
    from bot.store.comments import CommentStore
    from tests.test_moderate_cli import NOW, reply

    engine = database.create(f"sqlite:///{root / 'relais.db'}")
    CommentStore(engine).save_page("p", "200", [reply(i, f"n° {i}") for i in range(6, 201)], now=NOW)
    engine.dispose()
    small = relais(root, "comments", "flag", "1-5")
    assert small.returncode == 0
    refused = relais(root, "comments", "approve", "1-99999")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == "relais: 1-99999 selects 200 replies; add --yes to decide them all\n"
    assert set(states(root).values()) == {"pending", "flagged"}
    done = relais(root, "comments", "approve", "1-99999", "--yes")
    assert done.stdout == "approved: 1-200 (by ana; decision 2)\n"

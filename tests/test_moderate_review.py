"""``relais comments`` against the defects found by the hostile review of the desk (issue
10): undoing a colleague's decision, ids and dates out of range, non-ASCII digits."""

from __future__ import annotations

from pathlib import Path

from tests.test_moderate_cli import relais, root, states

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

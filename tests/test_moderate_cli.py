"""``relais comments`` as moderators work through a queue: who decides, ranges and
filters, a colleague's decision, undo, the history, the author view, and lists that say
how many they show, in the campaign's zone, at 100 columns or piped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain import Reply
from bot.store import database
from bot.store.comments import Collected, CommentStore
from tests.data import Network

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test

NOW = datetime(2012, 5, 2, 18, 0, tzinfo=UTC)
CAMPAIGN = """\
campaign: gouverner-ensemble
timezone: America/Montreal
language: fr
hashtags: [gautrinweb2]
channels:
  masto: {network: mastodon}
posts: []
"""


def relais(
    root: Path, *args: str, moderator: str | None = "ana", **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_") and k != "COLUMNS"}
    environ["RELAIS_DATABASE_URL"] = f"sqlite:///{root / 'relais.db'}"
    if moderator:
        environ["RELAIS_MODERATOR"] = moderator
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def reply(i: int, text: str, author: str = "alice", network: Network = Network.MASTODON) -> Collected:
    return Collected(
        Reply(
            network,
            str(i),
            text,
            NOW + timedelta(minutes=i),
            author,
            f"@{author}@example.org",
            f"Nom {author}",
            hashtags=("gautrinweb2",),
        ),
        "gouverner-ensemble",
        None,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "gouverner-ensemble.yaml").write_text(CAMPAIGN, encoding="utf-8")
    engine = database.create(f"sqlite:///{tmp_path / 'relais.db'}")
    database.upgrade(engine)
    texts = ["Casino gratuit", "Bravo pour le rapport", "Casino encore", "Données ouvertes", "Casino !!!"]
    replies = [
        reply(i, f"{text} #gautrinweb2", author="mallory" if "Casino" in text else "alice")
        for i, text in enumerate(texts, start=1)
    ]
    CommentStore(engine).save_page("p", "5", replies, now=NOW)
    engine.dispose()
    return tmp_path


def states(root: Path) -> dict[int, str]:
    listed = json.loads(relais(root, "comments", "list", "--limit", "0", "--format", "json").stdout)
    return {c["id"]: c["state"] for c in listed["comments"]}


def test_nobody_decides_unnamed_and_never_as_the_login_name(root: Path) -> None:
    result = relais(root, "comments", "approve", "1", moderator=None)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "relais: who is deciding? nobody is named; set RELAIS_MODERATOR=your-name (in .env or the "
        "environment), or add --as NAME\n"
    )
    assert set(states(root).values()) == {"pending"}
    assert (
        relais(root, "comments", "approve", "1", "--as", "bob").stdout == "approved: 1 (by bob; decision 1)\n"
    )
    assert relais(root, "comments", "approve", "2").stdout == "approved: 2 (by ana; decision 2)\n"


def test_ranges_and_ids_are_decided_at_once(root: Path) -> None:
    result = relais(root, "comments", "flag", "1", "3-5", "--reason", "à voir")
    assert (result.returncode, result.stdout) == (0, "flagged: 1, 3-5 (by ana; decision 1)\n")
    assert states(root) == {1: "flagged", 2: "pending", 3: "flagged", 4: "flagged", 5: "flagged"}
    backwards = relais(root, "comments", "approve", "5-3")
    assert (backwards.returncode, backwards.stderr) == (2, "relais: '5-3' is backwards: write 3-5\n")
    nonsense = relais(root, "comments", "approve", "x")
    assert (nonsense.returncode, nonsense.stderr) == (
        2,
        "relais: 'x' is not a reply id nor a range like 12-40\n",
    )
    both = relais(root, "comments", "approve", "1", "--status", "pending")
    assert (both.returncode, both.stderr) == (2, "relais: give reply ids or a filter, not both\n")
    nocode = relais(root, "comments", "reject", "2")
    assert nocode.returncode == 2
    assert nocode.stderr == (
        "relais: a rejection needs a reason code: add --code spam|off_topic|abusive|personal_information|other\n"
    )


def test_a_filter_decision_asks_first_or_takes_yes(root: Path) -> None:
    asked = relais(root, "comments", "reject", "--search", "casino", "--status", "pending", "--code", "spam")
    assert (asked.returncode, asked.stdout) == (1, "")
    assert asked.stderr.endswith("relais: this filter selects 3 replies; add --yes to decide them all\n")
    assert set(states(root).values()) == {"pending"}
    done = relais(
        root, "comments", "reject", "--search", "casino", "--status", "pending", "--code", "spam", "--yes"
    )
    assert (done.returncode, done.stdout) == (0, "rejected: 1, 3, 5 (by ana; decision 1)\n")
    assert states(root) == {1: "rejected", 2: "pending", 3: "rejected", 4: "pending", 5: "rejected"}
    none = relais(root, "comments", "approve", "--search", "introuvable", "--yes")
    assert (none.returncode, none.stderr.splitlines()[-1]) == (
        1,
        "relais: no reply matches this filter: nothing to decide",
    )


def test_overturning_a_colleague_needs_force_and_says_whose(root: Path) -> None:
    relais(root, "comments", "reject", "1", "--code", "spam", moderator="bob")
    refused = relais(root, "comments", "approve", "1", "2")
    assert refused.returncode == 1
    assert refused.stderr.startswith("relais: a colleague decided it: reply 1 is rejected by bob at 2")
    assert refused.stderr.endswith("; nothing was decided: add --force to overturn bob's decision\n")
    assert states(root)[2] == "pending"  # all or nothing
    forced = relais(root, "comments", "approve", "1", "2", "--force")
    assert (forced.returncode, forced.stdout) == (0, "approved: 1-2 (by ana; decision 2)\n")


def test_undo_the_last_decision_or_any_from_the_history(root: Path) -> None:
    relais(root, "comments", "flag", "1", "2")
    relais(root, "comments", "approve", "2-4")
    undone = relais(root, "comments", "undo")
    assert (undone.returncode, undone.stdout) == (
        0,
        "undid decision 2: 2 flagged, 3 pending, 4 pending (by ana; decision 3)\n",
    )
    history = relais(root, "comments", "decisions").stdout.splitlines()
    assert [line.split()[0] for line in history] == ["3", "2", "1"]
    assert ("undo of 2" in history[0], "[undone by 3]" in history[1]) == (True, True)
    again = relais(root, "comments", "undo", "2")
    assert (again.returncode, again.stderr) == (1, "relais: decision 2 was already undone (by decision 3)\n")
    missing = relais(root, "comments", "undo", "99")
    assert missing.stderr == "relais: no decision 99; relais comments decisions lists them\n"
    assert json.loads(relais(root, "comments", "undo", "1", "--format", "json").stdout)["undoes"] == 1
    assert set(states(root).values()) == {"pending"}


def test_the_author_view_shows_a_repeat_spammer(root: Path) -> None:
    relais(root, "comments", "reject", "1", "--code", "spam")
    shown = relais(root, "comments", "author", "mastodon", "@mallory@example.org")
    lines = shown.stdout.splitlines()
    assert lines[0] == "Nom mallory @mallory@example.org on mastodon: 3 replies (2 pending, 1 rejected)"
    assert [line.split()[0] for line in lines[1:] if not line.startswith("        ")] == ["5", "3", "1"]
    assert "        rejected by ana" in lines
    document = json.loads(
        relais(root, "comments", "author", "mastodon", "mallory", "--format", "json").stdout
    )
    assert document["total"] == 3


def test_lists_say_how_many_in_the_campaign_zone(root: Path) -> None:
    listed = relais(root, "comments", "list", "--limit", "2", "--oldest")
    lines = listed.stdout.splitlines()
    assert lines[-1] == "2 of 5 shown; next: --after 2"
    assert lines[0] == "network: mastodon, state: pending"
    assert "2012-05-02 14:01-04:00" in listed.stdout  # 18:01 UTC in Montreal
    rest = relais(root, "comments", "list", "--limit", "2", "--oldest", "--after", "2").stdout
    assert rest.splitlines()[-1] == "2 of 5 shown; next: --after 4"
    document = json.loads(relais(root, "comments", "list", "--search", "casino", "--format", "json").stdout)
    assert (document["shown"], document["total"], document["order"]) == (3, 3, "newest")
    assert document["comments"][0]["created"] == "2012-05-02T14:05:00-04:00"
    assert document["counts"]["pending"] == 3
    since = relais(
        root,
        "comments",
        "list",
        "--campaign",
        "gouverner-ensemble",
        "--since",
        "2012-05-02 14:03",
        "--format",
        "json",
    )
    assert [c["id"] for c in json.loads(since.stdout)["comments"]] == [5, 4, 3]
    bad = relais(root, "comments", "list", "--since", "hier")
    assert bad.returncode == 2
    assert "'hier' is not a date like 2012-05-02" in bad.stderr


def test_list_gives_the_text_the_room_at_100_columns_and_no_padding_piped(root: Path) -> None:
    engine = database.create(f"sqlite:///{root / 'relais.db'}")
    long = "Un très long commentaire sur la gouvernance ouverte " * 4 + "#gautrinweb2"
    CommentStore(engine).save_page(None, None, [reply(6, long, author="quelqu.un.de.tres.long")], now=NOW)
    engine.dispose()
    wide = relais(root, "comments", "list", "--oldest", COLUMNS="100").stdout.splitlines()
    assert all(len(line) <= 100 for line in wide)
    header = wide[1]
    assert header.index("text") <= 46  # id, time and a short handle leave the rest to the text
    assert ("@alice " in wide[3], "@alice@example.org" in "\n".join(wide)) == (True, False)
    piped = relais(root, "comments", "list", "--oldest").stdout.splitlines()
    assert all(line == line.rstrip() for line in piped)
    assert any(long.replace("#gautrinweb2", "").strip() in line for line in piped)  # one line, never folded


def test_hostile_text_stays_data_in_every_face(root: Path) -> None:
    hostile = "<script>alert(1)</script>\u202eevil\u200b{{ 7*7 }}\x1b[2J " + "x" * 100_000
    engine = database.create(f"sqlite:///{root / 'relais.db'}")
    CommentStore(engine).save_page(None, None, [reply(7, hostile, author="\u202emallory")], now=NOW)
    engine.dispose()
    document = json.loads(relais(root, "comments", "list", "--search", "script", "--format", "json").stdout)
    assert [c["text"] for c in document["comments"]] == [hostile]
    listed = relais(root, "comments", "list", "--search", "script", COLUMNS="100").stdout
    assert "\u202e" not in listed
    assert "\x1b" not in listed
    assert max(len(line) for line in listed.splitlines()) <= 100
    piped = relais(root, "comments", "list", "--search", "script").stdout
    assert "<script>alert(1)</script>\\u202eevil\\u200b{{ 7*7 }}\\u001b[2J xxx" in piped
    decided = relais(root, "comments", "flag", "--search", "script", "--yes", "--format", "json")
    assert json.loads(decided.stdout)["comments"][0]["text"] == hostile
    author = relais(root, "comments", "author", "mastodon", "\u202emallory").stdout
    assert "\u202e" not in author


def test_every_criterion_of_a_query_is_a_filter_option() -> None:
    """The filters of ``comments list`` and the decisions are the query's criteria, read from
    the one definition the moderation service checks them by (``bot.domain``)."""
    from dataclasses import fields

    from bot.cli.comments import list_
    from bot.cli.moderate import reject
    from bot.domain import TEXT_CRITERIA, CommentQuery, ReasonCode

    words = {f.name for f in fields(CommentQuery) if f.type == "str | None"}
    assert set(TEXT_CRITERIA) == words
    for command in (list_, reject):
        options = {p.name for p in command.params}
        assert {"state", "since", "until", *TEXT_CRITERIA} <= options
    code = next(p for p in list_.params if p.name == "reason_code")
    assert list(code.type.choices) == list(ReasonCode)  # type: ignore[attr-defined]

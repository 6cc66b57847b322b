"""``relais comments`` and ``relais export`` as a moderator runs them."""

from __future__ import annotations

import csv
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
HOSTILE = "[bold red]pirate[/] \x1b[2J <script>alert(1)</script> \u202eexe.gnp =1+1 #gautrinweb2"


def relais(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["RELAIS_DATABASE_URL"] = f"sqlite:///{root / 'relais.db'}"
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    engine = database.create(f"sqlite:///{tmp_path / 'relais.db'}")
    database.upgrade(engine)
    store = CommentStore(engine)

    def reply(remote_id: str, text: str, author: str) -> Collected:
        return Collected(
            Reply(
                Network.MASTODON,
                remote_id,
                text,
                NOW + timedelta(minutes=int(remote_id)),
                author,
                f"@{author}@example.org",
                f"Nom {author}",
                url=f"https://example.org/@{author}/1",
                hashtags=("gautrinweb2",),
            ),
            "gouverner-ensemble",
            "gouverner-ensemble/annonce/masto",
        )

    store.save_page(
        "p",
        "3",
        [
            reply("1", "Bravo pour le rapport #gautrinweb2", "alice"),
            reply("2", HOSTILE, "mallory"),
            reply("3", "Données ouvertes, enfin ! #gautrinweb2", "alice"),
        ],
        now=NOW,
    )
    engine.dispose()
    return tmp_path


def test_list_prints_hostile_text_escaped(root: Path) -> None:
    result = relais(root, "comments", "list")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "\u202e" not in result.stdout
    assert "\\u001b[2J" in result.stdout
    assert "\\u202eexe.gnp" in result.stdout
    assert "[bold red]pirate[/]" in result.stdout  # shown as written, not as markup
    assert "<script>alert(1)</script>" in result.stdout


def test_list_formats_and_filters(root: Path) -> None:
    document = json.loads(relais(root, "comments", "list", "--format", "json").stdout)
    assert [c["id"] for c in document["comments"]] == [3, 2, 1]
    assert document["comments"][1]["text"] == HOSTILE
    found = json.loads(relais(root, "comments", "list", "--search", "donnees", "--format", "json").stdout)
    assert [c["id"] for c in found["comments"]] == [3]
    rows = list(csv.reader(relais(root, "comments", "list", "--format", "csv").stdout.splitlines()))
    assert rows[0] == ["id", "network", "time", "state", "author", "answers", "reason", "text"]
    assert rows[2][7].startswith("[bold red]")


def test_the_network_filter_takes_a_registered_network(root: Path) -> None:
    mastodon = json.loads(relais(root, "comments", "list", "--network", "mastodon", "--format", "json").stdout)
    assert [c["id"] for c in mastodon["comments"]] == [3, 2, 1]
    telegram = json.loads(relais(root, "comments", "list", "--network", "telegram", "--format", "json").stdout)
    assert telegram["comments"] == []
    nowhere = relais(root, "comments", "list", "--network", "nowhere")
    assert nowhere.returncode == 2
    assert "Invalid value for '--network': 'nowhere' is not one of 'telegram', 'mastodon'." in nowhere.stderr


def test_moderation_is_recorded_with_who_when_and_why(root: Path) -> None:
    result = relais(root, "comments", "reject", "2", "--code", "spam", "--reason", "pourriel", "--as", "ana")
    assert (result.returncode, result.stdout) == (0, "rejected: 2 (by ana; decision 1)\n")
    approved = relais(root, "comments", "approve", "1", "3", "--as", "bob").stdout
    assert approved == "approved: 1, 3 (by bob; decision 2)\n"
    missing = relais(root, "comments", "flag", "99", "--as", "ana")
    assert missing.returncode == 1
    assert missing.stderr == "relais: no reply 99\n"
    shown = relais(root, "comments", "show", "2").stdout
    assert "state: rejected — spam — pourriel" in shown
    assert "rejected (spam) by ana: pourriel [decision 1]" in shown
    assert (
        json.loads(relais(root, "comments", "list", "--status", "approved", "--format", "json").stdout)[
            "comments"
        ][0]["decided_by"]
        == "bob"
    )


def test_a_batch_with_an_unknown_reply_decides_nothing(root: Path) -> None:
    result = relais(root, "comments", "approve", "1", "3", "99", "--as", "bob")
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "relais: no reply 99\n")
    listed = json.loads(relais(root, "comments", "list", "--format", "json").stdout)["comments"]
    assert {c["id"]: (c["state"], c["version"]) for c in listed} == {
        1: ("pending", 1),
        2: ("pending", 1),
        3: ("pending", 1),
    }


def test_show_as_json_gives_the_reply_its_context_and_history(root: Path) -> None:
    relais(root, "comments", "flag", "2", "--reason", "à voir", "--as", "ana")
    document = json.loads(relais(root, "comments", "show", "2", "--format", "json").stdout)
    assert document["comment"]["text"] == HOSTILE
    assert (document["comment"]["state"], document["comment"]["version"]) == ("flagged", 2)
    assert document["answers"] is None  # the store has no record of that publication
    assert [(e["kind"], e["actor"], e["reason"]) for e in document["history"]] == [
        ("collected", "relais", None),
        ("flagged", "ana", "à voir"),
    ]
    missing = relais(root, "comments", "show", "99", "--format", "json")
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", "relais: no reply 99\n")


def test_export_holds_the_approved_replies_pseudonymised(root: Path) -> None:
    relais(root, "comments", "reject", "1", "--code", "off_topic", "--as", "ana")
    relais(root, "comments", "approve", "2", "3", "--as", "ana")
    out = root / "archive.csv"
    result = relais(root, "export", "--format", "csv", "--no-verify", "-o", str(out))
    assert (result.returncode, result.stdout) == (0, f"2 replies from {root / 'relais.db'} written to {out}\n")
    content = out.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(content.splitlines()))
    assert [r["author"] for r in rows] == ["participant 1", "participant 2"]
    assert "alice" not in content
    assert "mallory" not in content
    assert "example.org" not in content
    assert rows[0]["answers"] == "annonce"
    assert rows[0]["text"].startswith("'[bold red]") is False  # only formula starts are quoted
    everything = json.loads(_export(root, "json", "--status", "all").read_text(encoding="utf-8"))
    assert [r["state"] for r in everything["replies"]] == ["rejected", "approved", "approved"]


def test_private_messages_are_exported_only_when_asked(root: Path) -> None:
    engine = database.create(f"sqlite:///{root / 'relais.db'}")
    private = Reply(Network.TELEGRAM, "42:1", "En privé #gautrinweb2", NOW, "42", "", "Léa", private=True)
    CommentStore(engine).save_page(None, None, [Collected(private, "c", None)], now=NOW)
    engine.dispose()
    texts = [
        r["text"] for r in json.loads(_export(root, "json", "--status", "all").read_text("utf-8"))["replies"]
    ]
    assert "En privé #gautrinweb2" not in texts
    texts = [
        r["text"]
        for r in json.loads(_export(root, "json", "--status", "all", "--with-private").read_text("utf-8"))[
            "replies"
        ]
    ]
    assert "En privé #gautrinweb2" in texts


def test_export_with_authors(root: Path) -> None:
    data = json.loads(_export(root, "json", "--status", "all", "--with-authors").read_text(encoding="utf-8"))
    assert data["replies"][0]["author_handle"] == "@alice@example.org"
    assert data["replies"][0]["url"] == "https://example.org/@alice/1"


def test_xlsx_opens_and_formulas_stay_text(root: Path) -> None:
    from openpyxl import load_workbook

    path = _export(root, "xlsx", "--status", "all")
    sheet = load_workbook(path).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][:5] == ["network", "time", "edited", "language", "text"]
    texts = [row[4] for row in values[1:]]
    assert HOSTILE.replace("\x1b", "\ufffd") in texts
    formula = _formula_row(root)
    assert formula.data_type == "s"


def _formula_row(root: Path):
    from openpyxl import load_workbook

    engine = database.create(f"sqlite:///{root / 'relais.db'}")
    CommentStore(engine).save_page(
        None,
        None,
        [Collected(Reply(Network.TELEGRAM, "-1:1", '=HYPERLINK("x")', NOW, "9", "", "Eve"), "c", None)],
        now=NOW,
    )
    engine.dispose()
    sheet = load_workbook(_export(root, "xlsx", "--status", "all")).active
    return next(row[4] for row in sheet.iter_rows() if row[4].value == '=HYPERLINK("x")')


def _export(root: Path, fmt: str, *args: str) -> Path:
    out = root / f"export.{fmt}"
    result = relais(root, "export", "--format", fmt, "--no-verify", *args, "-o", str(out))
    assert result.returncode == 0, result.stderr
    return out

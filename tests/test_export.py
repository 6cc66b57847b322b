"""``relais export``: what a spreadsheet would evaluate is neutralised in CSV, and only there."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import SimulatedClock
from bot.domain import CommentState, Reply
from bot.services.moderation import ModerationService
from bot.store import database
from bot.store.comments import Collected, CommentStore
from tests.data import Network

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test

NOW = datetime(2012, 5, 2, 18, 0, tzinfo=UTC)

# (what a follower wrote, the CSV cell Relais must write). Every form a spreadsheet
# evaluates (OWASP "CSV Injection": = + - @ and a leading tab or carriage return), also
# behind leading whitespace and in the full-width and small forms, gets a leading quote.
FORMULAS = [
    ("=1+1", "'=1+1"),
    ("+33 6 12 34 56 78", "'+33 6 12 34 56 78"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    (" =1+1", "' =1+1"),
    ("   +1", "'   +1"),
    ("\n=cmd|' /C calc'!A0", "'\n=cmd|' /C calc'!A0"),
    ("\r\n@SUM(A1)", "'\r\n@SUM(A1)"),
    ("\n \t -1", "'\n \t -1"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("\tplain", "'\tplain"),
    ("\rplain", "'\rplain"),
    ("＝1+1", "'＝1+1"),
    ("＋1", "'＋1"),
    ("－1", "'－1"),
    ("＠SUM(A1)", "'＠SUM(A1)"),
    (' ＝HYPERLINK("x")', '\' ＝HYPERLINK("x")'),
    ("\u3000＝1+1", "'\u3000＝1+1"),  # an ideographic space, then a full-width equals sign
    ("\u00a0=1+1", "'\u00a0=1+1"),  # a no-break space
    ("﹦1+1", "'﹦1+1"),
    ("﹢1", "'﹢1"),
    ("﹣1", "'﹣1"),
    ("\u200b=1+1", "'\u200b=1+1"),  # a zero-width space
    ("\ufeff=1+1", "'\ufeff=1+1"),  # a byte-order mark
    ("\u202e=1+1", "'\u202e=1+1"),  # a right-to-left override
]
PLAIN = [
    "Bravo = merci #gautrinweb2",
    " plain text",
    "\nplain after a newline",
    "a+b",
    "'déjà cité",
    "_x0041_ is not A",
]
TEXTS = [text for text, _ in FORMULAS] + PLAIN


def relais(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["RELAIS_DATABASE_URL"] = f"sqlite:///{root / 'relais.db'}"
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A store holding one approved reply per text, in order, the last one with a
    moderator's reason and an author's name that are formulas too."""
    engine = database.create(f"sqlite:///{tmp_path / 'relais.db'}")
    database.upgrade(engine)
    store = CommentStore(engine)
    replies = [
        Collected(
            Reply(
                Network.MASTODON,
                str(i + 1),
                text,
                NOW + timedelta(minutes=i),
                f"a{i}",
                f"@a{i}@example.org",
                "=cmd|'/C calc'!A0" if i == len(TEXTS) - 1 else f"Nom {i}",
                hashtags=("gautrinweb2",),
            ),
            "gouverner-ensemble",
            None,
        )
        for i, text in enumerate(TEXTS)
    ]
    store.save_page(None, None, replies, now=NOW)
    ids = list(range(1, len(TEXTS) + 1))
    moderation = ModerationService(store, SimulatedClock(NOW))
    moderation.decide(ids[:-1], CommentState.APPROVED, actor="ana")
    moderation.decide(ids[-1:], CommentState.APPROVED, actor="ana", reason=" -1 point")
    engine.dispose()
    return tmp_path


def _export(root: Path, fmt: str, *args: str) -> Path:
    out = root / f"export.{fmt}"
    result = relais(root, "export", "--format", fmt, "--no-verify", *args, "-o", str(out))
    assert result.returncode == 0, result.stderr
    return out


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_csv_neutralises_every_formula_form(root: Path) -> None:
    rows = _csv(_export(root, "csv"))
    expected = [cell for _, cell in FORMULAS] + PLAIN
    assert [r["text"] for r in rows] == expected


def test_csv_neutralises_every_column(root: Path) -> None:
    last = _csv(_export(root, "csv", "--with-authors"))[-1]
    assert last["reason"] == "' -1 point"
    assert last["author_name"] == "'=cmd|'/C calc'!A0"
    assert last["author_handle"] == f"'@a{len(TEXTS) - 1}@example.org"  # a handle starts with @


def test_json_holds_the_exact_text(root: Path) -> None:
    data = json.loads(_export(root, "json").read_text(encoding="utf-8"))
    assert [r["text"] for r in data["replies"]] == TEXTS
    assert data["replies"][-1]["reason"] == " -1 point"


def test_xlsx_holds_the_exact_text_as_string_cells(root: Path) -> None:
    from openpyxl import load_workbook
    from openpyxl.utils.escape import unescape

    sheet = load_workbook(_export(root, "xlsx")).active
    rows = list(sheet.iter_rows())
    header = [cell.value for cell in rows[0]]
    text = header.index("text")
    cells = [row[text] for row in rows[1:]]
    # An XML parser turns a raw carriage return into a newline: the file writes it with the
    # OOXML escape _x000D_ (and a literal "_x0041_" as "_x005F_x0041_"), as Excel does and
    # decodes. openpyxl leaves the escapes as they are; ``unescape`` decodes them.
    assert [unescape(c.value) for c in cells] == TEXTS
    assert {c.data_type for c in cells} == {"s"}, "a string cell, never a formula"
    reason = rows[-1][header.index("reason")]
    assert (reason.value, reason.data_type) == (" -1 point", "s")


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_an_export_naming_authors_is_readable_by_its_owner_only(root: Path, fmt: str) -> None:
    """With authors or private messages: whatever the umask, and over an older file readable by all; a pseudonymised one
    keeps the umask's mode."""
    named, private, anonymous = root / f"named.{fmt}", root / f"private.{fmt}", root / f"anonymous.{fmt}"
    named.write_text("an older export")
    named.chmod(0o644)
    for path, extra in ((named, ["--with-authors"]), (private, ["--with-private"]), (anonymous, [])):
        result = relais(root, "export", "--format", fmt, "--no-verify", "-o", str(path), *extra)
        assert result.returncode == 0, result.stderr
    assert named.stat().st_mode & 0o777 == 0o600
    assert private.stat().st_mode & 0o777 == 0o600
    assert anonymous.stat().st_mode & 0o777 == 0o666 & ~current_umask()


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

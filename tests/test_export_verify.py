"""``relais export`` looks the Mastodon replies up again before it writes: a reply whose
deletion no stream reported (deleted on the instance, or only at its origin) leaves the
store and the file. Real command, real store, the loopback Mastodon over HTTP."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import SimulatedClock
from bot.domain import CommentState, Reply
from bot.services.moderation import ModerationService
from bot.store import database
from bot.store.comments import Collected, CommentStore
from bot.store.heartbeat import Heartbeat
from tests.data import Network
from tests.fakes.mastodon_api import FakeMastodon

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test

TOKEN = "s3cret-mastodon-token-for-export-tests"


@pytest.fixture
def md() -> Iterator[FakeMastodon]:
    with FakeMastodon(token=TOKEN) as fake:
        yield fake


def relais(root: Path, md: FakeMastodon, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env |= {
        "RELAIS_DATABASE_URL": f"sqlite:///{root / 'relais.db'}",
        "RELAIS_MASTODON_URL": md.url,
        "RELAIS_MASTODON_TOKEN": TOKEN,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )


def stored(
    md: FakeMastodon,
    root: Path,
    statuses: list[dict],
    *,
    checked: datetime | None = None,
    streaming_since: datetime | None = None,
) -> None:
    """Store and approve the replies standing for ``statuses`` (with the hashtag
    ``gautrinweb2``), collected two hours ago. With ``streaming_since``, a running bot's
    collector that has followed that hashtag's stream since then, as it notes it."""
    engine = database.create(f"sqlite:///{root / 'relais.db'}")
    database.upgrade(engine)
    store = CommentStore(engine)
    collected = datetime.now(UTC) - timedelta(hours=2)
    if streaming_since is not None:
        Heartbeat(engine, "running-bot").start(datetime.now(UTC), "here", os.getpid())
        store.note_stream("stream:mastodon:gautrinweb2", "streaming", streaming_since)
    replies = [
        Collected(
            Reply(
                Network.MASTODON,
                s["id"],
                f"réponse {i}",
                collected,
                s["account"]["id"],
                "@a",
                "A",
                hashtags=("gautrinweb2",),
            ),
            "c",
            None,
        )
        for i, s in enumerate(statuses)
    ]
    store.save_page(None, None, replies, now=collected)
    if checked is not None:
        store.mark_checked(Network.MASTODON, [statuses[-1]["id"]], checked)
    ModerationService(store, SimulatedClock(collected)).decide(
        [c.id for c in store.find(limit=None)], CommentState.APPROVED, actor="ana"
    )
    engine.dispose()


def test_an_export_after_a_deletion_no_stream_reported_does_not_contain_it(
    md: FakeMastodon, tmp_path: Path
) -> None:
    kept = md.add_remote_status("alice@example.org", "<p>Je maintiens</p>")
    deleted = md.add_remote_status("bob@example.org", "<p>Je retire</p>")
    at_origin = md.add_remote_status("carol@example.org", "<p>Retiré chez moi</p>")
    local = md.add_remote_status("dave", "<p>Local, retiré</p>")
    stored(md, tmp_path, [kept, deleted, at_origin, local])
    md.delete_status(deleted["id"])  # no stream was open to tell
    md.delete_status(local["id"])
    md.delete_at_origin(at_origin["id"])  # the Delete never reached the instance

    out = tmp_path / "archive.json"
    result = relais(tmp_path, md, "export", "--format", "json", "-o", str(out))

    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [r["text"] for r in data["replies"]] == ["réponse 0"]
    assert "verification" not in data
    assert "4 Mastodon replies looked up again, 3 deleted by their authors removed" in result.stderr
    assert "1 replies" in result.stdout
    listed = relais(tmp_path, md, "comments", "list", "--format", "json")
    assert [c["text"] for c in json.loads(listed.stdout)["comments"]] == ["réponse 0"]
    origin = [r for r in md.requests if r.path.startswith("/ap/")]
    assert {r.path.rsplit("/", 1)[1] for r in origin} == {kept["id"], at_origin["id"]}  # the remote ones
    assert all("Authorization" not in r.headers for r in origin)  # our token stays with our instance

    md.delete_status(kept["id"])  # minutes later, and no stream is connected to tell
    again = relais(tmp_path, md, "export", "--format", "json", "-o", str(out))
    assert "1 Mastodon replies looked up again, 1 deleted by their authors removed" in again.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["replies"] == []


def test_a_reply_looked_at_since_its_stream_connected_is_not_looked_up_again(
    md: FakeMastodon, tmp_path: Path
) -> None:
    first = md.add_remote_status("alice@example.org", "<p>Un</p>")
    second = md.add_remote_status("bob@example.org", "<p>Deux</p>")
    now = datetime.now(UTC)
    stored(
        md,
        tmp_path,
        [first, second],
        checked=now - timedelta(minutes=10),
        streaming_since=now - timedelta(minutes=20),
    )
    result = relais(tmp_path, md, "export", "--format", "csv", "-o", str(tmp_path / "a.csv"))
    assert result.returncode == 0, result.stderr
    looked_up = [r.path for r in md.requests if r.path.startswith("/api/v1/statuses/")]
    assert looked_up == [f"/api/v1/statuses/{first['id']}"]  # the other one: looked at, followed since


def test_a_reply_looked_at_before_its_stream_last_connected_is_looked_up_again(
    md: FakeMastodon, tmp_path: Path
) -> None:
    """Its stream was down after it was looked at (it connected again 5 minutes ago): a
    deletion meanwhile was told by nothing."""
    first = md.add_remote_status("alice@example.org", "<p>Un</p>")
    second = md.add_remote_status("bob@example.org", "<p>Deux</p>")
    now = datetime.now(UTC)
    stored(
        md,
        tmp_path,
        [first, second],
        checked=now - timedelta(minutes=10),
        streaming_since=now - timedelta(minutes=5),
    )
    md.delete_status(second["id"])
    result = relais(tmp_path, md, "export", "--format", "json", "-o", str(tmp_path / "a.json"))
    assert result.returncode == 0, result.stderr
    assert "2 Mastodon replies looked up again, 1 deleted by their authors removed" in result.stderr
    assert [r["text"] for r in json.loads((tmp_path / "a.json").read_text("utf-8"))["replies"]] == [
        "réponse 0"
    ]


def test_no_verify_writes_a_file_that_says_so_and_asks_nothing(md: FakeMastodon, tmp_path: Path) -> None:
    status = md.add_remote_status("alice@example.org", "<p>Un</p>")
    stored(md, tmp_path, [status])
    md.delete_status(status["id"])
    before = len(md.requests)
    for fmt in ("json", "csv", "xlsx"):
        result = relais(
            tmp_path, md, "export", "--format", fmt, "--no-verify", "-o", str(tmp_path / f"a.{fmt}")
        )
        assert result.returncode == 0, result.stderr
    assert len(md.requests) == before
    note = "not checked again with the networks before this export (relais export --no-verify)"
    assert json.loads((tmp_path / "a.json").read_text("utf-8"))["verification"] == note
    with (tmp_path / "a.csv").open(encoding="utf-8-sig", newline="") as f:
        assert [row["verification"] for row in csv.DictReader(f)] == [note]
    from openpyxl import load_workbook

    assert load_workbook(tmp_path / "a.xlsx")["verification"]["A1"].value == note


def test_an_export_that_cannot_look_up_fails_and_names_no_verify(md: FakeMastodon, tmp_path: Path) -> None:
    status = md.add_remote_status("alice@example.org", "<p>Un</p>")
    stored(md, tmp_path, [status])
    md.fail(path="/api/v1/statuses/", status=503, times=1)
    result = relais(tmp_path, md, "export", "--format", "json", "-o", str(tmp_path / "a.json"))
    assert result.returncode == 1
    assert "--no-verify" in result.stderr
    assert not (tmp_path / "a.json").exists()


# ---- the desk's export -----------------------------------------------------------------


async def test_the_desks_export_leaves_out_a_deletion_no_stream_reported(
    md: FakeMastodon, tmp_path: Path
) -> None:
    from types import SimpleNamespace

    from pydantic import SecretStr

    from bot.wiring import export_checker
    from tests.webdesk import open_desk

    kept = md.add_remote_status("alice@example.org", "<p>Je maintiens</p>")
    deleted = md.add_remote_status("bob@example.org", "<p>Je retire</p>")
    stored(md, tmp_path, [kept, deleted])
    md.delete_status(deleted["id"])
    settings = SimpleNamespace(mastodon_url=md.url, mastodon_token=SecretStr(TOKEN), mastodon_streaming=False)
    engine = database.create(f"sqlite:///{tmp_path / 'relais.db'}")
    try:
        async for desk in open_desk(engine, verify=export_checker(settings)):  # type: ignore[arg-type]
            await desk.login("ana")
            unchecked = await desk.client.get("/export/download?format=json&unverified=1")
            checked = await desk.client.get("/export/download?format=json")
    finally:
        engine.dispose()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    stored(md, elsewhere, [kept])
    engine = database.create(f"sqlite:///{elsewhere / 'relais.db'}")
    try:
        async for desk in open_desk(engine):  # no Mastodon account: it says what to do
            await desk.login("ana")
            refused = await desk.client.get("/export/download?format=json")
    finally:
        engine.dispose()

    document = json.loads(unchecked.text)
    assert [r["text"] for r in document["replies"]] == ["réponse 0", "réponse 1"]
    assert document["verification"].startswith("not checked again")
    assert [r["text"] for r in json.loads(checked.text)["replies"]] == ["réponse 0"]
    assert "verification" not in json.loads(checked.text)
    assert [
        c.text for c in CommentStore(database.create(f"sqlite:///{tmp_path / 'relais.db'}")).find(limit=None)
    ] == ["réponse 0"]
    assert refused.status_code == 400
    assert "Cochez la case pour exporter sans vérification" in refused.text

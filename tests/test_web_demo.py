"""``relais web --demo``: the desk on a throwaway store of sample replies, with a login."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from bot.clock import SimulatedClock
from bot.core.campaigns import load_campaigns
from bot.services.moderation import ModerationService
from bot.store.comments import CommentStore
from bot.web.demo import seed
from tests.webdesk import NOW

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_replies_answer_the_sample_campaign(engine: Engine) -> None:
    campaigns = load_campaigns([ROOT / "schedules"], ROOT / "messages").campaigns
    assert seed(CommentStore(engine), campaigns, NOW) == 60
    service = ModerationService(CommentStore(engine), SimulatedClock(NOW))
    replies = service.page(limit=None).comments
    assert {c.language for c in replies} == {"fr", "en"}
    assert {c.campaign for c in replies} == {"gouverner-ensemble"}
    flagged = [c for c in replies if c.state == "flagged"]
    assert any("casino" in (c.reason or "") for c in flagged)
    assert any("link" in (c.reason or "") for c in flagged)
    assert any("<script>" in c.text for c in replies)


@pytest.mark.slow
def test_relais_web_demo_serves_the_desk_and_prints_its_login(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["RELAIS_STATE_DIR"] = str(tmp_path)  # the real store is never touched
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "web", "--demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        said = process.stdout.readline()
        login = re.search(r"log in as (\S+), password (\S+)", said)
        assert login, said
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=base, timeout=5) as client:
            while True:  # the server listens a moment after it says where
                try:
                    page = client.get("/login")
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline, "the demo desk did not start"
                    time.sleep(0.05)  # nothing to wait on but the port: try again shortly
            csrf = re.search(r'name="csrf" content="(\w+)"', page.text).group(1)  # type: ignore[union-attr]
            client.post("/login", data={"csrf": csrf, "name": login.group(1), "password": login.group(2)})
            queue = client.get("/?tab=all")
            assert "1–50 de 60" in queue.text
        assert not list(tmp_path.iterdir())  # no store was made in the state directory
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.slow
def test_relais_web_needs_a_moderator_not_campaign_files(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["RELAIS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'relais.db'}"
    command = [sys.executable, "-m", "bot"]
    subprocess.run([*command, "db", "upgrade"], cwd=tmp_path, env=env, check=True, capture_output=True)
    refused = subprocess.run(
        [*command, "web", "--port", "1"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "relais: warning: no campaign files in schedules: times are shown in UTC and the plan is empty",
        "relais: no moderator can log in yet; add one with relais moderators add NAME --admin",
    ]

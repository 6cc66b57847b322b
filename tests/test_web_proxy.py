"""``relais web`` behind a proxy (RELAIS_WEB_BEHIND_PROXY): the forwarded headers are
believed from the proxy's address only, never from any client (the hostile review of issue
10: a client that wrote its own X-Forwarded-For escaped the per-address login throttle)."""

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

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test

ROOT = Path(__file__).resolve().parent.parent


def test_a_client_cannot_forge_its_address_to_escape_the_login_throttle(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["RELAIS_STATE_DIR"] = str(tmp_path)
    env["RELAIS_WEB_BEHIND_PROXY"] = "true"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "web", "--demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        # a client that is not the proxy (the proxy is on this machine: 127.0.0.1)
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5, transport=transport) as client:
            while True:  # the server listens a moment after it says where
                try:
                    page = client.get("/login")
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline, "the desk did not start"
                    time.sleep(0.05)  # nothing to wait on but the port: try again shortly
            csrf = re.search(r'name="csrf" content="(\w+)"', page.text).group(1)  # type: ignore[union-attr]
            answers = []
            for n in range(1, 5):
                forged = {"X-Forwarded-For": f"203.0.113.{n}"}
                data = {"csrf": csrf, "name": f"nobody{n}", "password": "guess guess guess"}
                answers.append(client.post("/login", data=data, headers=forged).status_code)
        assert answers == [401, 401, 401, 429]
    finally:
        process.terminate()
        process.wait(10)

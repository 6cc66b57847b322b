"""How long `relais run` takes to stop on SIGTERM: what the systemd unit's TimeoutStopSec
(deploy/relais.service) must exceed.

Runs the real `relais run` against the loopback fakes (tests/harness.py), sends SIGTERM in
four situations and prints the seconds from the signal to the process's exit:
(a) idle, watching; (b) 30 posts to one Telegram channel, most of them queued behind the
flood limiter (given back to pending at once); (c) a Telegram request on the wire whose
answer never comes (it gets its 10 s timeout); (d) the same on Mastodon (15 s).
The worst case is the longest request timeout plus the 5 s a stop waits for an unreachable
store to record what it could not (README, "Store outages").

    .venv/bin/python benchmarks/stop.py
"""

from __future__ import annotations

import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import MASTODON_TOKEN, Deployment


def stop_time(prepare: Callable[[Deployment], Callable[[], None]]) -> float:
    with (
        tempfile.TemporaryDirectory() as root,
        FakeTelegram() as telegram,
        FakeMastodon(token=MASTODON_TOKEN) as mastodon,
    ):
        deployment = Deployment(Path(root), telegram, mastodon, f"sqlite:///{root}/relais.db")
        ready = prepare(deployment)
        bot = deployment.start()
        bot.wait_for_line("watching")
        ready()
        began = time.monotonic()
        bot.process.send_signal(signal.SIGTERM)
        code = bot.process.wait(120)
        took = time.monotonic() - began
        if code != 0:
            raise SystemExit(f"relais run exited {code}:\n{bot.log}")
        return took


def idle(deployment: Deployment) -> Callable[[], None]:
    deployment.campaign([("demain", datetime.now(UTC) + timedelta(days=1))])
    return lambda: None


def queued(deployment: Deployment) -> Callable[[], None]:
    now = datetime.now(UTC) + timedelta(seconds=2)
    deployment.campaign([(f"p{i}", now) for i in range(30)], to="tg")
    return lambda: deployment.telegram.wait_for(lambda tg: len(tg.sent) >= 4, timeout=30)


def telegram_hangs(deployment: Deployment) -> Callable[[], None]:
    deployment.telegram.delay(600, method="sendMessage")
    deployment.campaign([("p", datetime.now(UTC) + timedelta(seconds=2))], to="tg")
    return lambda: deployment.telegram.wait_for(
        lambda tg: any(r.method == "sendMessage" for r in tg.requests), timeout=30
    )


def mastodon_hangs(deployment: Deployment) -> Callable[[], None]:
    mastodon = deployment.mastodon
    mastodon.delay(600, path="/api/v1/statuses", method="POST")
    deployment.campaign([("p", datetime.now(UTC) + timedelta(seconds=2))], to="masto")

    def posted() -> None:
        mastodon.wait_for(lambda: any(r.method == "POST" for r in mastodon.requests), timeout=30)

    return posted


def main() -> None:
    cases = {
        "(a) idle": idle,
        "(b) 30 posts, 26 queued behind the flood limiter": queued,
        "(c) a Telegram request on the wire, no answer": telegram_hangs,
        "(d) a Mastodon request on the wire, no answer": mastodon_hangs,
    }
    for name, prepare in cases.items():
        print(f"{name}: stopped {stop_time(prepare):.2f} s after SIGTERM", flush=True)


if __name__ == "__main__":
    main()

"""``relais run`` end to end: the real command against the loopback Telegram and Mastodon
servers, on SQLite (and PostgreSQL where several processes share the store)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.harness import MASTODON_TOKEN, Deployment, posted_ids, sent_ids


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon(token=MASTODON_TOKEN) as fake:
        yield fake


@pytest.fixture
def deployment(tmp_path: Path, telegram: FakeTelegram, mastodon: FakeMastodon) -> Deployment:
    return Deployment(tmp_path, telegram, mastodon, f"sqlite:///{tmp_path / 'relais.db'}")


def now() -> datetime:
    return datetime.now(UTC)


def test_publishes_on_time_once_to_both_networks(deployment: Deployment) -> None:
    deployment.campaign([])
    bot = deployment.start()
    bot.wait_for_line("watching")
    due = now() + timedelta(seconds=1.5)
    deployment.campaign([("annonce", due)])  # picked up by the reload, scheduled at its time
    deployment.telegram.wait_for(lambda tg: len(tg.sent) == 1, timeout=20)
    assert deployment.mastodon.wait_for(lambda: len(deployment.mastodon.statuses) == 1, timeout=20)
    assert bot.stop() == 0
    [message] = deployment.telegram.sent
    [status] = deployment.mastodon.statuses
    assert message.text == "post annonce #gautrinweb2"
    assert "post annonce" in status["content"]
    assert status["visibility"] == "unlisted"
    assert status["language"] == "fr"
    late_telegram = message.wall_time - due.timestamp()
    assert 0 <= late_telegram < 1.0, f"sent {late_telegram:.3f} s after its time"
    assert deployment.states() == {"annonce/tg": "published", "annonce/masto": "published"}
    plan = json.loads(deployment.relais("plan", "--format", "json").stdout)["publications"]
    assert {(p["channel"], p["state"]) for p in plan} == {("tg", "published"), ("masto", "published")}
    assert DEFAULT_TOKEN not in bot.log
    assert MASTODON_TOKEN not in bot.log


def test_overdue_within_grace_is_sent_at_start_beyond_is_missed(deployment: Deployment) -> None:
    deployment.campaign([("recent", now() - timedelta(minutes=5)), ("old", now() - timedelta(minutes=20))])
    bot = deployment.start()
    deployment.telegram.wait_for(lambda tg: len(tg.sent) == 1, timeout=20)
    bot.wait_for_line("running;")
    assert bot.stop() == 0
    assert sent_ids(deployment.telegram) == ["recent"]
    status = deployment.status()
    missed = {r["id"]: r["reason"] for r in status["publications"] if r["state"] == "missed"}
    assert set(missed) == {"old"}
    assert missed["old"].startswith("missed: it was due 20 min ago, more than the grace period of 15 min")


@pytest.mark.slow
def test_reload_adds_moves_and_removes_posts(deployment: Deployment) -> None:
    # Wide margins: the bot must have started and reloaded before "removed" is due, also
    # on a loaded machine (at 3 s, a slow start sent it before the reload removed it).
    start = now()
    path = deployment.campaign(
        [
            ("kept", start + timedelta(seconds=24)),
            ("moved", start + timedelta(minutes=30)),
            ("removed", start + timedelta(seconds=20)),
        ]
    )
    bot = deployment.start()
    bot.wait_for_line("watching")
    deployment.campaign(
        [
            ("kept", start + timedelta(seconds=24)),
            ("moved", start + timedelta(seconds=16)),
            ("added", start + timedelta(seconds=14)),
        ]
    )
    bot.wait_for_line("campaign files changed")
    deployment.telegram.wait_for(lambda tg: len(tg.sent) == 3, timeout=60)
    path.write_text("campaign: c\ntimezone: Mars/Olympus\n", encoding="utf-8")  # broken: keeps the last good
    bot.wait_for_line("last good version keeps running")
    assert bot.stop() == 0
    assert sent_ids(deployment.telegram) == ["added", "moved", "kept"]
    assert sorted(posted_ids(deployment.mastodon)) == ["added", "kept", "moved"]
    assert "unknown time zone 'Mars/Olympus'" in bot.log


def test_sigterm_lets_the_send_in_flight_finish(deployment: Deployment) -> None:
    deployment.mastodon.delay(seconds=2.0, times=1)
    deployment.campaign([("slow", now() - timedelta(seconds=1))], to="masto")
    bot = deployment.start()
    # the request has reached the server, whose answer is 2 s away: stop the bot now
    assert deployment.mastodon.wait_for(
        lambda: any(r.path.startswith("/api/v1/statuses") for r in deployment.mastodon.requests), timeout=20
    )
    assert bot.stop(signal.SIGTERM) == 0
    assert deployment.states() == {"slow/masto": "published"}
    assert len(deployment.mastodon.statuses) == 1


def test_missing_credentials_stop_the_bot_at_start(deployment: Deployment) -> None:
    deployment.campaign([("a", now() + timedelta(hours=1))])
    deployment.extra_env["RELAIS_MASTODON_TOKEN"] = ""
    result = deployment.relais("run")
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "relais: a campaign has a Mastodon channel but RELAIS_MASTODON_URL or RELAIS_MASTODON_TOKEN is not set "
        "(see .env.example)"
    )


def test_a_rejected_token_stops_the_bot_without_printing_it(deployment: Deployment) -> None:
    deployment.campaign([("a", now() + timedelta(hours=1))])
    deployment.extra_env["RELAIS_TELEGRAM_TOKEN"] = "999999:WRONG-token-that-looks-long-enough-xx"
    result = deployment.relais("run")
    assert result.returncode == 1
    assert "Telegram refused the bot token" in result.stderr
    assert "WRONG-token" not in result.stderr


def test_no_secret_in_the_debug_log(deployment: Deployment) -> None:
    deployment.extra_env["RELAIS_LOG_LEVEL"] = "DEBUG"
    deployment.telegram.fail("sendMessage", status=500, times=1)
    deployment.campaign([("a", now() - timedelta(seconds=1))])
    bot = deployment.start()
    deployment.telegram.wait_for(lambda tg: len(tg.sent) == 1, timeout=20)
    assert deployment.mastodon.wait_for(lambda: len(deployment.mastodon.statuses) == 1, timeout=20)
    assert bot.stop() == 0
    assert "DEBUG" in bot.log
    assert DEFAULT_TOKEN not in bot.log
    assert DEFAULT_TOKEN.split(":")[1] not in bot.log
    assert MASTODON_TOKEN not in bot.log


def test_alerts_go_to_the_alert_chat_once(deployment: Deployment) -> None:
    deployment.telegram.add_chat(-100999, "supergroup", title="Équipe")
    deployment.extra_env["RELAIS_ALERT_TELEGRAM_CHAT"] = "-100999"
    deployment.mastodon.fail(path="/api/v1/statuses", status=403, times=1)
    deployment.campaign(
        [("a", now() - timedelta(seconds=1)), ("old", now() - timedelta(hours=1))], to="masto"
    )
    bot = deployment.start()
    deployment.telegram.wait_for(
        lambda tg: len([m for m in tg.sent if m.chat_id == -100999]) == 2, timeout=20
    )
    assert bot.stop() == 0
    alerts = sorted(m.text for m in deployment.telegram.sent if m.chat_id == -100999)
    assert alerts[0].startswith("Relais: a (c) was not published on masto")
    assert alerts[1].startswith("Relais: old (c) was missed on masto")
    bot = deployment.start()  # a restart does not repeat them
    bot.wait_for_line("running;")
    assert bot.stop() == 0
    assert len([m for m in deployment.telegram.sent if m.chat_id == -100999]) == 2


def test_a_stop_asked_while_starting_is_a_clean_stop(deployment: Deployment) -> None:
    """systemd may stop the bot while it starts: here, while the alert chat is told of a
    missed post (Telegram answers late), which comes before the bot is running."""
    deployment.telegram.add_chat(-100999, "supergroup", title="Équipe")
    deployment.extra_env["RELAIS_ALERT_TELEGRAM_CHAT"] = "-100999"
    deployment.campaign([("old", now() - timedelta(hours=1))], to="masto")
    deployment.telegram.delay(5, method="sendMessage")
    bot = deployment.start()
    deployment.telegram.wait_for(lambda tg: any(m.chat_id == -100999 for m in tg.sent), timeout=20)
    assert bot.stop() == 0, bot.log
    assert bot.lines[-2].endswith("stopped"), bot.log


def test_an_invalid_file_at_start_does_not_stop_the_other_campaigns(deployment: Deployment) -> None:
    deployment.campaign([("bon", now() - timedelta(seconds=1))], to="masto")
    (deployment.root / "schedules" / "casse.yaml").write_text("campaign: [\n", encoding="utf-8")
    bot = deployment.start()
    assert deployment.mastodon.wait_for(lambda: len(deployment.mastodon.statuses) == 1, timeout=20)
    assert bot.stop() == 0
    assert "schedules/casse.yaml:1:11: this list is never closed: add ']' after its last item" in bot.log
    assert "the campaigns above are not run until fixed; 1 campaign(s) run." in bot.log

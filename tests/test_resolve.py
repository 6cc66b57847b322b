"""Settling what needs a person (item 2 of issue 11): the ledger's ``resolve`` on SQLite and
PostgreSQL, and ``relais resolve`` end to end against the loopback networks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.domain import PublicationState
from bot.store.ledger import Ledger, Resolution, Unsettleable
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import MASTODON_TOKEN, Deployment, posted_ids, sent_ids
from tests.test_ledger import NOW, TELEGRAM, pub

LATER = NOW + timedelta(hours=1)


def ledger_with(engine: Engine, **states: str) -> Ledger:
    """A ledger whose row ``c/<id>/tg`` is in each state given (unknown, failed, missed,
    pending, published)."""
    ledger = Ledger(engine, "bot")
    ledger.sync([pub(pub_id, TELEGRAM) for pub_id in states], NOW)
    for pub_id, state in states.items():
        key = f"c/{pub_id}/tg"
        if state == "missed":
            ledger.miss(key, NOW, "missed: too late")
        elif state != "pending":
            ledger.claim([key], NOW)
            ledger.wire(key, NOW)
            ledger.finish(key, PublicationState(state), NOW, error=f"{state} for a reason", remote_id="9")
    return ledger


def test_each_decision_moves_the_row_and_is_recorded(engine: Engine) -> None:
    ledger = ledger_with(engine, doute="unknown", rate="failed", manque="missed")
    ledger.resolve(
        ["c/doute/tg"],
        Resolution.PUBLISHED,
        LATER,
        actor="marie",
        reason="vu",
        url="https://t.me/x/4",
        remote_id="-100:4",
    )
    ledger.resolve(["c/manque/tg"], Resolution.SKIP, LATER, actor="paul")
    (resent,) = ledger.resolve(["c/rate/tg"], Resolution.RESEND, LATER, actor="marie", reason="bot ajouté")
    rows = ledger.rows()
    assert rows["c/doute/tg"].state == "published"
    assert rows["c/doute/tg"].remote_url == "https://t.me/x/4"
    assert rows["c/doute/tg"].remote_id == "-100:4"
    assert rows["c/manque/tg"].state == "skipped"
    assert (resent.state, resent.resend, resent.on_wire, resent.first_wire_at) == (
        "pending",
        True,
        False,
        None,
    )
    assert ledger.resends() == ["c/rate/tg"]
    settled = ledger.settlements()
    assert {k: (s.actor, s.action, s.previous_state, s.reason) for k, s in settled.items()} == {
        "c/doute/tg": ("marie", "published", "unknown", "vu"),
        "c/manque/tg": ("paul", "skip", "missed", None),
        "c/rate/tg": ("marie", "resend", "failed", "bot ajouté"),
    }
    # sent again: through the claim like any other row, once
    assert ledger.claim(["c/rate/tg"], LATER) == ["c/rate/tg"]
    assert Ledger(engine, "other").claim(["c/rate/tg"], LATER) == []


@pytest.mark.parametrize(
    ("url", "found"),
    [
        ("https://mastodon.example/@relais/113456789012345678", "113456789012345678"),
        ("https://mastodon.example/users/relais/statuses/42/", "42"),
        ("https://mastodon.example/@relais", None),
        ("https://t.me/GautrinWeb2/42", None),
    ],
)
def test_the_status_id_a_mastodon_link_names(url: str, found: str | None) -> None:
    from bot.networks.mastodon import status_id

    assert status_id(url) == found


def test_a_posts_link_names_its_remote_id_where_its_network_says_it(engine: Engine) -> None:
    """``relais resolve --published --url``: a Mastodon link names the status (its replies
    are then collected), a Telegram link names no id."""
    from bot.app import _remote_id
    from tests.test_ledger import MASTODON

    ledger = Ledger(engine, "bot")
    ledger.sync([pub("a", MASTODON), pub("b", TELEGRAM)], NOW)
    assert _remote_id(ledger, ["c/a/masto"], "https://mastodon.example/@relais/42") == "42"
    assert _remote_id(ledger, ["c/b/tg"], "https://t.me/GautrinWeb2/42") is None
    assert _remote_id(ledger, ["c/a/masto", "c/b/tg"], "https://mastodon.example/@relais/42") is None


@pytest.mark.parametrize("bad", ["c/nulle-part/tg", "c/attend/tg", "c/fait/tg"])
def test_an_unknown_key_or_a_state_it_cannot_settle_changes_nothing(engine: Engine, bad: str) -> None:
    ledger = ledger_with(engine, doute="unknown", attend="pending", fait="published")
    before = ledger.rows()
    with pytest.raises(Unsettleable) as raised:
        ledger.resolve(["c/doute/tg", bad], Resolution.SKIP, LATER, actor="marie")
    assert bad in str(raised.value)
    assert ledger.rows() == before  # the good key was not settled either
    assert ledger.settlements() == {}


# -- end to end ----------------------------------------------------------------------------

ALERTS = -100999


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with FakeTelegram() as telegram, FakeMastodon(token=MASTODON_TOKEN) as mastodon:
        deployment = Deployment(tmp_path, telegram, mastodon, f"sqlite:///{tmp_path / 'relais.db'}")
        telegram.add_chat(ALERTS, "supergroup", title="Équipe")
        deployment.extra_env["RELAIS_ALERT_TELEGRAM_CHAT"] = str(ALERTS)
        yield deployment


def alerts(deployment: Deployment) -> list[str]:
    return [m.text or "" for m in deployment.telegram.sent if m.chat_id == ALERTS]


def rows(deployment: Deployment) -> dict[str, dict]:
    document = deployment.status()
    return {f"c/{r['id']}/{r['channel']}": r for r in document["publications"] + document["next"]}


def test_a_send_in_doubt_is_resent_only_once_confirmed(deployment: Deployment) -> None:
    now = datetime.now(UTC)
    deployment.campaign([("doute", now - timedelta(seconds=1))], to="tg")
    deployment.telegram.drop_after_receive(method="sendMessage")  # it went out, the answer was lost
    bot = deployment.start()
    deployment.telegram.wait_for(lambda tg: len(alerts(deployment)) == 1, timeout=20)
    assert bot.stop() == 0
    status = deployment.relais("status")
    assert (
        "unknown: relais resolve c/doute/tg --published [--url URL] | --resend | --skip --as NAME"
        in status.stdout
    )

    refused = deployment.relais("resolve", "c/doute/tg", "--resend", "--as", "marie")  # no terminal: no yes
    assert refused.returncode == 1
    assert refused.stderr.rstrip().endswith(
        "relais: not sent: nothing changed; add --yes to send it again without being asked"
    )
    assert rows(deployment)["c/doute/tg"]["state"] == "unknown"
    assert sent_ids(deployment.telegram) == ["doute"]

    done = deployment.relais(
        "resolve", "c/doute/tg", "--resend", "--yes", "--as", "marie", "--reason", "pas vu"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("c/doute/tg: sent again by marie: published https://t.me/GautrinWeb2/")
    assert sent_ids(deployment.telegram) == ["doute", "doute"]  # the person chose it
    row = rows(deployment)["c/doute/tg"]
    assert row["state"] == "published"
    assert row["command"] is None
    assert (row["settled"]["by"], row["settled"]["action"], row["settled"]["was"]) == (
        "marie",
        "resend",
        "unknown",
    )
    assert alerts(deployment)[-1].startswith(
        "Relais: c/doute/tg sent again by marie (pas vu): published https://"
    )


def test_a_missed_post_is_resent_by_the_running_bot_once(deployment: Deployment) -> None:
    now = datetime.now(UTC)
    deployment.campaign(
        [("vieux", now - timedelta(hours=2)), ("plus-tard", now + timedelta(days=1))], to="masto"
    )
    bot = deployment.start()
    bot.wait_for_line("running;")
    assert rows(deployment)["c/vieux/masto"]["state"] == "missed"
    done = deployment.relais("resolve", "c/vieux/masto", "--resend", "--as", "paul")
    assert done.returncode == 0, done.stderr
    assert "relais run is running on this store: it sends them" in done.stderr
    assert done.stdout.startswith("c/vieux/masto: sent again by paul: published ")
    assert bot.stop() == 0
    assert posted_ids(deployment.mastodon) == ["vieux"]
    bot = deployment.start()  # a restart does not send it again
    bot.wait_for_line("running;")
    assert bot.stop() == 0
    assert posted_ids(deployment.mastodon) == ["vieux"]


def test_a_failed_post_whose_cause_was_fixed_goes_out_and_bad_keys_change_nothing(
    deployment: Deployment,
) -> None:
    now = datetime.now(UTC)
    deployment.campaign(
        [("refuse", now - timedelta(seconds=1)), ("doute", now - timedelta(hours=3))], to="masto"
    )
    deployment.mastodon.fail(path="/api/v1/statuses", status=403, times=1)
    bot = deployment.start()
    deployment.telegram.wait_for(lambda tg: len(alerts(deployment)) == 2, timeout=20)
    assert bot.stop() == 0
    assert rows(deployment)["c/refuse/masto"]["state"] == "failed"
    before = json.dumps(rows(deployment), sort_keys=True)
    for args, message in [
        (
            ("c/nulle/masto", "--skip", "--as", "x"),
            "relais: no publication c/nulle/masto in the store; relais status lists them, with their keys\n",
        ),
        (
            ("c/refuse/masto", "--published"),
            "relais: say who settles it: --as NAME (recorded with the decision)\n",
        ),
    ]:
        result = deployment.relais("resolve", *args)
        assert result.returncode != 0
        assert result.stderr == message
    assert json.dumps(rows(deployment), sort_keys=True) == before

    done = deployment.relais("resolve", "c/refuse/masto", "--resend", "--as", "marie")
    assert done.returncode == 0, done.stderr
    assert posted_ids(deployment.mastodon) == ["refuse"]
    skip = deployment.relais("resolve", "c/doute/masto", "--skip", "--as", "paul", "--reason", "trop tard")
    assert skip.returncode == 0, skip.stderr
    assert skip.stdout.startswith("c/doute/masto: left unpublished by paul: skipped: missed: ")
    again = deployment.relais("resolve", "c/doute/masto", "--resend", "--as", "paul")
    assert again.returncode == 1
    assert again.stderr.startswith(
        "relais: c/doute/masto is skipped: only one that is unknown, failed or missed"
    )
    status = deployment.relais("status").stdout
    assert "c/doute/masto (missed): skip by paul" in status
    assert "trop tard — now skipped" in status


@pytest.mark.postgres
def test_on_postgresql_a_resend_races_the_running_bot_and_goes_out_once(
    tmp_path: Path, postgres_url: str
) -> None:
    """Both the command and the bot may take the row; the ledger's claim lets one send it."""
    with FakeTelegram() as telegram, FakeMastodon(token=MASTODON_TOKEN) as mastodon:
        deployment = Deployment(tmp_path, telegram, mastodon, postgres_url)
        now = datetime.now(UTC)
        deployment.campaign([(f"vieux{i}", now - timedelta(hours=2)) for i in range(4)], to="masto")
        bot = deployment.start()
        bot.wait_for_line("running;")
        keys = [f"c/vieux{i}/masto" for i in range(4)]
        done = deployment.relais("resolve", *keys, "--resend", "--as", "paul")
        assert done.returncode == 0, done.stderr
        assert [line.split(": ")[2].split()[0] for line in done.stdout.splitlines()] == ["published"] * 4
        assert bot.stop() == 0
        assert sorted(posted_ids(mastodon)) == [f"vieux{i}" for i in range(4)]


def test_a_post_no_longer_in_the_files_cannot_be_resent_but_can_be_skipped(deployment: Deployment) -> None:
    now = datetime.now(UTC)
    deployment.campaign(
        [("retire", now - timedelta(hours=2)), ("reste", now + timedelta(days=1))], to="masto"
    )
    bot = deployment.start()
    bot.wait_for_line("running;")
    assert bot.stop() == 0
    deployment.campaign([("reste", now + timedelta(days=1))], to="masto")
    refused = deployment.relais("resolve", "c/retire/masto", "--resend", "--as", "paul")
    assert refused.returncode == 1
    assert refused.stderr == (
        "relais: c/retire/masto is not in the campaign files that validate: it cannot be sent again; "
        "fix its file (relais validate), or settle it with --skip or --published\n"
    )
    assert rows(deployment)["c/retire/masto"]["state"] == "missed"
    skipped = deployment.relais("resolve", "c/retire/masto", "--skip", "--as", "paul")
    assert skipped.returncode == 0, skipped.stderr
    assert rows(deployment)["c/retire/masto"]["state"] == "skipped"
    assert deployment.mastodon.statuses == []


@pytest.mark.parametrize("url", ["not-a-url", "t.me/GautrinWeb2/42", "javascript:alert(1)", "ftp://x.example/1",
                                 "https://", "https://t.me/a b"])
@pytest.mark.slow
def test_a_url_that_is_not_a_web_link_is_refused_before_anything(tmp_path: Path, url: str) -> None:
    """The link is shown to moderators and in the alert chat: http(s), a host, no space."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["RELAIS_STATE_DIR"] = str(tmp_path / "state")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "resolve", "c/a/tg", "--published", "--url", url, "--as", "marie"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: --url takes the post's link, like https://t.me/GautrinWeb2/42 (http or https, a host)"
    )
    assert not (tmp_path / "state").exists()

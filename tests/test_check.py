"""``relais check`` (item 1 of issue 11): each misconfiguration found with its fix, asked of
the loopback Telegram and Mastodon over HTTP through the adapters' inspectors; the store;
the command end to end, and ``relais run`` saying the same at start."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.mastodon.inspect import MastodonInspector
from bot.adapters.telegram.inspect import TelegramInspector
from bot.domain import Campaign
from bot.findings import Finding, Level, failed
from bot.networks.mastodon_check import check_mastodon
from bot.networks.telegram_check import ChatUse, check_telegram
from bot.services.check import check_store
from tests.conftest import Project
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.harness import CHAT, CHAT_ID, GROUP_ID, MASTODON_TOKEN, Deployment
from tests.test_mastodon_adapter import closed_port_url
from tests.test_validation_media import image

ALERTS = -100999
BOT = "@relais_test_bot"


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        fake.add_chat(
            CHAT_ID, "channel", title="Gouverner ensemble", username=CHAT[1:], linked_chat_id=GROUP_ID
        )
        fake.add_chat(GROUP_ID, "supergroup", title="Discussion")
        fake.set_bot_member(GROUP_ID, "administrator")
        yield fake


def telegram_findings(
    tg: FakeTelegram,
    *,
    alert: str | None = None,
    token: str = DEFAULT_TOKEN,
    url: str | None = None,
    chat: str = CHAT,
) -> list[Finding]:
    async def run() -> list[Finding]:
        inspector = TelegramInspector(token, url or tg.url, timeout=2.0)
        try:
            return await check_telegram(inspector, [ChatUse(chat, ("c/tg",))], alert)
        finally:
            await inspector.close()

    return asyncio.run(run())


def problems(findings: list[Finding]) -> list[tuple[str, str, str | None]]:
    return [(f.level.value, f.message, f.fix) for f in findings if f.level is not Level.OK]


def test_a_channel_set_up_right_passes(tg: FakeTelegram) -> None:
    found = telegram_findings(tg, alert=str(CHAT_ID))
    assert problems(found) == []
    assert [f.message for f in found] == [
        f"the token works: {BOT}",
        f"{BOT} may post in channel @GautrinWeb2 (used by c/tg)",
        f'{BOT} sees the comments in "Discussion" ({GROUP_ID}), @GautrinWeb2\'s discussion group (an administrator)',
        f"{BOT} can tell the alert chat @GautrinWeb2",
    ]


def test_a_bot_that_is_not_an_administrator_of_the_channel(tg: FakeTelegram) -> None:
    tg.set_bot_member(CHAT_ID, "left")
    assert problems(telegram_findings(tg))[0] == (
        "error",
        f"{BOT} is not an administrator of channel @GautrinWeb2 (used by c/tg)",
        f'add {BOT} to @GautrinWeb2\'s administrators with the right "Post messages"',
    )


def test_an_administrator_without_the_right_to_post(tg: FakeTelegram) -> None:
    tg.set_bot_member(CHAT_ID, "administrator", can_post_messages=False)
    assert problems(telegram_findings(tg))[0] == (
        "error",
        f"{BOT} is an administrator of channel @GautrinWeb2 but may not post there (used by c/tg)",
        f'in @GautrinWeb2\'s administrators, give {BOT} the right "Post messages"',
    )


def test_a_group_the_bot_is_in_or_was_removed_from() -> None:
    with FakeTelegram() as tg:
        tg.add_chat(-100555, "supergroup", title="Citoyens", username="Citoyens_Gautrin")
        found = telegram_findings(tg, chat="@Citoyens_Gautrin")
        assert problems(found) == []
        assert found[1].message == f"{BOT} is a member of group @Citoyens_Gautrin (used by c/tg)"
        tg.set_bot_member(-100555, "kicked")
        assert problems(telegram_findings(tg, chat="@Citoyens_Gautrin")) == [
            (
                "error",
                f"{BOT} is not a member of group @Citoyens_Gautrin (used by c/tg)",
                f"add {BOT} to @Citoyens_Gautrin (it was removed from it)",
            ),
        ]


def test_a_channel_without_a_discussion_group() -> None:
    with FakeTelegram() as tg:
        tg.add_chat(CHAT_ID, "channel", title="Gouverner ensemble", username=CHAT[1:])
        assert problems(telegram_findings(tg)) == [
            (
                "warning",
                "channel @GautrinWeb2 has no discussion group: its posts cannot be commented on, so no comment "
                "on them will be collected",
                f"link a discussion group to @GautrinWeb2 (Channel settings > Discussion) and add {BOT} to it",
            )
        ]


@pytest.mark.slow
def test_comments_are_not_seen_by_a_bot_outside_the_group_or_in_privacy_mode(tg: FakeTelegram) -> None:
    tg.set_bot_member(GROUP_ID, "left")
    ((level, message, fix),) = problems(telegram_findings(tg))
    assert level == "warning"
    assert message == (
        f"comments on @GautrinWeb2's posts will not be collected: {BOT} is not in its discussion "
        f'group "Discussion" ({GROUP_ID})'
    )
    assert fix is not None
    assert fix.startswith(f'add {BOT} to "Discussion"')
    tg.set_bot_member(GROUP_ID, "member")  # privacy mode on (the default): it sees only commands
    ((level, message, fix),) = problems(telegram_findings(tg))
    assert "is a member in privacy mode" in message
    assert fix is not None
    assert "@BotFather (/setprivacy, Disable)" in fix
    tg.set_privacy_mode(False)
    assert problems(telegram_findings(tg)) == []


@pytest.mark.slow
def test_an_unknown_chat_a_wrong_token_an_unreachable_server_and_a_lost_alert_chat(tg: FakeTelegram) -> None:
    ((level, message, fix),) = problems(telegram_findings(tg, chat="@Nulle_Part"))
    assert (level, message) == ("error", "Telegram knows no chat @Nulle_Part (used by c/tg)")
    assert fix is not None
    assert fix.startswith("check `chat:` in the campaign file")
    assert problems(telegram_findings(tg, token="999:wrong")) == [
        (
            "error",
            "Telegram refused the bot token (RELAIS_TELEGRAM_TOKEN); check it with @BotFather",
            "copy the token again from @BotFather into RELAIS_TELEGRAM_TOKEN",
        )
    ]
    ((level, message, fix),) = problems(telegram_findings(tg, url=closed_port_url()))
    assert level == "error"
    assert message.startswith("telegram did not answer: ")
    assert (
        fix == "check the machine's network access and RELAIS_TELEGRAM_API_URL, then run relais check again"
    )
    tg.add_chat(ALERTS, "supergroup", title="Équipe")
    tg.set_bot_member(ALERTS, "kicked")
    assert problems(telegram_findings(tg, alert=str(ALERTS))) == [
        (
            "error",
            f'{BOT} cannot write to the alert chat "Équipe" ({ALERTS}): alerts would be lost',
            f'add {BOT} to "Équipe" ({ALERTS})',
        )
    ]


def test_an_api_url_that_is_not_the_bot_api_is_named_in_one_line(
    tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    """A web server that answers its own 404 page (HTML, not JSON): the URL is wrong, not the
    token; and PTB's "Can not load invalid JSON data" with its traceback is not logged."""
    caplog.set_level(logging.DEBUG)
    assert problems(telegram_findings(tg, url=f"{tg.url}/pas-ici")) == [
        (
            "error",
            "RELAIS_TELEGRAM_API_URL answered something other than the Telegram Bot API (HTTP 404, "
            "not JSON); check that it is the address of a Bot API server",
            "set RELAIS_TELEGRAM_API_URL to https://api.telegram.org, or to your own Bot API server",
        )
    ]
    assert [r.getMessage() for r in caplog.records if r.exc_info or "JSON" in r.getMessage()] == []


def test_the_fake_refuses_a_send_where_the_bot_may_not_post(tg: FakeTelegram) -> None:
    """The loopback peer answers as the Bot API does, so the publisher's errors are real."""
    import httpx

    tg.set_bot_member(CHAT_ID, "administrator", can_post_messages=False)
    answer = httpx.post(
        f"{tg.url}/bot{DEFAULT_TOKEN}/sendMessage", json={"chat_id": CHAT, "text": "x"}
    ).json()
    assert answer == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: need administrator rights in the channel chat",
    }
    tg.set_bot_member(CHAT_ID, "left")
    answer = httpx.post(
        f"{tg.url}/bot{DEFAULT_TOKEN}/sendMessage", json={"chat_id": CHAT, "text": "x"}
    ).json()
    assert answer["description"] == "Forbidden: bot is not a member of the channel chat"
    assert tg.sent == []


# -- Mastodon ------------------------------------------------------------------------------

LONG = "x" * 400


def campaigns(project: Project, *, text: str = "court", media: bool = False) -> list[Campaign]:
    project.campaign(f"""\
        campaign: c
        timezone: America/Montreal
        language: fr-CA
        hashtags: [gautrinweb2]
        acknowledge: true
        channels:
          masto: {{network: mastodon}}
        posts:
          - {{id: a, at: "2030-01-01 10:00", text: "{text}"{", media: [{file: photo.png, alt: une photo}]" if media else ""}}}
        """)
    if media:
        image(project.root / "schedules" / "photo.png")
    result = project.load()
    assert not result.errors, result.problems
    return result.campaigns


def mastodon_findings(masto: FakeMastodon, loaded: list[Campaign], url: str | None = None) -> list[Finding]:
    async def run() -> list[Finding]:
        inspector = MastodonInspector(url or masto.url, MASTODON_TOKEN, timeout=2.0)
        try:
            return await check_mastodon(inspector, loaded)
        finally:
            await inspector.close()

    return asyncio.run(run())


@pytest.fixture
def masto() -> Iterator[FakeMastodon]:
    with FakeMastodon(token=MASTODON_TOKEN) as fake:
        yield fake


def test_a_ready_mastodon_account(project: Project, masto: FakeMastodon) -> None:
    found = mastodon_findings(masto, campaigns(project, media=True))
    assert problems(found) == []
    assert [f.message for f in found] == [
        "the token works: @relais",
        "the token has the scopes Relais uses (read write follow)",
        "the instance takes every post: 500 characters a post (a link counts 23), 4 media, images up to 16 MB",
    ]


def test_a_token_without_a_scope_and_an_account_not_marked_as_a_bot(
    project: Project, masto: FakeMastodon
) -> None:
    masto.scopes = ["read", "write:statuses"]
    masto.bot_flag = False
    assert problems(mastodon_findings(masto, campaigns(project, media=True))) == [
        (
            "warning",
            "@relais is not marked as a bot",
            'tick "This is an automated account" in Preferences > Profile on the instance, so that people know '
            "posts and favourites come from a bot",
        ),
        (
            "error",
            "the token lacks the scope(s) write:media, write:favourites",
            "in Preferences > Development on the instance, give the application the scopes read:accounts "
            "read:statuses read:notifications write:statuses write:media write:favourites (or read and write), "
            "then put its new access token in RELAIS_MASTODON_TOKEN",
        ),
    ]
    masto.scopes = None  # before Mastodon 4.3: the instance does not say
    assert problems(mastodon_findings(masto, campaigns(project)))[1][1] == (
        "the instance does not say which scopes the token has (Mastodon before 4.3)"
    )


def test_an_instance_with_other_limits(project: Project, masto: FakeMastodon) -> None:
    masto.max_characters = 300
    masto.supported_mime_types = ["image/jpeg"]
    found = problems(mastodon_findings(masto, campaigns(project, text=LONG, media=True)))
    assert found == [
        (
            "error",
            "the instance takes 300 characters a post (a link counts 23) and 1 post(s) are longer: c/a/masto (400)",
            "shorten them, or set the channel's max_characters to the instance's limit so that relais validate checks it",
        ),
        (
            "error",
            "the instance refuses media of the campaigns: photo.png (image/png: the instance does not take it)",
            "make them smaller or convert them (JPEG, PNG, MP4)",
        ),
    ]


def test_an_unreachable_instance_and_a_refused_token(project: Project, masto: FakeMastodon) -> None:
    loaded = campaigns(project)
    ((level, message, fix),) = problems(mastodon_findings(masto, loaded, url=closed_port_url()))
    assert (level, fix) == (
        "error",
        "check the machine's network access and RELAIS_MASTODON_URL, then run relais check again",
    )
    assert message.startswith("mastodon did not answer: no answer from Mastodon at http://127.0.0.1:")

    async def refused() -> list[Finding]:
        inspector = MastodonInspector(masto.url, "not-the-token")
        try:
            return await check_mastodon(inspector, loaded)
        finally:
            await inspector.close()

    ((level, message, fix),) = problems(asyncio.run(refused()))
    assert level == "error"
    assert message.startswith("Mastodon refused the access token (RELAIS_MASTODON_TOKEN)")
    assert fix == "create an access token in Preferences > Development, put it in RELAIS_MASTODON_TOKEN"
    assert "not-the-token" not in message


# -- the store -----------------------------------------------------------------------------


def test_the_store_where_it_is_whether_it_is_migrated(database_url: str, tmp_path: Path) -> None:
    from bot.store import database

    if database_url.startswith("sqlite"):
        assert (
            problems(check_store(database_url))[0][1]
            == f"no store yet at {tmp_path / 'relais.db'}: relais run creates it"
        )
    engine = database.create(database_url)
    try:
        database.upgrade(engine)
    finally:
        engine.dispose()
    found = check_store(database_url)
    assert not failed(found)
    assert found[-1].message == "it opens and is migrated"


def test_an_unreachable_database_server() -> None:
    found = check_store("postgresql+psycopg://relais:secret@127.0.0.1:1/relais")
    (error,) = [f for f in found if f.level is Level.ERROR]
    assert error.message.startswith(
        "cannot use postgresql+psycopg://relais:[redacted]@127.0.0.1:1/relais: connection failed"
    )
    assert "secret" not in error.message


# -- end to end ----------------------------------------------------------------------------


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with FakeTelegram() as telegram, FakeMastodon(token=MASTODON_TOKEN) as mastodon:
        yield Deployment(tmp_path, telegram, mastodon, f"sqlite:///{tmp_path / 'relais.db'}")


def test_relais_check_and_relais_run_name_the_missing_right(deployment: Deployment) -> None:
    from datetime import UTC, datetime, timedelta

    deployment.campaign([("plus-tard", datetime.now(UTC) + timedelta(days=1))])
    deployment.telegram.set_bot_member(CHAT_ID, "member")
    result = deployment.relais("check")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert (
        f"FAILED   telegram @GautrinWeb2: {BOT} is not an administrator of channel @GautrinWeb2 (used by c/tg)"
        in lines
    )
    assert (
        f'         fix: add {BOT} to @GautrinWeb2\'s administrators with the right "Post messages"' in lines
    )
    assert "ok       mastodon: the token works: @relais" in lines
    assert lines[-1] == "1 problem(s) and 3 warning(s): fix them, then run relais check again."
    assert "Traceback" not in result.stderr
    document = json.loads(deployment.relais("check", "--format", "json").stdout)
    assert (document["ok"], document["errors"]) == (False, 1)
    assert {c["subject"] for c in document["checks"]} >= {
        "store",
        "telegram",
        "telegram @GautrinWeb2",
        "mastodon",
    }

    bot = deployment.start()
    line = bot.wait_for_line("check: telegram @GautrinWeb2")
    assert line.endswith(
        f"{BOT} is not an administrator of channel @GautrinWeb2 (used by c/tg); fix: add {BOT} "
        'to @GautrinWeb2\'s administrators with the right "Post messages"'
    )
    bot.wait_for_line("running;")
    assert bot.stop() == 0  # a warning, not a failure

    deployment.telegram.set_bot_member(CHAT_ID, "administrator")
    fixed = deployment.relais("check")
    assert fixed.returncode == 0, fixed.stdout
    assert fixed.stdout.rstrip().endswith("ready, with 2 warning(s).")  # no discussion group, no alert chat
    assert "warning  alerts: no alert chat: failed, unknown and missed publications" in fixed.stdout


@pytest.fixture
def read_only_store(tmp_path: Path) -> Iterator[Path]:
    """An existing store whose file and directory cannot be written, even by root (an
    immutable file behaves as one on a read-only disk)."""
    import shutil
    import subprocess

    from bot.store import database

    state = tmp_path / "state"
    state.mkdir()
    engine = database.create(f"sqlite:///{state / 'relais.db'}")
    database.upgrade(engine)
    engine.dispose()
    files = [state / "relais.db", state]
    for extra in state.glob("relais.db-*"):
        extra.unlink()
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", *map(str, files)]).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        yield state / "relais.db"
    finally:
        subprocess.run(["chattr", "-i", *map(str, files)], check=True)


@pytest.mark.slow
def test_a_read_only_store_is_one_line_naming_the_fix(read_only_store: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    url = f"sqlite:///{read_only_store}"
    (error,) = [f for f in check_store(url) if f.level is Level.ERROR]
    assert error.message == f"{read_only_store} cannot be written: the bot could not record what it publishes"
    assert error.fix is not None
    assert error.fix.startswith(f"give the user that runs relais write access to {read_only_store}")
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "c.yaml").write_text(
        "campaign: c\ntimezone: UTC\nlanguage: fr\nhashtags: [x]\nchannels:\n  masto: {network: mastodon}\n"
        'posts:\n  - {id: a, at: "2030-01-01 10:00", text: "bonjour"}\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env |= {
        "RELAIS_DATABASE_URL": url,
        "RELAIS_MASTODON_URL": closed_port_url(),
        "RELAIS_MASTODON_TOKEN": "abc",
    }
    for args in (["status"], ["resolve", "c/a/masto", "--skip", "--as", "x"], ["run"]):
        result = subprocess.run(
            [sys.executable, "-m", "bot", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
        last = result.stderr.splitlines()[-1]
        assert last.startswith("relais: cannot "), (args, last)
        assert f"must be able to {'read and write' if args[0] != 'run' else 'write'}" in last, (args, last)

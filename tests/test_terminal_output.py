"""``relais plan`` and ``relais status`` as a person sees them at a given terminal width,
and as a program reads them through a pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain import PublicationState
from tests.conftest import BASE, Project
from tests.terminal import on_terminal

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test

CAMPAIGN = BASE + """\
posts:
  - {id: rapport-en-ligne, at: 2030-05-02 09:00, text: "Le rapport « Gouverner ensemble » est en ligne : lisez-le et dites-nous {{ hashtag }}"}
  - {id: conference-de-presse-rappel, at: 2030-12-02 13:30, text: "Conférence de presse à 13 h 30 {{ hashtag }}", to: masto}
"""


@pytest.fixture
def env(project: Project) -> dict[str, str]:
    project.campaign(CAMPAIGN)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    environment["RELAIS_DATABASE_URL"] = f"sqlite:///{project.root / 'relais.db'}"
    return environment


def piped(*args: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_plan_at_100_columns_keeps_the_time_channel_state_and_length(project: Project, env: dict[str, str]) -> None:
    """The campaign's name is said once below; the UTC time goes first (the local one has
    its offset), then the text gets what room is left."""
    assert on_terminal("plan", cwd=project.root, env=env, columns=100).splitlines() == [
        "local time              publication                  channel  state     length  text",
        "2030-05-02 09:00-04:00  rapport-en-ligne             masto    pending   84/500  Le rapport « Gouv…",
        "2030-05-02 09:00-04:00  rapport-en-ligne             tg       pending  84/4096  Le rapport « Gouv…",
        "2030-12-02 13:30-05:00  conference-de-presse-rappel  masto    pending   43/500  Conférence de pre…",
        "3 publications of essai",
    ]


def test_plan_gives_up_the_text_then_utc_then_cuts_ids_as_the_terminal_narrows(
    project: Project, env: dict[str, str]
) -> None:
    assert on_terminal("plan", cwd=project.root, env=env, columns=80).splitlines() == [
        "local time              publication                  channel  state     length",
        "2030-05-02 09:00-04:00  rapport-en-ligne             masto    pending   84/500",
        "2030-05-02 09:00-04:00  rapport-en-ligne             tg       pending  84/4096",
        "2030-12-02 13:30-05:00  conference-de-presse-rappel  masto    pending   43/500",
        "3 publications of essai",
    ]
    assert on_terminal("plan", cwd=project.root, env=env, columns=64).splitlines() == [
        "local time              publication       channel  state     length",
        "2030-05-02 09:00-04:00  rapport-en-ligne  masto    pending   84/500",
        "2030-05-02 09:00-04:00  rapport-en-ligne  tg       pending  84/4096",
        "2030-12-02 13:30-05:00  conference-de-p…  masto    pending   43/500",
        "3 publications of essai",
    ]


def test_plan_piped_has_every_column_and_no_padding(project: Project, env: dict[str, str]) -> None:
    lines = piped("plan", cwd=project.root, env=env).splitlines()
    assert lines[0] == (
        "local time              UTC               campaign  publication                  channel  state     length  text"
    )
    assert lines[3] == (
        "2030-12-02 13:30-05:00  2030-12-02 18:30  essai     conference-de-presse-rappel  masto    pending   43/500  "
        "Conférence de presse à 13 h 30 #gautrinweb2"
    )
    assert lines[-1] == "3 publications"
    assert all(line == line.rstrip() for line in lines)


def test_a_long_plan_goes_through_the_pager_on_a_terminal_only(project: Project, env: dict[str, str]) -> None:
    env["PAGER"] = "sed 's/^/| /'"  # a pager that shows it was used
    paged = on_terminal("plan", cwd=project.root, env=env, columns=100, lines=4).splitlines()
    assert paged[0].startswith("| local time")
    assert paged[-1] == "| 3 publications of essai"
    shown = on_terminal("plan", cwd=project.root, env=env, columns=100, lines=40).splitlines()
    assert shown[-1] == "3 publications of essai"
    assert not piped("plan", cwd=project.root, env=env).startswith("|")


def record_outcomes(project: Project, url: str) -> None:
    from bot.store import database
    from bot.store.ledger import Ledger

    engine = database.create(url)
    database.upgrade(engine)
    ledger = Ledger(engine, "test")
    publications = [p for c in project.load().campaigns for p in c.publications]
    now = datetime(2030, 5, 2, 13, 0, tzinfo=UTC)
    ledger.sync(publications, now)
    for key, state, link, error in (
        ("essai/rapport-en-ligne/masto", PublicationState.PUBLISHED,
         "https://mastodon.example/@gautrinweb2/113512345678901234", None),
        ("essai/rapport-en-ligne/tg", PublicationState.FAILED, None,
         "Forbidden: bot is not a member of the channel chat\x1b[31m"),
    ):
        assert ledger.claim([key], now) == [key]
        ledger.wire(key, now)
        assert ledger.finish(key, state, now, remote_id=link and link[-18:], remote_url=link, error=error)
    engine.dispose()


def test_status_keeps_links_whole_and_shows_times_in_the_campaigns_zone(
    project: Project, env: dict[str, str]
) -> None:
    record_outcomes(project, env["RELAIS_DATABASE_URL"])
    store = project.root / "relais.db"
    assert on_terminal("status", cwd=project.root, env=env, columns=100).splitlines() == [
        f"store: {store}",
        "bot: not running: no relais run has used this store yet",
        "1 pending, 1 published, 1 failed",
        "",
        "Done",
        "due                     publication       channel  state      result",
        "2030-05-02 09:00-04:00  rapport-en-ligne  masto    published",
        "    https://mastodon.example/@gautrinweb2/113512345678901234",
        "2030-05-02 09:00-04:00  rapport-en-ligne  tg       failed",
        "    Forbidden: bot is not a member of the channel chat [31m",  # (the escape character: gone)
        "",
        "Next",
        "due                     publication                  channel  state",
        "2030-12-02 13:30-05:00  conference-de-presse-rappel  masto    pending",
        "",
        "campaign: essai",
        "",
        "to settle (each needs a person):",
        "  failed: relais resolve essai/rapport-en-ligne/tg --resend (once the cause is fixed) | --skip --as NAME",
    ]


def test_status_piped_is_one_line_a_row_with_every_column(project: Project, env: dict[str, str]) -> None:
    record_outcomes(project, env["RELAIS_DATABASE_URL"])
    lines = piped("status", cwd=project.root, env=env).splitlines()
    assert lines[5:9] == [
        "due                     campaign  publication       channel  state      result",
        "2030-05-02 09:00-04:00  essai     rapport-en-ligne  masto    published  "
        "https://mastodon.example/@gautrinweb2/113512345678901234",
        "2030-05-02 09:00-04:00  essai     rapport-en-ligne  tg       failed     "
        "Forbidden: bot is not a member of the channel chat [31m",
        "",
    ]
    assert all(line == line.rstrip() for line in lines)


def test_the_sample_plan_at_100_columns(tmp_path: Path) -> None:
    """The issue's case: before, the time was cut to ``2011-09-19 …`` and the rest dropped."""
    from tests.conftest import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["XDG_STATE_HOME"] = str(tmp_path)
    lines = on_terminal("plan", cwd=ROOT, env=env, columns=100).splitlines()
    assert lines[:2] == [
        "local time              publication                 channel            state      length",
        "2011-09-19 10:00-04:00  travaux-avancent            annonces-telegram  pending  491/4096",
    ]
    assert "2012-05-02 13:30-04:00  conference-de-presse@start  mastodon           pending   431/500" in lines
    assert lines[-1] == "36 publications of gouverner-ensemble"
    assert max(len(line) for line in lines) <= 100

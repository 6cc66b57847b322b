"""Where the store is: a relative SQLite path lives in the state directory, never in the
working directory, and the commands that report on the store say where it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.campaigns import load_campaigns
from bot.store import database
from bot.store.ledger import Ledger
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import MASTODON_TOKEN, Deployment

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test

CAMPAIGN = (
    "campaign: c\ntimezone: UTC\nchannels: {m: {network: mastodon}}\n"
    "posts:\n  - {id: a, at: 2011-01-01 00:00, text: un}\n  - {id: b, at: 2040-01-01 00:00, text: deux}\n"
)
EMPTY_STORE = (
    "new empty store at {path} while {count} publications are already past due: if the bot ran "
    "before, its store is elsewhere (RELAIS_DATABASE_URL)"
)


def relais(*args: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env.pop("STATE_DIRECTORY", None)
    env.pop("XDG_STATE_HOME", None)
    env |= settings
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A campaign repository, in a folder of its own."""
    root = tmp_path / "campaign"
    (root / "schedules").mkdir(parents=True)
    (root / "messages").mkdir()
    (root / "schedules" / "c.yaml").write_text(CAMPAIGN, encoding="utf-8")
    return root


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """Another folder: where a cron job, a service or a person runs a command from."""
    path = tmp_path / "elsewhere"
    path.mkdir()
    return path


def test_status_from_another_folder_reads_the_same_store(
    project: Path, elsewhere: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    upgraded = relais("db", "upgrade", cwd=project, RELAIS_STATE_DIR=str(state))
    assert upgraded.returncode == 0, upgraded.stderr
    store = state / "relais.db"
    assert upgraded.stdout == f"{store}: up to date\n"
    assert store.exists()
    assert not (project / "relais.db").exists(), "never in the working directory"

    result = relais("status", "--format", "json", cwd=elsewhere, RELAIS_STATE_DIR=str(state))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["store"] == str(store)
    table = relais("status", cwd=elsewhere, RELAIS_STATE_DIR=str(state))
    assert table.returncode == 0, table.stderr
    assert f"store: {store}" in table.stdout.splitlines()
    assert not (elsewhere / "relais.db").exists()


@pytest.mark.slow  # a relais process for each way of naming the state directory
@pytest.mark.parametrize(
    ("settings", "where"),
    [
        ({"RELAIS_STATE_DIR": "{tmp}/explicit", "STATE_DIRECTORY": "{tmp}/systemd"}, "explicit/relais.db"),
        (
            {"STATE_DIRECTORY": "{tmp}/systemd:{tmp}/second", "XDG_STATE_HOME": "{tmp}/xdg"},
            "systemd/relais.db",
        ),
        ({"XDG_STATE_HOME": "{tmp}/xdg", "HOME": "{tmp}/home"}, "xdg/relais/relais.db"),
        ({"HOME": "{tmp}/home"}, "home/.local/state/relais/relais.db"),
        (
            {"RELAIS_STATE_DIR": "{tmp}/explicit", "RELAIS_DATABASE_URL": "sqlite:///data/campagne.db"},
            "explicit/data/campagne.db",
        ),
        ({"RELAIS_STATE_DIR": "{tmp}/explicit", "RELAIS_DATABASE_URL": "sqlite:///{tmp}/abs.db"}, "abs.db"),
    ],
)
def test_a_relative_sqlite_path_is_under_the_state_directory(
    project: Path, tmp_path: Path, settings: dict[str, str], where: str
) -> None:
    env = {name: value.format(tmp=tmp_path) for name, value in settings.items()}
    result = relais("db", "upgrade", cwd=project, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{tmp_path / where}: up to date\n"
    assert (tmp_path / where).is_file()
    assert not (project / "relais.db").exists()


def test_commands_name_the_store_without_touching_their_json(
    project: Path, elsewhere: Path, tmp_path: Path
) -> None:
    state = str(tmp_path / "state")
    store = tmp_path / "state" / "relais.db"
    missing = relais("comments", "list", cwd=elsewhere, RELAIS_STATE_DIR=state)
    assert missing.returncode == 1
    assert missing.stderr == (
        f"relais: no store at {store}: Relais has not run with this store yet "
        "(if it has, set RELAIS_DATABASE_URL to its store)\n"
    )
    assert relais("db", "upgrade", cwd=project, RELAIS_STATE_DIR=state).returncode == 0

    listed = relais("comments", "list", "--format", "json", cwd=elsewhere, RELAIS_STATE_DIR=state)
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert (document["comments"], document["shown"], document["total"]) == ([], 0, 0)
    assert listed.stderr == f"store: {store}\n"
    exported = relais("export", "--format", "json", "--no-verify", "-o", "out.json", cwd=elsewhere, RELAIS_STATE_DIR=state)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == f"0 replies from {store} written to out.json\n"


def test_plan_reads_the_same_store_from_anywhere(project: Path, elsewhere: Path, tmp_path: Path) -> None:
    """``plan`` opens no store that does not exist (the cheap ``missing_file`` check): that
    check must look where the store is, not in the working directory."""
    state = tmp_path / "state"
    state.mkdir()
    engine = database.create(f"sqlite:///{state / 'relais.db'}")
    database.upgrade(engine)
    ledger = Ledger(engine, "test")
    [publication, _] = load_campaigns([project / "schedules"], project / "messages").campaigns[0].publications
    ledger.sync([publication], datetime.now(UTC))
    ledger.miss(publication.key, datetime.now(UTC), "missed: the bot was not running")
    engine.dispose()
    for cwd in (project, elsewhere):
        schedules = str(project / "schedules")
        result = relais(
            "plan",
            "--format",
            "json",
            cwd=cwd,
            RELAIS_STATE_DIR=str(state),
            RELAIS_SCHEDULES_DIR=schedules,
            RELAIS_MESSAGES_DIR=str(project / "messages"),
        )
        assert result.returncode == 0, result.stderr
        states = {p["id"]: p["state"] for p in json.loads(result.stdout)["publications"]}
        assert states == {"a": "missed", "b": "pending"}


def test_a_store_left_in_the_working_directory_stops_run_and_is_named(project: Path, tmp_path: Path) -> None:
    """Before this rule, ``sqlite:///relais.db`` was in the working directory: starting on a
    new store beside it would send again what is within grace. Say where it is instead."""
    engine = database.create(f"sqlite:///{project / 'relais.db'}")
    database.upgrade(engine)
    engine.dispose()
    state = tmp_path / "state"
    hint = (
        f"no store at {state / 'relais.db'}, but {project / 'relais.db'} exists (a relative SQLite path "
        f"is now under the state directory, see README): move it to {state}, or set "
        f"RELAIS_DATABASE_URL=sqlite:///{project / 'relais.db'}"
    )
    for command in (("run",), ("db", "upgrade"), ("status",)):
        result = relais(*command, cwd=project, RELAIS_STATE_DIR=str(state))
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr == f"relais: {hint}\n"
    plan = relais("plan", "--format", "json", cwd=project, RELAIS_STATE_DIR=str(state))
    assert plan.returncode == 0, plan.stderr
    assert plan.stderr.splitlines().count(f"relais: warning: {hint}") == 1, (
        "plan reads, it creates nothing: a warning, once"
    )
    assert not state.exists(), "nothing was created"


def test_no_store_is_ever_opened_relative_to_the_working_directory() -> None:
    from bot.store import StoreLocationError, missing_file

    with pytest.raises(database.StoreError, match="relative SQLite path"):
        database.create("sqlite:///relais.db")
    with pytest.raises(StoreLocationError):
        missing_file("sqlite:///relais.db")
    assert missing_file("sqlite:////nowhere/relais.db")
    assert not missing_file("sqlite://")


@pytest.fixture
def networks() -> Iterator[tuple[FakeTelegram, FakeMastodon]]:
    with FakeTelegram() as telegram, FakeMastodon(token=MASTODON_TOKEN) as mastodon:
        yield telegram, mastodon


@pytest.mark.slow
def test_run_on_a_new_store_with_publications_past_due_says_so(
    tmp_path: Path, networks: tuple[FakeTelegram, FakeMastodon]
) -> None:
    state = tmp_path / "state"
    (tmp_path / "campaign").mkdir()
    deployment = Deployment(tmp_path / "campaign", *networks, "sqlite:///relais.db")
    deployment.extra_env["RELAIS_STATE_DIR"] = str(state)
    now = datetime.now(UTC)
    deployment.campaign([("vieux", now - timedelta(hours=2)), ("plus-tard", now + timedelta(hours=2))])
    bot = deployment.start()
    line = bot.wait_for_line("new empty store")
    assert line.endswith(" WARNING bot: " + EMPTY_STORE.format(path=state / "relais.db", count=2))
    bot.wait_for_line("running;")
    assert bot.stop() == 0
    assert (state / "relais.db").exists()
    assert not (deployment.root / "relais.db").exists()

    again = deployment.start()
    again.wait_for_line("running;")
    assert again.stop() == 0
    assert "new empty store" not in again.log, "the store is no longer new"


def test_a_rehearsal_or_a_new_campaign_is_not_warned_about(
    tmp_path: Path, networks: tuple[FakeTelegram, FakeMastodon]
) -> None:
    deployment = Deployment(tmp_path, *networks, f"sqlite:///{tmp_path / 'relais.db'}")
    now = datetime.now(UTC)
    deployment.campaign([("vieux", now - timedelta(hours=2))])
    rehearsal = deployment.start("--dry-run")
    rehearsal.wait_for_line("running;")
    assert rehearsal.stop() == 0
    deployment.campaign([("plus-tard", now + timedelta(hours=2))])
    bot = deployment.start()
    bot.wait_for_line("running;")
    assert bot.stop() == 0
    assert "new empty store" not in rehearsal.log + bot.log


def test_an_escaped_sqlite_path_names_the_file_the_engine_opens(tmp_path: Path) -> None:
    """SQLAlchemy decodes %-escapes in an SQLite URL's path: the file Relais checks (is it
    there, is it current, what status reads) is the one the engine opens, not a file named
    with the escapes left in."""
    from bot.store import glance, location, missing_file, sqlite_file

    url = f"sqlite:///{tmp_path}/pct%41dir/s%20x.db"
    (tmp_path / "pctAdir").mkdir()
    engine = database.create(url)
    try:
        database.upgrade(engine)
    finally:
        engine.dispose()
    assert (tmp_path / "pctAdir" / "s x.db").is_file()
    assert sqlite_file(url) == tmp_path / "pctAdir" / "s x.db"
    assert not missing_file(url)
    assert location(url) == str(tmp_path / "pctAdir" / "s x.db")
    assert glance.status(tmp_path / "pctAdir" / "s x.db") is not None

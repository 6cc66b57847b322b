"""``relais validate``, ``plan`` and ``run`` on campaigns with problems and warnings, run as
a user runs them: exit codes, what goes to stderr, and --strict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.campaigns import load_campaigns
from tests.conftest import BASE

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test

RELAIS = [sys.executable, "-m", "bot"]


def relais(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["RELAIS_DATABASE_URL"] = f"sqlite:///{root / 'relais.db'}"
    return subprocess.run([*RELAIS, *args], cwd=root, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "messages").mkdir()
    return tmp_path


EXTREMES = (
    BASE
    + """\
grace: 99999999999d
posts:
  - {id: fin-des-temps, at: 9999-12-31 23:30, text: a}
livestreams:
  - {id: lointain, title: t, starts: "0001-01-01 10:00+00:00", ends: "0001-01-01 11:00+00:00",
     remind: [1d], text: b}
"""
)


@pytest.mark.parametrize("command", [["validate"], ["plan"], ["run", "--dry-run"]])
def test_extreme_dates_and_durations_exit_2_without_a_traceback(root: Path, command: list[str]) -> None:
    (root / "schedules" / "c.yaml").write_text(EXTREMES, encoding="utf-8")
    result = relais(root, *command)
    assert "Traceback" not in result.stderr
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "schedules/c.yaml:8:8: '99999999999d' is longer than 365 days, the longest duration Relais "
        "takes; write at most 365d",
        "schedules/c.yaml:10:29: '9999-12-31 23:30': the year 9999 is out of range; Relais takes "
        "years from 1970 to 2999",
        "schedules/c.yaml:12:38: '0001-01-01 10:00+00:00': the year 1 is out of range; Relais takes "
        "years from 1970 to 2999",
        "schedules/c.yaml:12:70: '0001-01-01 11:00+00:00': the year 1 is out of range; Relais takes "
        "years from 1970 to 2999",
        "4 problems found.",
    ]


PAST = (
    BASE
    + "posts:\n  - {id: passe, at: 2012-05-02 09:00, text: a}\n  - {id: futur, at: 2999-01-01 09:00, text: b}\n"
)
PAST_WARNING = (
    "schedules/c.yaml:9:21: warning: 'passe' is due 2012-05-02 09:00, which is already past: relais run "
    "would mark it missed instead of publishing it; move it to a later time, or remove it"
)


def test_validate_prints_warnings_and_passes(root: Path) -> None:
    (root / "schedules" / "c.yaml").write_text(PAST, encoding="utf-8")
    result = relais(root, "validate")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [PAST_WARNING, "1 warning (--strict makes warnings errors)."]
    assert result.stdout == "schedules/c.yaml: essai: 4 publications on 2 channels\nok\n"


@pytest.mark.parametrize("command", [["validate"], ["plan"], ["plan", "--format", "json"]])
def test_strict_makes_warnings_fatal(root: Path, command: list[str]) -> None:
    (root / "schedules" / "c.yaml").write_text(PAST, encoding="utf-8")
    result = relais(root, *command, "--strict")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [PAST_WARNING, "1 warning (fatal with --strict) found."]
    assert result.stdout == ""
    assert not (root / "relais.db").exists(), "validate and plan never create the store"


def test_plan_prints_warnings_on_stderr_and_its_json_on_stdout(root: Path) -> None:
    (root / "schedules" / "c.yaml").write_text(PAST, encoding="utf-8")
    result = relais(root, "plan", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [PAST_WARNING, "1 warning (--strict makes warnings errors)."]
    assert [(r["id"], r["state"]) for r in json.loads(result.stdout)["publications"]] == [
        ("passe", "pending"),
        ("passe", "pending"),
        ("futur", "pending"),
        ("futur", "pending"),
    ]


def test_a_past_publication_the_store_has_settled_is_no_warning(root: Path) -> None:
    from bot.store import database
    from bot.store.ledger import Ledger

    (root / "schedules" / "c.yaml").write_text(PAST, encoding="utf-8")
    [campaign] = load_campaigns([root / "schedules"], root / "messages").campaigns
    engine = database.create(f"sqlite:///{root / 'relais.db'}")
    database.upgrade(engine)
    ledger = Ledger(engine, "test")
    now = datetime.now(UTC)
    ledger.sync(campaign.publications, now)
    ledger.miss("essai/passe/masto", now, "missed: down")
    engine.dispose()
    assert relais(root, "validate", "--strict").returncode == 2  # the Telegram one is still pending

    engine = database.create(f"sqlite:///{root / 'relais.db'}")
    Ledger(engine, "test").miss("essai/passe/tg", now, "missed: down")
    engine.dispose()
    result = relais(root, "validate", "--strict")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_run_prints_warnings_and_runs(root: Path) -> None:
    (root / "schedules" / "c.yaml").write_text(
        BASE.replace("America/Montreal", "EST") + "posts:\n  - {id: futur, at: 2999-01-01 09:00, text: b}\n",
        encoding="utf-8",
    )
    result = relais(root, "run", "--dry-run", "--from", "2998-12-31")
    assert result.returncode == 0, result.stderr
    assert (
        "schedules/c.yaml:2:11: warning: 'EST' is UTC-05:00 all year, with no daylight saving time; "
        "write the time zone of the place, e.g. timezone: America/Toronto"
    ) in result.stderr.splitlines()
    assert "2 publications rehearsed." in result.stdout

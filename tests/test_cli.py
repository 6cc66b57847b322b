"""End to end: the ``relais`` command run as a user runs it, on the sample campaign."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test

GOLDEN = ROOT / "tests" / "golden" / "sample-plan.json"
RELAIS = [sys.executable, "-m", "bot"]


@pytest.fixture(autouse=True)
def state_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default store is under the state directory: a test's own, not the user's."""
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "relais"


def relais(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    return subprocess.run([*RELAIS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_validate_passes_on_the_sample(state_directory: Path) -> None:
    result = relais("validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "schedules/gouverner-ensemble.yaml: gouverner-ensemble: 36 publications on 2 channels\nok\n"
    )
    assert not (ROOT / "relais.db").exists(), "validate must not create the store"
    assert not state_directory.exists(), "nor its directory"


def test_plan_json_matches_the_golden_file() -> None:
    """The sample's rendering for both networks. Regenerate after a deliberate change with
    RELAIS_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_cli.py and review the diff."""
    result = relais("plan", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    if os.environ.get("RELAIS_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert document == json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_plan_shows_french_dates_in_montreal_time_and_correct_utc() -> None:
    rows = json.loads(relais("plan", "--format", "json").stdout)["publications"]
    press = {r["channel"]: r for r in rows if r["id"] == "conference-de-presse@1d"}
    assert press["mastodon"]["local_time"] == "2012-05-01T13:30:00-04:00"
    assert press["mastodon"]["utc_time"] == "2012-05-01T17:30:00+00:00"
    assert "mercredi 2 mai 2012 à 13 h 30" in press["mastodon"]["text"]
    webcom = next(r for r in rows if r["id"] == "opengouv-webcom@start")
    assert webcom["local_time"] == "2011-11-16T09:00:00-05:00"  # EST in November
    assert webcom["utc_time"] == "2011-11-16T14:00:00+00:00"
    telegram = next(r for r in rows if r["id"] == "rapport-en-ligne" and r["network"] == "telegram")
    assert telegram["text"].startswith("<b>")
    assert all(r["length"] <= r["limit"] for r in rows)
    assert {r["state"] for r in rows} == {"pending"}


def test_plan_table_lists_every_publication() -> None:
    result = relais("plan")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("36 publications")
    assert "2012-05-02 13:30-04:00" in result.stdout


def test_rehearsal_prints_the_campaign_in_order() -> None:
    result = relais("run", "--dry-run", "--from", "2011-09-01")
    assert result.returncode == 0, result.stderr
    stamps = re.findall(
        r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}) E[SD]T \((\d{2}:\d{2}) UTC\) (\S+) → (\S+)",
        result.stdout,
        flags=re.MULTILINE,
    )
    assert len(stamps) == 36
    assert stamps == sorted(stamps, key=lambda s: s[0])
    assert stamps[0] == ("2011-09-19 10:00", "14:00", "travaux-avancent", "annonces-telegram")
    assert stamps[-1][:3] == ("2012-05-25 10:00", "14:00", "fin-et-commencement")
    assert "En direct maintenant" in result.stdout
    assert "<b>" not in result.stdout, "Telegram HTML is shown as it would appear, not as markup"
    assert result.stdout.rstrip().endswith("36 publications rehearsed.")


def test_rehearsal_from_a_later_date_skips_what_came_before() -> None:
    result = relais("run", "--dry-run", "--from", "2012-05-02 13:00")
    assert result.returncode == 0, result.stderr
    ids = re.findall(r"UTC\) (\S+) →", result.stdout)
    assert ids[:2] == ["conference-de-presse@10m", "conference-de-presse@10m"]
    assert "rapport-en-ligne" not in ids


@pytest.mark.slow  # it waits in real time, as it should
def test_rehearsal_at_a_speed_really_waits(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "messages", tmp_path / "messages")
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "c.yaml").write_text(
        "campaign: c\ntimezone: UTC\nchannels: {m: {network: mastodon}}\n"
        "posts:\n  - {id: a, at: 2030-01-01 00:00:30, text: un}\n",
        encoding="utf-8",
    )
    fast = relais("run", "--dry-run", "--from", "2030-01-01 00:00", cwd=tmp_path)
    assert fast.returncode == 0, fast.stderr
    assert "1 publications rehearsed." in fast.stdout
    began = time.monotonic()
    slow = relais("run", "--dry-run", "--from", "2030-01-01 00:00", "--speed", "60", cwd=tmp_path)
    assert time.monotonic() - began >= 0.5, "30 simulated seconds at 60x take half a real second"
    assert slow.returncode == 0, slow.stderr
    assert "1 publications rehearsed." in slow.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "--from", "2012-01-01"), "--from and --speed rehearse a campaign: use them with --dry-run"),
        (("run", "--dry-run", "--speed", "10"), "--speed needs --from"),
        (("run", "--dry-run", "--from", "hier"), "Invalid value for --from: 'hier' is not a date and time"),
    ],
)
def test_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = relais(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_campaign_exits_2_with_every_problem_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "messages").mkdir()
    (tmp_path / "schedules" / "a.yaml").write_text("campaign: [\n", encoding="utf-8")
    (tmp_path / "schedules" / "b.yaml").write_text(
        "campaign: b\ntimezone: Nowhere/Town\nchannels: {}\n", encoding="utf-8"
    )
    for command in (("validate",), ("plan", "--format", "json"), ("run", "--dry-run")):
        result = relais(*command, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            "schedules/a.yaml:1:11: this list is never closed: add ']' after its last item",
            "schedules/b.yaml:2:11: unknown time zone 'Nowhere/Town'; use an IANA name like America/Montreal",
            "schedules/b.yaml:3:11: 'channels' needs at least one channel, e.g. channels: "
            '{tg: {network: telegram, chat: "@GautrinWeb2"}}',
            "3 problems found.",
        ]


def test_validate_accepts_paths(tmp_path: Path) -> None:
    result = relais("validate", str(ROOT / "schedules" / "gouverner-ensemble.yaml"))
    assert result.returncode == 0, result.stderr
    missing = relais("validate", "nulle-part.yaml")
    assert missing.returncode == 2
    assert missing.stderr.splitlines()[0] == "nulle-part.yaml: no such file or directory"


def test_help_and_version() -> None:
    assert "rehearse" in relais("run", "--help").stdout
    assert relais("--version").stdout.startswith("relais, version ")


def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env |= {"RELAIS_LOG_LEVEL": "loud", "RELAIS_POLL_SECONDS": "-1"}
    result = subprocess.run(
        [*RELAIS, "validate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "relais: RELAIS_LOG_LEVEL: give DEBUG, INFO, WARNING or ERROR",
        "relais: RELAIS_POLL_SECONDS: give a number of seconds from 0.1 to 3600, like 30",
    ]

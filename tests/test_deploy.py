"""deploy/: the systemd units (checked by systemd-analyze where it exists, and read here in
any case), the admin wrapper and the Containerfile say what the README promises."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.services.publisher import STOP_RECORD_SECONDS
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
UNITS = ("relais.service", "relais-pull.service", "relais-pull.timer", "relais-backup.service",
         "relais-backup.timer")
STORE_URL = "sqlite:////var/lib/relais/relais.db"
# What every unit that runs relais sets: the settings file, the campaign files by absolute path.
ENVIRONMENT = ["RELAIS_ENV_FILE=/etc/relais/relais.env RELAIS_SCHEDULES_DIR=/srv/relais/schedules "
               "RELAIS_MESSAGES_DIR=/srv/relais/messages"]
# The longest a stop can take by design (deploy/relais.service says why; benchmarks/stop.py
# measures the common cases): a Telegram photo on the wire, 30 s to upload and 10 s to be
# answered, then the wait for an unreachable store.
LONGEST_STOP = 30 + 10 + STOP_RECORD_SECONDS


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections, each directive with all its values (a key may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for number, line in enumerate((DEPLOY / name).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith(("#", ";")):
            continue
        if match := re.fullmatch(r"\[(\w+)\]", line):
            current = sections.setdefault(match.group(1), {})
            continue
        key, equals, value = line.partition("=")
        assert equals, f"{name}:{number}: not a directive: {line!r}"
        assert re.fullmatch(r"[A-Za-z]+", key), f"{name}:{number}: not a directive: {line!r}"
        current.setdefault(key, []).append(value)
    return sections


def seconds(value: str) -> float:
    units = {"s": 1, "min": 60}
    match = re.fullmatch(r"(\d+)(s|min)", value)
    assert match, value
    return int(match.group(1)) * units[match.group(2)]


def test_the_service_runs_as_its_own_user_with_its_store_in_its_state_directory() -> None:
    service = unit("relais.service")["Service"]
    assert service["User"] == ["relais"]
    # Never the pulled clone: its working directory is its state directory, its settings
    # /etc/relais/relais.env, read by Relais (tests/test_deployed.py runs it so).
    assert service["WorkingDirectory"] == ["/var/lib/relais"]
    assert "EnvironmentFile" not in service  # systemd would parse it otherwise than relais-admin
    assert service["ExecStart"] == ["/opt/relais/bin/relais run"]
    assert service["Restart"] == ["on-failure"]
    assert service["StateDirectory"] == ["relais"]
    assert service["Environment"] == ENVIRONMENT  # no store URL: a PostgreSQL one in relais.env wins
    assert STORE_URL.removeprefix("sqlite:///").startswith("/var/lib/" + service["StateDirectory"][0] + "/")
    assert service["ProtectSystem"] == ["strict"]  # it writes nothing but its state directory


def test_the_stop_timeout_exceeds_the_longest_clean_stop() -> None:
    service = unit("relais.service")["Service"]
    assert service["KillSignal"] == ["SIGTERM"]
    assert seconds(service["TimeoutStopSec"][0]) >= LONGEST_STOP + 10
    stop = re.search(r"--stop-timeout (\d+)", (DEPLOY / "Containerfile").read_text())
    assert stop is not None
    assert int(stop.group(1)) >= LONGEST_STOP + 10


def test_it_starts_after_the_clock_is_synchronised() -> None:
    section = unit("relais.service")["Unit"]
    assert "time-sync.target" in section["After"][0].split()
    assert "time-sync.target" in section["Wants"][0].split()


def test_the_pull_and_backup_units_work_where_the_service_does() -> None:
    service = unit("relais.service")["Service"]
    pull = unit("relais-pull.service")["Service"]
    assert (pull["User"], pull["WorkingDirectory"]) == (service["User"], service["WorkingDirectory"])
    assert pull["ExecStart"] == ["/usr/bin/git -C /srv/relais pull --ff-only --quiet"]
    assert pull["ExecStartPost"] == ["/opt/relais/bin/relais validate"]
    assert (pull["Environment"], pull["StateDirectory"]) == (service["Environment"], service["StateDirectory"])
    backup = unit("relais-backup.service")["Service"]
    assert backup["Environment"] == service["Environment"]
    assert backup["StateDirectory"] == service["StateDirectory"]
    assert backup["WorkingDirectory"] == service["WorkingDirectory"]
    assert "relais db backup /var/backups/relais/" in backup["ExecStart"][0]
    for other in (pull, backup):  # what they make is the service user's alone, as the service's
        assert other["UMask"] == service["UMask"] == ["0077"]
        assert other["StateDirectoryMode"] == service["StateDirectoryMode"] == ["0700"]
    assert unit("relais-pull.timer")["Timer"]["OnUnitActiveSec"] == ["2min"]
    assert unit("relais-backup.timer")["Timer"]["Persistent"] == ["true"]


def test_the_admin_wrapper_opens_the_services_store() -> None:
    script = (DEPLOY / "relais-admin").read_text(encoding="utf-8")
    service = unit("relais.service")["Service"]
    for assignment in ENVIRONMENT[0].split():
        assert f"  {assignment} " in script, assignment
    assert "STATE_DIRECTORY=/var/lib/" + service["StateDirectory"][0] in script
    assert f"cd {service['WorkingDirectory'][0]} &&" in script
    assert ". /etc/relais" not in script  # no shell reads the settings
    assert "sudo -u relais env -i" in script
    assert subprocess.run(["sh", "-n", str(DEPLOY / "relais-admin")], check=False).returncode == 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    """Verified as installed, but with this checkout's relais as the program (verify
    insists that ExecStart names one that exists)."""
    relais = Path(sys.executable).parent / "relais"
    for name in UNITS:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace("/opt/relais/bin/relais", str(relais)))
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / name) for name in UNITS)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def test_the_containerfile_is_slim_non_root_with_the_store_on_a_volume() -> None:
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert re.search(r"^FROM \S*python:3\.\d+-slim$", text, re.MULTILINE)
    assert "USER relais" in lines
    assert f"RELAIS_DATABASE_URL={STORE_URL}" in text
    assert "STATE_DIRECTORY=/var/lib/relais" in text  # (a relative SQLite URL from an env file)
    assert 'RELAIS_ENV_FILE=""' in text  # the environment alone: never a .env in /campaign
    assert 'VOLUME ["/var/lib/relais"]' in lines
    assert re.search(r'HEALTHCHECK .*\\\n\s+CMD \["relais", "check", "--alive"\]', text)
    assert "--require-hashes -r /tmp/relais/requirements.lock" in text
    for source in re.findall(r"^COPY (.+) /tmp/relais/\S*$", text, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), path


def test_the_readme_says_how_to_use_each_file() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    deploying = readme.split("## Deploying", 1)[1].split("\n## ", 1)[0]
    for name in (*UNITS, "relais-admin", "Containerfile"):
        assert f"deploy/{name}" in deploying, name
    for needed in ("pg_dump", "timedatectl", "git pull", "relais db backup", "relais db upgrade",
                   "podman build", "pipx install", "uv tool install"):
        assert needed in readme, needed


@pytest.mark.slow
def test_db_upgrade_says_what_it_migrated(tmp_path: Path) -> None:
    """The README's upgrade step: `relais db upgrade` names the revisions it went between."""
    import os

    from alembic import command

    from bot.store import database

    url = f"sqlite:///{tmp_path / 'relais.db'}"
    engine = database.create(url)
    config = database._alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
    engine.dispose()
    (head,) = database._heads() or ()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")} | {"RELAIS_DATABASE_URL": url}

    def upgrade() -> str:
        result = subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert upgrade() == f"{tmp_path / 'relais.db'}: migrated from 0006 to {head}, up to date\n"
    assert upgrade() == f"{tmp_path / 'relais.db'}: up to date\n"


def test_the_readme_steps_make_each_path_before_a_command_needs_it() -> None:
    """On a fresh server, in the README's order: relais-admin runs in /var/lib/relais and
    reads /etc/relais/relais.env before systemd has ever started a unit (which would
    make the state directory)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    steps = readme.split("### On a server with systemd", 1)[1].split("\n### ", 1)[0]
    lines = [line.strip() for block in re.findall(r"```sh\n(.*?)```", steps, re.DOTALL)
             for line in block.splitlines()]
    first_admin = next(i for i, line in enumerate(lines) if line.startswith("relais-admin "))
    made = {
        path: next((i for i, line in enumerate(lines) if line.startswith("sudo install ") and path in line.split()), None)
        for path in ("/var/lib/relais", "/etc/relais/relais.env", "/var/backups/relais", "/srv/relais")
    }
    assert all(i is not None and i < first_admin for i in made.values()), made
    state = lines[made["/var/lib/relais"] or 0]
    assert "-o relais" in state
    assert "-m 0700" in state  # as StateDirectoryMode=0700 keeps it
    assert all(unit(name)["Service"]["StateDirectoryMode"] == ["0700"]
               for name in ("relais.service", "relais-pull.service", "relais-backup.service"))

"""A deployed Relais takes its settings from /etc/relais only, never from the campaign
repository that relais-pull.timer pulls: each unit of deploy/ is run here as systemd would
run it (its environment, its working directory, its state directory), in a copy of the
server's layout under a temporary root."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_deploy import unit

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test

RELAIS = Path(sys.executable).parent / "relais"
SERVER_PATHS = ("/srv/relais", "/etc/relais", "/var/lib/relais", "/opt/relais")


def moved(value: str, root: Path) -> str:
    """A value of a unit with the server's paths under ``root``."""
    for path in SERVER_PATHS:
        value = value.replace(path, f"{root}{path}")
    return value


def systemd_environment_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd reads an EnvironmentFile= (enough for .env.example)."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith(("#", ";")):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def as_unit(name: str, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``relais ARGS`` as unit ``name`` runs relais."""
    service = unit(name)["Service"]
    env = {"PATH": os.environ["PATH"], "HOME": str(root / "var/lib/relais")}
    for line in service.get("Environment", []):
        env |= dict(assignment.partition("=")[::2] for assignment in shlex.split(moved(line, root)))
    for state in service.get("StateDirectory", []):
        env["STATE_DIRECTORY"] = str(root / "var/lib" / state)
        (root / "var/lib" / state).mkdir(mode=0o700, exist_ok=True)
    for file in service.get("EnvironmentFile", []):  # it overrides Environment=
        env |= systemd_environment_file(Path(moved(file, root)))
    cwd = moved(service["WorkingDirectory"][0], root)
    return subprocess.run([str(RELAIS), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def as_admin(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``relais-admin ARGS`` (deploy/relais-admin, as root: here without sudo)."""
    script = (ROOT / "deploy/relais-admin").read_text(encoding="utf-8")
    script = moved(script.replace("/opt/relais/bin/relais", str(RELAIS)), root)
    assert "exec sudo -u relais env -i" in script
    (root / "relais-admin").write_text(script.replace("sudo -u relais ", ""), encoding="utf-8")
    return subprocess.run(["sh", str(root / "relais-admin"), *args], cwd=root / "srv/relais",
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def server(tmp_path: Path) -> Path:
    """The README's layout: the clone in /srv/relais (with a .env someone pushed), the
    settings in /etc/relais/relais.env (from .env.example), the state in /var/lib/relais."""
    clone = tmp_path / "srv/relais"
    (clone / "schedules").mkdir(parents=True)
    (clone / "messages").mkdir()
    (clone / "schedules/c.yaml").write_text(
        "campaign: c\ntimezone: UTC\nchannels: {m: {network: mastodon}}\n"
        "posts:\n  - {id: a, at: 2030-01-01 00:00, text: un}\n",
        encoding="utf-8",
    )
    (clone / ".env").write_text(
        f"RELAIS_STATE_DIR={tmp_path}/attacker\nRELAIS_ALERT_TELEGRAM_CHAT=@attacker\n"
        "RELAIS_TELEGRAM_API_URL=https://attacker.example\n",
        encoding="utf-8",
    )
    (tmp_path / "etc/relais").mkdir(parents=True)
    (tmp_path / "etc/relais/relais.env").write_text(
        (ROOT / ".env.example").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "var/lib").mkdir(parents=True)
    (tmp_path / "var/lib/relais").mkdir(mode=0o700)
    return tmp_path


def test_a_dotenv_pushed_to_the_campaign_repository_is_not_read(server: Path) -> None:
    store = server / "var/lib/relais/relais.db"
    upgraded = as_unit("relais.service", server, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.startswith(f"{store}: ")
    for name in ("relais.service", "relais-pull.service", "relais-backup.service"):
        status = as_unit(name, server, "status", "--format", "json")
        assert status.returncode == 0, (name, status.stderr)
        assert json.loads(status.stdout)["store"] == str(store), name
        validated = as_unit(name, server, "validate")
        assert (validated.returncode, validated.stderr) == (0, ""), name
    status = as_admin(server, "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["store"] == str(store)
    assert not (server / "attacker").exists()


def test_relais_admin_reads_the_settings_as_the_service_does(server: Path) -> None:
    """Values a shell would split or expand (a name with a space, a $ in a password) mean
    the same to relais-admin as to the service: Relais reads the file for both."""
    settings = server / "etc/relais/relais.env"
    settings.write_text(
        "RELAIS_MODERATOR=Marie Curie\nRELAIS_DATABASE_URL=sqlite:///pa$$w0rd.db\n"
        "RELAIS_LOG_LEVEL='warning'\n",
        encoding="utf-8",
    )
    store = server / "var/lib/relais/pa$$w0rd.db"
    service = as_unit("relais.service", server, "db", "upgrade")
    assert (service.returncode, service.stderr) == (0, "")
    assert service.stdout.startswith(f"{store}: ")
    admin = as_admin(server, "db", "upgrade")
    assert (admin.returncode, admin.stderr, admin.stdout) == (0, "", f"{store}: up to date\n")


def test_a_setting_that_cannot_work_stops_the_service_for_good(server: Path) -> None:
    """relais run exits 2 on a setting no restart can mend; the unit does not restart it
    (every 5 s, for ever, with the same message), and does restart on any other failure."""
    settings = server / "etc/relais/relais.env"
    settings.write_text("RELAIS_POLL_SECONDS=inf\n", encoding="utf-8")
    result = as_unit("relais.service", server, "run")
    assert result.returncode == 2, result.stderr
    service = unit("relais.service")["Service"]
    assert service["Restart"] == ["on-failure"]
    assert service["RestartPreventExitStatus"] == [str(result.returncode)]

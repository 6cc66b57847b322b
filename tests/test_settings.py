"""Settings that cannot work stop every command at start: one line naming the variable and
the fix, exit 2, no traceback, never the value of a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RELAIS = [sys.executable, "-m", "bot"]
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # looks real, is not

API_URL = (
    "relais: RELAIS_TELEGRAM_API_URL: give the Bot API server's address alone, like "
    "https://api.telegram.org (http or https, a host, an optional port; the token goes in "
    "RELAIS_TELEGRAM_TOKEN)"
)
MASTODON_URL = (
    "relais: RELAIS_MASTODON_URL: give the instance's address alone, like https://mastodon.example "
    "(http or https, a host, an optional port)"
)
POLL = "relais: RELAIS_POLL_SECONDS: give a number of seconds from 0.1 to 3600, like 30"
DATABASE = (
    "relais: RELAIS_DATABASE_URL: give an SQLite or PostgreSQL URL, like sqlite:///relais.db or "
    "postgresql+psycopg://user:password@host/relais"
)
LOG_LEVEL = "relais: RELAIS_LOG_LEVEL: give DEBUG, INFO, WARNING or ERROR"
ALERT = (
    "relais: RELAIS_ALERT_TELEGRAM_CHAT: give a chat's @username (5 to 32 letters, digits or _) "
    "or its numeric id, like -1001234567890"
)
TELEGRAM_TOKEN = (
    "relais: RELAIS_TELEGRAM_TOKEN: this is not a bot token (digits, a colon, then letters, digits, "
    "_ or -): copy it again from @BotFather"
)
MASTODON_TOKEN = (
    "relais: RELAIS_MASTODON_TOKEN: this is not an access token (letters, digits and - _ . ~ + / = "
    "only): copy it again from Preferences > Development on the instance"
)
STATE_DIR = (
    "relais: RELAIS_STATE_DIR: give an absolute path, like /var/lib/relais "
    "(a relative one would depend on where the command runs)"
)


def relais(*args: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env |= {"RELAIS_STATE_DIR": str(cwd / "state"), **settings}
    return subprocess.run([*RELAIS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def in_process(*args: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """``relais`` as ``relais()`` runs it, in this process (``click``'s runner): for the many
    values of one check, a second each as a process."""
    from click.testing import CliRunner

    from bot.cli import main

    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("RELAIS_")}
    env |= {"RELAIS_STATE_DIR": str(cwd / "state"), **settings}
    here = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, list(args), env=env)
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "messages").mkdir()
    (tmp_path / "schedules" / "c.yaml").write_text(
        "campaign: c\ntimezone: UTC\nchannels: {m: {network: mastodon}}\n"
        "posts:\n  - {id: a, at: 2030-01-01 00:00, text: un}\n",
        encoding="utf-8",
    )
    return tmp_path


BAD = [
    ("RELAIS_POLL_SECONDS", "inf", POLL),
    ("RELAIS_POLL_SECONDS", "-inf", POLL),
    ("RELAIS_POLL_SECONDS", "nan", POLL),
    ("RELAIS_POLL_SECONDS", "0", POLL),
    ("RELAIS_POLL_SECONDS", "-1", POLL),
    ("RELAIS_POLL_SECONDS", "0.01", POLL),
    ("RELAIS_POLL_SECONDS", "1e308", POLL),
    ("RELAIS_POLL_SECONDS", "86400", POLL),
    ("RELAIS_POLL_SECONDS", "trente", POLL),
    ("RELAIS_TELEGRAM_API_URL", "htps:/x", API_URL),
    ("RELAIS_TELEGRAM_API_URL", "api.telegram.org", API_URL),
    ("RELAIS_TELEGRAM_API_URL", "https://", API_URL),
    ("RELAIS_TELEGRAM_API_URL", "ftp://api.telegram.org", API_URL),
    ("RELAIS_TELEGRAM_API_URL", "https://api.telegram.org/bot", API_URL),
    ("RELAIS_TELEGRAM_API_URL", f"https://api.telegram.org/bot{TOKEN}/", API_URL),
    ("RELAIS_TELEGRAM_API_URL", f"https://api.telegram.org?token={TOKEN}", API_URL),
    ("RELAIS_TELEGRAM_API_URL", "https://user:hunter2secret@api.telegram.org", API_URL),
    ("RELAIS_TELEGRAM_API_URL", "https://api.telegram.org:99999", API_URL),
    ("RELAIS_TELEGRAM_API_URL", "https://api telegram.org", API_URL),
    ("RELAIS_MASTODON_URL", "mastodon.example", MASTODON_URL),
    ("RELAIS_MASTODON_URL", "htps:/mastodon.example", MASTODON_URL),
    ("RELAIS_MASTODON_URL", "https://mastodon.example/@relais", MASTODON_URL),
    ("RELAIS_MASTODON_URL", "https://mastodon.example/#x", MASTODON_URL),
    ("RELAIS_DATABASE_URL", "mysql://relais:hunter2secret@db/relais", DATABASE),
    ("RELAIS_DATABASE_URL", "relais.db", DATABASE),
    ("RELAIS_DATABASE_URL", "postgresql+psycopg2://relais:hunter2secret@db/relais", DATABASE),
    ("RELAIS_DATABASE_URL", "sqlite:/relais.db", DATABASE),
    ("RELAIS_LOG_LEVEL", "loud", LOG_LEVEL),
    ("RELAIS_LOG_LEVEL", "trace", LOG_LEVEL),
    ("RELAIS_ALERT_TELEGRAM_CHAT", "GautrinWeb2", ALERT),
    ("RELAIS_ALERT_TELEGRAM_CHAT", "@ab", ALERT),
    ("RELAIS_ALERT_TELEGRAM_CHAT", "@Gautrin Web2", ALERT),
    ("RELAIS_ALERT_TELEGRAM_CHAT", "-100abc", ALERT),
    ("RELAIS_ALERT_TELEGRAM_CHAT", "https://t.me/GautrinWeb2", ALERT),
    ("RELAIS_TELEGRAM_TOKEN", "hunter2secret", TELEGRAM_TOKEN),
    ("RELAIS_TELEGRAM_TOKEN", f"bot{TOKEN}", TELEGRAM_TOKEN),
    ("RELAIS_TELEGRAM_TOKEN", f"{TOKEN} ", TELEGRAM_TOKEN),
    ("RELAIS_MASTODON_TOKEN", "hunter2 secret", MASTODON_TOKEN),
    ("RELAIS_MASTODON_TOKEN", "Bearer hunter2secret", MASTODON_TOKEN),
    ("RELAIS_STATE_DIR", "state", STATE_DIR),
]


@pytest.mark.parametrize(("name", "value", "line"), BAD, ids=[f"{n}={v!r}" for n, v, _ in BAD])
def test_a_setting_that_cannot_work_is_refused(project: Path, name: str, value: str, line: str) -> None:
    result = in_process("validate", cwd=project, **{name: value})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [line]
    for secret in ("hunter2", TOKEN):
        assert secret not in result.stderr


COMMANDS = [
    ("validate",),
    ("plan", "--format", "json"),
    ("run",),
    ("run", "--dry-run"),
    ("status", "--format", "json"),
    ("comments", "list", "--format", "json"),
    ("export", "--format", "csv", "-o", "out.csv"),
    ("db", "upgrade"),
]


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_checks_the_settings_at_start(project: Path, command: tuple[str, ...]) -> None:
    result = relais(
        *command, cwd=project, RELAIS_POLL_SECONDS="inf", RELAIS_TELEGRAM_API_URL=f"https://x/bot{TOKEN}"
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [API_URL, POLL]
    assert not (project / "state").exists(), "nothing was created"
    assert not (project / "out.csv").exists()


@pytest.mark.slow
def test_every_problem_of_a_dotenv_file_is_listed(project: Path) -> None:
    (project / ".env").write_text(
        "RELAIS_LOG_LEVEL=loud\nRELAIS_MASTODON_URL=mastodon.example\nRELAIS_DATABASE_URL=mysql://u:hunter2@h/d\n",
        encoding="utf-8",
    )
    result = relais("validate", cwd=project)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [DATABASE, MASTODON_URL, LOG_LEVEL]


GOOD = {
    "RELAIS_POLL_SECONDS": "0.5",
    "RELAIS_TELEGRAM_API_URL": "http://127.0.0.1:8081/",
    "RELAIS_MASTODON_URL": "https://mastodon.example",
    "RELAIS_DATABASE_URL": "postgresql+psycopg://relais:pw@db.example:5432/relais",
    "RELAIS_LOG_LEVEL": "debug",
    "RELAIS_ALERT_TELEGRAM_CHAT": "-1001234567890",
    "RELAIS_TELEGRAM_TOKEN": TOKEN,
    "RELAIS_MASTODON_TOKEN": "zH4-kq_9Xb.Y~1+/=",
}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"RELAIS_ALERT_TELEGRAM_CHAT": "@GautrinWeb2", "RELAIS_POLL_SECONDS": "3600"},
        {"RELAIS_DATABASE_URL": "sqlite:///relais.db", "RELAIS_TELEGRAM_API_URL": "https://api.telegram.org"},
        {"RELAIS_DATABASE_URL": "sqlite://", "RELAIS_MASTODON_URL": "http://[::1]:3000"},
        {"RELAIS_TELEGRAM_API_URL": "http://bot_api:8081", "RELAIS_MASTODON_URL": "https://réseau.québec"},
        {"RELAIS_DATABASE_URL": "postgresql://relais@/relais", "RELAIS_STATE_DIR": "~/relais-state"},
    ],
)
@pytest.mark.slow
def test_settings_that_work_are_accepted_silently(project: Path, changes: dict[str, str]) -> None:
    result = relais("validate", cwd=project, **(GOOD | changes))
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.slow
def test_an_unknown_relais_variable_is_a_warning_with_did_you_mean(project: Path) -> None:
    (project / ".env").write_text("RELAIS_MASTADON_URL=https://mastodon.example\n", encoding="utf-8")
    result = relais(
        "validate",
        cwd=project,
        RELAIS_TELEGRAM_TOKNE="hunter2secret",
        RELAIS_COLOUR="bleu",
        RELAIS_TEST_X="1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "relais: warning: RELAIS_COLOUR is not a Relais setting (see .env.example for the list)",
        "relais: warning: RELAIS_TELEGRAM_TOKNE is not a Relais setting; did you mean RELAIS_TELEGRAM_TOKEN?",
        "relais: warning: .env: RELAIS_MASTADON_URL is not a Relais setting; did you mean RELAIS_MASTODON_URL?",
    ]
    assert "hunter2" not in result.stderr
    assert result.stdout.endswith("ok\n")


@pytest.mark.slow
def test_relais_env_file_names_the_only_settings_file_read(project: Path) -> None:
    """A service names its settings file: a .env where it runs is then never read."""
    (project / ".env").write_text("RELAIS_LOG_LEVEL=loud\n", encoding="utf-8")
    named = project / "relais.env"
    named.write_text("RELAIS_POLL_SECONDS=inf\n", encoding="utf-8")
    result = relais("validate", cwd=project, RELAIS_ENV_FILE=str(named))
    assert (result.returncode, result.stderr.splitlines()) == (2, [POLL])
    named.write_text("RELAIS_POLL_SECONDS=5\n", encoding="utf-8")
    assert relais("validate", cwd=project, RELAIS_ENV_FILE=str(named)).returncode == 0
    # Set but empty: the environment alone.
    result = relais("validate", cwd=project, RELAIS_ENV_FILE="")
    assert (result.returncode, result.stderr) == (0, "")
    assert relais("validate", cwd=project).stderr.splitlines() == [LOG_LEVEL]  # unset: .env


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("relais.env", "RELAIS_ENV_FILE: give an absolute path, like /etc/relais/relais.env (or set it empty "
                       "to read the environment alone)"),
        ("{project}/missing.env", "RELAIS_ENV_FILE: {project}/missing.env is not a file that can be read: "
                                  "create it, or fix the path"),
    ],
)
@pytest.mark.slow
def test_a_relais_env_file_that_cannot_be_read_stops_every_command(
    project: Path, value: str, message: str
) -> None:
    (project / "relais.env").write_text("RELAIS_POLL_SECONDS=5\n", encoding="utf-8")
    result = relais("status", cwd=project, RELAIS_ENV_FILE=value.format(project=project))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == ["relais: " + message.format(project=project)]

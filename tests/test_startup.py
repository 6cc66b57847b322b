"""What ``relais validate`` and ``relais plan`` load, checked on the modules a fresh
interpreter holds once the command is done (not on a clock): a library imported for
nothing is start-up time for every reviewer who runs them (``benchmarks/campaign_load.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Run the command in this interpreter, then list the top-level packages it imported.
SCRIPT = """
import contextlib, io, json, sys
from bot.cli import main
sys.argv = ["relais", *sys.argv[1:]]
code = 0
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main()
    except SystemExit as exit:
        code = exit.code
print(json.dumps({"code": code, "modules": sorted({name.split(".")[0] for name in sys.modules})}))
"""
# Sending, collecting, scheduling, migrating, exporting: none of it is validate's or plan's.
NETWORK = {"telegram", "mastodon", "httpx", "httpcore", "requests", "aiolimiter", "apscheduler", "tenacity"}
OTHERS = {"alembic", "mako", "watchfiles", "openpyxl", "PIL", "markdown_it", "rich"}
STORE = {"sqlalchemy", "psycopg"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "messages").mkdir()
    (tmp_path / "messages" / "annonce.md").write_text("**{{ titre }}** {{ at|datetime }} {{ hashtag }}\n")
    (tmp_path / "schedules" / "c.yaml").write_text(
        "campaign: c\ntimezone: America/Montreal\nlanguage: fr-CA\nhashtags: [gautrinweb2]\n"
        'channels: {t: {network: telegram, chat: "@GautrinWeb2"}, m: {network: mastodon}}\n'
        "posts:\n  - {id: a, at: 2030-01-07 09:00, message: annonce, vars: {titre: Rapport}}\n"
        "livestreams:\n  - {id: d, title: Direct, starts: 2030-01-08 13:30, ends: 2030-01-08 14:30, text: '{{ title }}'}\n",
        encoding="utf-8",
    )
    return tmp_path


def loaded(project: Path, *args: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["RELAIS_STATE_DIR"] = str(project / "state")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["code"] == 0, result.stderr
    return set(report["modules"])


@pytest.mark.parametrize(
    ("command", "also"),
    [(("validate",), set()), (("plan", "--format", "json"), set()), (("plan",), {"rich"})],  # (rich: the table)
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
def test_validate_and_plan_load_no_network_store_or_migration_library(
    project: Path, command: tuple[str, ...], also: set[str]
) -> None:
    modules = loaded(project, *command)
    assert {"bot", "yaml", "jinja2", "pydantic"} <= modules  # (the check sees what was loaded)
    assert modules & (NETWORK | OTHERS | STORE) == also


def test_plan_reads_an_existing_store_without_alembic(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["RELAIS_STATE_DIR"] = str(project / "state")
    subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], cwd=project, env=env, check=True, timeout=120)
    modules = loaded(project, "plan", "--format", "json")
    assert "sqlalchemy" in modules  # it read the store
    assert modules & (NETWORK | OTHERS) == set()


# What `relais --help` and `--version` must never import: each is a tenth of a second or more
# of a command that only prints text (benchmarks/startup.py). asyncio: a fifth of --help.
HEAVY = {
    "pydantic", "pydantic_settings", "sqlalchemy", "alembic", "jinja2", "yaml", "babel", "rich",
    "telegram", "mastodon", "httpx", "requests", "apscheduler", "watchfiles", "openpyxl", "PIL",
    "asyncio",
}  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [("--version",), ("--help",), ("run", "--help"), ("comments", "--help"), ("db", "--help"),
     ("validate", "--help"), ("comments", "list", "--help")],
    ids=" ".join,
)  # fmt: skip
def test_help_and_version_import_no_heavy_library(project: Path, command: tuple[str, ...]) -> None:
    modules = loaded(project, *command)
    assert "click" in modules  # (the check sees what was loaded)
    assert modules & HEAVY == set()


def test_a_current_store_is_upgraded_without_alembic(project: Path) -> None:
    """`relais db upgrade` (and `relais run` at start) on a store already current has
    nothing to apply: Alembic, its migrations and its 8 MB stay unloaded."""
    assert "alembic" in loaded(project, "db", "upgrade")  # a new store: migrated by Alembic
    modules = loaded(project, "db", "upgrade")
    assert "sqlalchemy" in modules  # it looked at the store
    assert "alembic" not in modules

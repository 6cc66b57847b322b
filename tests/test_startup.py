"""What ``relais validate`` and ``relais plan`` load, checked on the modules a fresh
interpreter holds once the command is done (not on a clock): a library imported for
nothing is start-up time for every reviewer who runs them (``benchmarks/campaign_load.py``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
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


def printed_by(script: str) -> str:
    """What ``script`` prints, run by a Python of its own (which must succeed)."""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


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
        [sys.executable, "-c", SCRIPT, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["code"] == 0, result.stderr
    return set(report["modules"])


@pytest.mark.parametrize(
    ("command", "also"),
    [
        (("validate",), set()),
        (("plan", "--format", "json"), set()),
        (("plan",), {"rich"}),
    ],  # (rich: the table)
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
@pytest.mark.slow
def test_validate_and_plan_load_no_network_store_or_migration_library(
    project: Path, command: tuple[str, ...], also: set[str]
) -> None:
    modules = loaded(project, *command)
    assert {"bot", "yaml", "jinja2", "pydantic"} <= modules  # (the check sees what was loaded)
    assert modules & (NETWORK | OTHERS | STORE) == also


@pytest.mark.slow
def test_plan_reads_an_existing_store_without_alembic(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["RELAIS_STATE_DIR"] = str(project / "state")
    subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"], cwd=project, env=env, check=True, timeout=120
    )
    modules = loaded(project, "plan", "--format", "json")
    assert "sqlite3" in modules  # it read the store (bot.store.glance: no SQLAlchemy needed)
    assert modules & (NETWORK | OTHERS) == set()


@pytest.mark.slow
def test_plan_shows_the_states_the_ledger_records_read_without_sqlalchemy(project: Path) -> None:
    """On an SQLite store, plan (and validate) read the ledger's states with sqlite3: the same
    states the ledger's own query gives, and SQLAlchemy is not loaded for it."""
    from bot.core.campaigns import load_campaigns
    from bot.store import database, glance
    from bot.store.ledger import Ledger

    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["RELAIS_STATE_DIR"] = str(project / "state")
    subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"], cwd=project, env=env, check=True, timeout=120
    )
    store = project / "state" / "relais.db"
    publications = load_campaigns([project / "schedules"], project / "messages").campaigns[0].publications
    keys = [p.key for p in publications]
    engine = database.create(f"sqlite:///{store}")
    try:
        ledger = Ledger(engine, "test")
        now = datetime.now(UTC)
        ledger.sync(publications[1:], now)  # the first one: not in the ledger
        assert ledger.miss(keys[-1], now, "test") == "missed"
        by_ledger = {key: row.state for key, row in ledger.rows([*keys, "c/nowhere/t"]).items()}
    finally:
        engine.dispose()
    assert glance.recorded_states(store, [*keys, "c/nowhere/t"]) == by_ledger
    assert set(by_ledger.values()) == {"pending", "missed"}

    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.replace("contextlib.redirect_stdout(io.StringIO())", "contextlib.nullcontext()"),
         "plan", "--format", "json"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    document, report = (json.loads(line) for line in result.stdout.splitlines())
    shown = {f"{p['campaign']}/{p['id']}/{p['channel']}": p["state"] for p in document["publications"]}
    assert shown == {key: by_ledger.get(key, "pending") for key in keys}
    assert "sqlalchemy" not in report["modules"]


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
@pytest.mark.slow
def test_help_and_version_import_no_heavy_library(project: Path, command: tuple[str, ...]) -> None:
    modules = loaded(project, *command)
    assert "click" in modules  # (the check sees what was loaded)
    assert modules & HEAVY == set()


@pytest.mark.slow
def test_a_current_store_is_upgraded_without_alembic(project: Path) -> None:
    """`relais db upgrade` (and `relais run` at start) on a store already current has
    nothing to apply: Alembic, its migrations and its 8 MB stay unloaded; on SQLite, the
    command sees it with sqlite3 alone (``bot.store.glance.ready``), SQLAlchemy unloaded too."""
    assert "alembic" in loaded(project, "db", "upgrade")  # a new store: migrated by Alembic
    modules = loaded(project, "db", "upgrade")
    assert "sqlite3" in modules  # it looked at the store
    assert modules & {"alembic", "sqlalchemy"} == set()


def test_a_glance_leaves_a_store_it_cannot_read_plainly_to_the_ledger(tmp_path: Path) -> None:
    """Not a database, no tables, a store not current: None, so that plan asks the ledger
    and database.is_current, which say what is wrong (or leave every state pending, as before)."""
    from bot.store import database, glance

    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    behind = tmp_path / "behind.db"
    engine = database.create(f"sqlite:///{behind}")
    try:
        database.upgrade(engine)
        assert glance.recorded_states(behind, ["c/a/t"]) == {}  # current: read, nothing recorded
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'older'")
    finally:
        engine.dispose()
    for store in (garbage, empty, behind, tmp_path / "missing.db"):
        assert glance.recorded_states(store, ["c/a/t"]) is None, store
    assert not (tmp_path / "missing.db").exists()  # (never created)


def test_the_heads_are_read_from_plain_migrations_only(tmp_path: Path) -> None:
    """The head revision read without parsing the migrations is Alembic's (test_ledger); a
    migration that does not say its revisions plainly, once each, gives None (Alembic then
    answers)."""
    from bot.store import glance

    def heads(*files: str) -> frozenset[str] | None:
        directory = tmp_path / str(len(list(tmp_path.iterdir())))
        directory.mkdir()
        for n, text in enumerate(files):
            (directory / f"{n:04}_m.py").write_text(text, encoding="utf-8")
        return glance.heads_in(directory)

    first = 'revision: str = "a"\ndown_revision: str | None = None\n'
    second = 'revision = "b"\ndown_revision = "a"\ndef upgrade() -> None:\n    revision = "x"\n'
    assert heads(first, second) == {"b"}
    assert heads(first, 'revision = "b"  # a comment\ndown_revision = "a"\n') == {"b"}
    assert heads(first, 'revision = "c"\ndown_revision = ("a",)\n', second) == {"b", "c"}
    for odd in (
        'revision = "b"\n',  # no down_revision
        'revision = "b"\nrevision = "c"\ndown_revision = "a"\n',  # twice
        'revision = name()\ndown_revision = "a"\n',  # not a literal
        'revision = (\n    "b"\n)\ndown_revision = "a"\n',
        "revision = 2\ndown_revision = 'a'\n",
    ):
        assert heads(first, odd) is None, odd


@pytest.mark.slow
def test_the_telegram_adapter_loads_no_command_line_of_httpx() -> None:
    """httpx imports its own command line (rich, pygments) when they are installed: relais
    run's Telegram adapter keeps it out (4.5 MB resident, 25 ms of start)."""
    script = (
        "import sys, bot.adapters.telegram.sender, bot.adapters.telegram.reader, httpx\n"
        "print(sorted(m for m in ('httpx', 'telegram', 'rich', 'pygments') if m in sys.modules))"
    )
    assert json.loads(printed_by(script).replace("'", '"')) == ["httpx", "telegram"]


def test_the_cycle_collector_is_off_while_a_command_starts_and_back_after() -> None:
    """Start-up's objects are not gone through again and again (``bot.cli.main``): a command
    runs with the cycle collector off, and finds it on again once done, in a test's process
    as in a command's; a command that runs until stopped turns it back on (``serving``)."""
    script = (
        "import gc, click\n"
        "from bot.cli import main\n"
        "from bot.cli.common import serving\n"
        "seen = []\n"
        "@main.command('probe')\n"
        "@click.option('--serve', is_flag=True)\n"
        "def probe(serve):\n"
        "    seen.append(gc.isenabled())\n"
        "    if serve:\n"
        "        serving()\n"
        "        seen.append(gc.isenabled())\n"
        "for args in (['probe'], ['probe', '--serve']):\n"
        "    main(args, standalone_mode=False)\n"
        "    seen.append(gc.isenabled())\n"
        "print(seen)\n"
    )
    assert printed_by(script).split() == ["[False,", "True,", "False,", "True,", "True]"]


def test_the_relais_command_leaves_the_collector_off_and_freezes_what_it_leaves() -> None:
    """``relais`` in a process of its own (``bot.cli.entry``) does not turn the collector
    back on at the end, and freezes what is left, so that the interpreter's exit does not
    go through start-up's objects once more."""
    script = (
        "import gc, sys\n"
        "from bot.cli import entry, main\n"
        "seen = []\n"
        "@main.command('probe')\n"
        "def probe():\n"
        "    seen.append((gc.isenabled(), gc.get_freeze_count() > 0))\n"
        "sys.argv = ['relais', 'probe']\n"
        "try:\n"
        "    entry()\n"
        "except SystemExit as done:\n"
        "    seen.append(done.code)\n"
        "seen.append((gc.isenabled(), gc.get_freeze_count() > 1000))\n"
        "print(seen)\n"
    )
    assert printed_by(script).strip() == "[(False, False), 0, (False, True)]"

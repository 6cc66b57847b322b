"""Shared fixtures: a scratch project with its own schedules/ and messages/."""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.core.campaigns import LoadResult, load_campaigns

ROOT = Path(__file__).resolve().parent.parent

BASE = """\
campaign: essai
timezone: America/Montreal
language: fr-CA
hashtags: [gautrinweb2]
channels:
  tg: {network: telegram, chat: "@GautrinWeb2"}
  masto: {network: mastodon}
"""


@dataclass
class Project:
    root: Path

    def campaign(self, text: str, name: str = "c.yaml") -> Path:
        path = self.root / "schedules" / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def template(self, name: str, text: str) -> Path:
        path = self.root / "messages" / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def load(self) -> LoadResult:
        return load_campaigns([Path("schedules")], Path("messages"))

    def problems(self) -> list[str]:
        return [str(p) for p in self.load().problems]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "messages").mkdir()
    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("RELAIS_")]:
        monkeypatch.delenv(name)
    return Project(tmp_path)


POSTGRES_URL = os.environ.get("RELAIS_TEST_POSTGRES_URL")


def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("RELAIS_TEST_POSTGRES_URL is not set (.ci/run sets it)")
    from tests.harness import scratch_database

    with scratch_database(POSTGRES_URL) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The store's URL, once on SQLite (a file) and once on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'relais.db'}"
    else:
        yield from postgres_database()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite store migrated once for the session, copied by each test that wants one."""
    from bot.store import database

    path = tmp_path_factory.mktemp("migrated") / "relais.db"
    engine = database.create(f"sqlite:///{path}")
    database.upgrade(engine)
    engine.dispose()  # the last connection gone, the WAL is folded into the file
    return path


_SHAPE = """
    SELECT string_agg(item, ',' ORDER BY item) FROM (
        SELECT table_name || '.' || column_name || ':' || data_type AS item
            FROM information_schema.columns WHERE table_schema = 'public'
        UNION ALL SELECT conname FROM pg_constraint
            JOIN pg_namespace n ON n.oid = connamespace WHERE n.nspname = 'public'
        UNION ALL SELECT indexname FROM pg_indexes WHERE schemaname = 'public'
        UNION ALL SELECT tgname FROM pg_trigger WHERE NOT tgisinternal
    ) shape
"""
_RESTART_SEQUENCES = """
    SELECT setval(s.oid::regclass, 1, false) FROM pg_class s
        JOIN pg_namespace n ON n.oid = s.relnamespace WHERE s.relkind = 'S' AND n.nspname = 'public'
"""


class SharedPostgres:
    """A PostgreSQL database migrated once and emptied for each test that wants a store
    (creating and migrating a database took a second a test); made again when a test
    changed its schema (dropped a table, added a constraint)."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.databases = ExitStack()
        self.url: str | None = None
        self.shape: str | None = None

    def fresh(self) -> str:
        from sqlalchemy import text

        from bot.store import database
        from bot.store.schema import metadata
        from tests.harness import scratch_database

        if self.url is not None:
            engine = database.create(self.url)
            with engine.begin() as connection:
                if connection.execute(text(_SHAPE)).scalar_one() == self.shape:
                    # No session of an earlier test left: it would hold its advisory locks.
                    others = (
                        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                    connection.execute(text(f"SELECT pg_terminate_backend(pid) {others}"))
                    deadline = time.monotonic() + 10
                    while connection.execute(text(f"SELECT count(*) {others}")).scalar_one():
                        assert time.monotonic() < deadline, "a session of an earlier test would not end"
                        time.sleep(0.01)  # they end asynchronously, their advisory locks with them
                    # DELETE, not TRUNCATE: ten times faster on tables of a few rows.
                    connection.execute(text("SET LOCAL synchronous_commit = off"))
                    for table in reversed(metadata.sorted_tables):
                        connection.execute(table.delete())
                    connection.execute(text(_RESTART_SEQUENCES))
                    engine.dispose()
                    return self.url
            engine.dispose()
            self.close()
        self.url = self.databases.enter_context(scratch_database(self.server_url))
        engine = database.create(self.url)
        database.upgrade(engine)
        with engine.connect() as connection:
            self.shape = connection.execute(text(_SHAPE)).scalar_one()
        engine.dispose()
        return self.url

    def close(self) -> None:
        self.databases.close()
        self.url = self.shape = None


@pytest.fixture(scope="session")
def shared_postgres() -> Iterator[SharedPostgres]:
    if not POSTGRES_URL:
        pytest.skip("RELAIS_TEST_POSTGRES_URL is not set (.ci/run sets it)")
    shared = SharedPostgres(POSTGRES_URL)
    yield shared
    shared.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty store at the current schema, once on SQLite (a file) and once on the
    PostgreSQL server."""
    import shutil

    from bot.store import database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'relais.db'}"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), tmp_path / "relais.db")
    else:
        url = request.getfixturevalue("shared_postgres").fresh()
    engine = database.create(url)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from postgres_database()


@pytest.fixture(autouse=True)
def _no_bot_left_running() -> Iterator[None]:
    """A test that started ``relais run`` and failed does not leave the process behind."""
    yield
    from tests.harness import kill_leftovers

    kill_leftovers()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that runs ``relais run`` as a process (the ``deployment`` fixture) is slow:
    ``python3 dev.py test -m "not slow"`` leaves those to CI."""
    for item in items:
        if "deployment" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)

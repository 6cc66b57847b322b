"""Shared fixtures: a scratch project with its own schedules/ and messages/."""

from __future__ import annotations

import os
import textwrap
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


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated once for the session, the template of each test's
    (a fresh database each, as before, without migrating each: a third of a second a test;
    a database shared by the tests and emptied between them let sessions of one test, ending
    on the server after the client closed them, hold advisory locks into the next)."""
    from sqlalchemy.engine import make_url

    from bot.store import database

    for url in postgres_database():
        engine = database.create(url)
        database.upgrade(engine)
        engine.dispose()  # no session left on it: a template must have none
        yield str(make_url(url).database)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty store at the current schema, once on SQLite (a file) and once on the
    PostgreSQL server."""
    import shutil

    from bot.store import database
    from tests.harness import scratch_database

    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'relais.db'}"
            shutil.copyfile(request.getfixturevalue("migrated_sqlite"), tmp_path / "relais.db")
        else:
            template = request.getfixturevalue("postgres_template")
            url = stack.enter_context(scratch_database(str(POSTGRES_URL), template))
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
    """What ``python3 dev.py test -m "not slow"`` leaves to the full run (and CI): a test
    that runs ``relais run`` as a process (the ``deployment`` fixture), and the PostgreSQL
    half of every store test (the fast lane runs the store on SQLite). The other slow tests
    are marked where they are written."""
    for item in items:
        if "deployment" in getattr(item, "fixturenames", ()) or item.get_closest_marker("postgres"):
            item.add_marker(pytest.mark.slow)

"""Moderator accounts: the store, the rules (``bot.services.accounts``) and ``relais moderators``."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot.clock import SimulatedClock
from bot.services.accounts import AccountError, Accounts
from bot.store import database
from bot.store.moderators import ModeratorStore
from bot.store.schema import moderators

NOW = datetime(2012, 5, 2, 18, 0, tzinfo=UTC)


@pytest.fixture
def accounts(engine: Engine) -> Accounts:
    return Accounts(ModeratorStore(engine), SimulatedClock(NOW))


@pytest.mark.slow
def test_a_password_is_kept_as_an_argon2_hash_and_checked(accounts: Accounts, engine: Engine) -> None:
    ana = accounts.add("ana", "correct horse battery", admin=True)
    with engine.connect() as connection:
        kept = connection.execute(select(moderators.c.password_hash)).scalar_one()
    assert kept.startswith("$argon2id$")
    assert "correct horse" not in kept
    assert accounts.login("ana", "correct horse battery") == ana
    assert accounts.login("ana", "correct horse batterY") is None
    assert accounts.login("nobody", "correct horse battery") is None
    assert accounts.store.get(ana.id).last_login_at == NOW


@pytest.mark.slow
def test_names_and_passwords_are_checked(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="at least 10"):
        accounts.add("ana", "short")
    with pytest.raises(AccountError, match="1 to 64"):
        accounts.add("ana roy", "long enough password")
    accounts.add("ana", "long enough password")
    with pytest.raises(AccountError, match="already exists"):
        accounts.add("ana", "another long password")


@pytest.mark.slow
def test_a_new_password_ends_the_sessions_of_the_old_one(accounts: Accounts) -> None:
    ana = accounts.add("ana", "correct horse battery")
    key = accounts.session_key(ana.id)
    assert key is not None
    assert accounts.current(ana.id, ana.session_epoch, key) == ana
    accounts.change_password("ana", "a brand new password")
    assert accounts.current(ana.id, ana.session_epoch, key) is None
    assert accounts.login("ana", "correct horse battery") is None
    assert accounts.login("ana", "a brand new password") is not None


@pytest.mark.slow
def test_the_last_admin_stays(accounts: Accounts) -> None:
    accounts.add("ana", "correct horse battery", admin=True)
    accounts.add("bob", "correct horse battery")
    with pytest.raises(AccountError, match="last admin"):
        accounts.remove("ana")
    with pytest.raises(AccountError, match="last admin"):
        accounts.set_admin("ana", False)
    accounts.set_admin("bob", True)
    accounts.remove("ana")
    assert [m.name for m in accounts.all()] == ["bob"]
    with pytest.raises(AccountError, match="no moderator named ana"):
        accounts.remove("ana")


def test_the_signing_key_is_made_once(engine: Engine) -> None:
    store = ModeratorStore(engine)
    first = store.key("session")
    assert len(first) >= 60
    assert store.key("session") == first
    assert store.key("other") != first


def relais(root: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env["RELAIS_DATABASE_URL"] = f"sqlite:///{root / 'relais.db'}"
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=root,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_the_moderators_command(tmp_path: Path) -> None:
    engine = database.create(f"sqlite:///{tmp_path / 'relais.db'}")
    database.upgrade(engine)
    engine.dispose()
    added = relais(tmp_path, "moderators", "add", "ana", "--admin", stdin="correct horse battery\n")
    assert added.returncode == 0, added.stderr
    assert "ana added (admin)" in added.stdout
    assert relais(tmp_path, "moderators", "add", "bob", stdin="correct horse battery\n").returncode == 0
    short = relais(tmp_path, "moderators", "add", "eve", stdin="short\n")
    assert (short.returncode, short.stderr) == (1, "relais: a password has at least 10 characters\n")
    listed = relais(tmp_path, "moderators", "list")
    assert listed.stdout.splitlines() == [
        "ana\tadmin\tlast login: never",
        "bob\tmoderator\tlast login: never",
    ]
    changed = relais(tmp_path, "moderators", "password", "bob", stdin="a brand new password\n")
    assert changed.returncode == 0, changed.stderr
    last = relais(tmp_path, "moderators", "remove", "ana")
    assert (last.returncode, "last admin" in last.stderr) == (1, True)
    assert relais(tmp_path, "moderators", "remove", "bob").stdout == "bob removed\n"
    check = Accounts(ModeratorStore(database.create(f"sqlite:///{tmp_path / 'relais.db'}")), SimulatedClock(NOW))
    assert [m.name for m in check.all()] == ["ana"]
    assert check.login("ana", "correct horse battery") is not None

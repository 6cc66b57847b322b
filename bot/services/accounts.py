"""Moderator accounts: who may log in to the web desk, and who may manage the others.

Passwords are hashed with argon2 (argon2-cffi's defaults, RFC 9106's second
recommendation); a hash made with older parameters is remade at the next login. Checking a
name that does not exist costs as much as checking a wrong password, so that the time of an
answer does not tell which names exist. An admin manages moderators and exports authors'
names; the last admin can be neither removed nor made a plain moderator.
"""

from __future__ import annotations

import re
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.clock import Clock
from bot.store.moderators import Moderator, ModeratorStore, NameTaken

__all__ = ["AccountError", "Accounts", "Moderator"]

NAME = re.compile(r"[\w.@-]{1,64}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024


class AccountError(Exception):
    """A request about accounts that cannot be done; the message says why, in one line, and
    ``kind`` which rule refused it (for a face that says it in another language)."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


class Accounts:
    def __init__(self, store: ModeratorStore, clock: Clock, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.clock = clock
        self.hasher = hasher or PasswordHasher()  # tests pass a cheaper one

    @cached_property
    def _dummy(self) -> str:
        return self.hasher.hash("not a password of anyone's")

    def add(self, name: str, password: str, *, admin: bool = False) -> Moderator:
        name = checked_name(name)
        hashed = self.hasher.hash(checked_password(password))
        try:
            return self.store.add(name, hashed, admin=admin, now=self.clock.now())
        except NameTaken:
            raise AccountError(f"a moderator named {name} already exists", "taken") from None

    def all(self) -> list[Moderator]:
        return self.store.all()

    def remove(self, name: str) -> None:
        found = self._named(name)
        if found.admin and self.store.admins() <= 1:
            raise AccountError(f"{name} is the last admin: make another moderator admin first", "last_admin")
        self.store.remove(name)

    def change_password(self, name: str, password: str) -> None:
        self._named(name)
        self.store.set_password(name, self.hasher.hash(checked_password(password)))

    def set_admin(self, name: str, admin: bool) -> None:
        found = self._named(name)
        if found.admin and not admin and self.store.admins() <= 1:
            raise AccountError(f"{name} is the last admin: make another moderator admin first", "last_admin")
        if found.admin != admin:
            self.store.set_admin(name, admin)

    def login(self, name: str, password: str) -> Moderator | None:
        """The moderator whose name and password these are, or None (either is wrong)."""
        found = self.store.credentials(name) if NAME.fullmatch(name) else None
        hashed = found[1] if found else self._dummy
        try:
            self.hasher.verify(hashed, password[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            return None
        if found is None:
            return None
        moderator = found[0]
        if self.hasher.check_needs_rehash(hashed):
            self.store.rehash(moderator.id, self.hasher.hash(password))
        self.store.logged_in(moderator.id, self.clock.now())
        return moderator

    def current(self, moderator_id: int, epoch: int, key: str) -> Moderator | None:
        """The moderator a session names, if the session still stands (the account exists,
        is the one the session was made for — its random key, since ids can be reused — and
        its password has not changed nor its moderator logged out since)."""
        return self.store.session(moderator_id, epoch, key)

    def session_key(self, moderator_id: int) -> str | None:
        return self.store.session_key(moderator_id)

    def logout(self, moderator_id: int) -> None:
        """End every session of this moderator, server-side (a copied cookie ends too)."""
        self.store.end_sessions(moderator_id)

    def _named(self, name: str) -> Moderator:
        for moderator in self.store.all():
            if moderator.name == name:
                return moderator
        raise AccountError(f"no moderator named {name}", "unknown")


def checked_name(name: str) -> str:
    name = name.strip()
    if not NAME.fullmatch(name):
        raise AccountError(
            "a moderator's name is 1 to 64 letters, digits, '.', '_', '-' or '@' (no spaces), like ana.roy",
            "name",
        )
    return name


def checked_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters", "short")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"a password has at most {MAX_PASSWORD} characters", "long")
    return password

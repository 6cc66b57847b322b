"""The web desk's moderator accounts (table ``moderators``) and its signing key
(``web_keys``). Persistence only: hashing, checking a password and who may do what are the
accounts service's (``bot.services.accounts``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.schema import moderators, web_keys


@dataclass(frozen=True)
class Moderator:
    id: int
    name: str
    admin: bool
    session_epoch: int  # a session signed for another epoch is over
    created_at: datetime
    last_login_at: datetime | None


class NameTaken(Exception):
    """A moderator of this name already exists."""


_COLUMNS = [moderators.c[name] for name in Moderator.__dataclass_fields__]


class ModeratorStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, name: str, password_hash: str, *, admin: bool, now: datetime) -> Moderator:
        values = {"name": name, "password_hash": password_hash, "admin": admin, "session_epoch": 1}
        values["session_key"] = secrets.token_urlsafe(24)  # ids can be reused: this cannot
        try:
            with self.engine.begin() as connection:
                new_id = connection.execute(
                    insert(moderators).values(created_at=now, **values).returning(moderators.c.id)
                ).scalar_one()
        except IntegrityError:
            raise NameTaken(name) from None
        return Moderator(new_id, name, admin, 1, now, None)

    def all(self) -> list[Moderator]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(*_COLUMNS).order_by(moderators.c.name)).all()
        return [Moderator(*row) for row in rows]

    def get(self, moderator_id: int) -> Moderator | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(*_COLUMNS).where(moderators.c.id == moderator_id)).first()
        return None if row is None else Moderator(*row)

    def session(self, moderator_id: int, epoch: int, key: str) -> Moderator | None:
        """The moderator a session names, if its epoch and key are still the account's."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(*_COLUMNS).where(
                    moderators.c.id == moderator_id,
                    moderators.c.session_epoch == epoch,
                    moderators.c.session_key == key,
                )
            ).first()
        return None if row is None else Moderator(*row)

    def session_key(self, moderator_id: int) -> str | None:
        """The random key this account's sessions carry (a session names it, not only its id)."""
        with self.engine.connect() as connection:
            found = connection.execute(
                select(moderators.c.session_key).where(moderators.c.id == moderator_id)
            ).scalar()
        return None if found is None else str(found)

    def end_sessions(self, moderator_id: int) -> None:
        """Every session of this account ends (its epoch moves on): logging out."""
        with self.engine.begin() as connection:
            connection.execute(
                update(moderators)
                .where(moderators.c.id == moderator_id)
                .values(session_epoch=moderators.c.session_epoch + 1)
            )

    def credentials(self, name: str) -> tuple[Moderator, str] | None:
        """The moderator of this name and their password's hash."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(*_COLUMNS, moderators.c.password_hash).where(moderators.c.name == name)
            ).first()
        return None if row is None else (Moderator(*row[:-1]), row[-1])

    def admins(self) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(select(func.count()).where(moderators.c.admin.is_(True))).scalar_one()
            )

    def remove(self, name: str) -> bool:
        with self.engine.begin() as connection:
            return bool(connection.execute(delete(moderators).where(moderators.c.name == name)).rowcount)

    def set_password(self, name: str, password_hash: str) -> bool:
        """A new hash; every session signed for the old password ends (its epoch moves on)."""
        return self._update(name, password_hash=password_hash, session_epoch=moderators.c.session_epoch + 1)

    def rehash(self, moderator_id: int, password_hash: str) -> None:
        """The same password hashed with newer parameters: sessions go on."""
        with self.engine.begin() as connection:
            connection.execute(
                update(moderators).where(moderators.c.id == moderator_id).values(password_hash=password_hash)
            )

    def set_admin(self, name: str, admin: bool) -> bool:
        return self._update(name, admin=admin, session_epoch=moderators.c.session_epoch + 1)

    def logged_in(self, moderator_id: int, now: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(moderators).where(moderators.c.id == moderator_id).values(last_login_at=now)
            )

    def _update(self, name: str, **values: object) -> bool:
        with self.engine.begin() as connection:
            return bool(
                connection.execute(
                    update(moderators).where(moderators.c.name == name).values(values)
                ).rowcount
            )

    def key(self, name: str) -> str:
        """The secret named ``name``, made (and kept) the first time it is asked for."""
        with self.engine.begin() as connection:
            found = connection.execute(select(web_keys.c.value).where(web_keys.c.name == name)).scalar()
            if found is not None:
                return str(found)
            made = secrets.token_urlsafe(48)
            try:
                with connection.begin_nested():
                    connection.execute(insert(web_keys).values(name=name, value=made))
            except IntegrityError:  # another process made it meanwhile
                return str(
                    connection.execute(select(web_keys.c.value).where(web_keys.c.name == name)).scalar()
                )
            return made

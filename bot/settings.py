"""Settings, read once from the environment and ``.env`` (see ``.env.example``).

Where the store is: a relative SQLite path in ``RELAIS_DATABASE_URL`` (the default
``sqlite:///relais.db`` included) is relative to the *state directory*, never to the
working directory: ``RELAIS_STATE_DIR`` if set, else ``$STATE_DIRECTORY`` (systemd's
``StateDirectory=``), else ``$XDG_STATE_HOME/relais`` (``~/.local/state/relais``). So a
service without ``WorkingDirectory=``, a cron job and ``relais status`` typed in any folder
open the same store; ``Settings.database_url`` is always absolute.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.store import anchored, sqlite_file


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RELAIS_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # RELAIS_TELEGRAM_TOKEN= in .env means "not set"
        extra="ignore",  # a shared .env may hold other programs' variables
    )

    state_dir: Path | None = None  # where a relative SQLite path is; see the module's docstring
    database_url: SecretStr = SecretStr("sqlite:///relais.db")
    schedules_dir: Path = Path("schedules")
    messages_dir: Path = Path("messages")
    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    mastodon_url: str | None = None
    mastodon_token: SecretStr | None = None
    alert_telegram_chat: str | None = None
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)] = "INFO"
    poll_seconds: float = Field(default=30.0, gt=0)  # between two readings of Mastodon's replies

    # The relative SQLite path as configured, to find a store an earlier version left in
    # the working directory (see ``store_left_behind``).
    _relative_store: Path | None = PrivateAttr(default=None)

    @field_validator("state_dir", mode="before")
    @classmethod
    def _state_dir(cls, value: Any) -> Path | None:
        if value is None:
            return None
        path = Path(str(value)).expanduser()
        if not path.is_absolute():
            raise ValueError(
                "give an absolute path, like /var/lib/relais (a relative one would depend on where "
                "the command runs)"
            )
        return path

    @model_validator(mode="after")
    def _anchor_store(self) -> Settings:
        url = self.database_url.get_secret_value()
        path = sqlite_file(url)
        if path is not None and not path.is_absolute():
            base = self.state_dir or default_state_dir(os.environ)
            self._relative_store = path
            self.database_url = SecretStr(anchored(url, base))
        return self

    def secrets(self) -> list[str]:
        """Every secret value, for redaction from logs and messages."""
        values = [self.telegram_token, self.mastodon_token]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]

    def store_left_behind(self) -> Path | None:
        """A store an earlier Relais left in the working directory, when the configured
        relative path names one there and none exists in the state directory yet: starting
        a new store beside it would send again what is within grace."""
        store = sqlite_file(self.database_url.get_secret_value())
        if self._relative_store is None or store is None or store.exists():
            return None
        old = Path.cwd() / self._relative_store
        return old if old.is_file() else None


def default_state_dir(environ: Mapping[str, str]) -> Path:
    """The state directory when ``RELAIS_STATE_DIR`` is not set: systemd's, else XDG's."""
    systemd = environ.get("STATE_DIRECTORY", "").split(":")[0]  # StateDirectory=a b gives "a:b"
    if systemd and Path(systemd).is_absolute():
        return Path(systemd)
    xdg = environ.get("XDG_STATE_HOME", "")
    if xdg and Path(xdg).is_absolute():  # the XDG spec: a relative value is ignored
        return Path(xdg) / "relais"
    try:
        return Path.home() / ".local" / "state" / "relais"
    except RuntimeError:  # no HOME and no password entry
        raise ValueError(
            "RELAIS_STATE_DIR: there is no home directory to keep the store in: set RELAIS_STATE_DIR "
            "(or an absolute RELAIS_DATABASE_URL)"
        ) from None

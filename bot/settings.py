"""Settings, read once from the environment and ``.env`` (see ``.env.example``).

Every value is checked when the settings are read, that is at the start of every command:
a value that cannot work is refused with a message naming the fix (the CLI prints one line
per variable and exits 2), and the message never repeats the value, which may be a secret.

Where the store is: a relative SQLite path in ``RELAIS_DATABASE_URL`` (the default
``sqlite:///relais.db`` included) is relative to the *state directory*, never to the
working directory: ``RELAIS_STATE_DIR`` if set, else ``$STATE_DIRECTORY`` (systemd's
``StateDirectory=``), else ``$XDG_STATE_HOME/relais`` (``~/.local/state/relais``). So a
service without ``WorkingDirectory=``, a cron job and ``relais status`` typed in any folder
open the same store; ``Settings.database_url`` is always absolute.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.store import anchored, sqlite_file

ENV_FILE = ".env"
PREFIX = "RELAIS_"
POLL_RANGE = (0.1, 3600.0)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Read by the test suite and the benchmarks, not by Relais: no warning for them.
_TOOLING = re.compile(r"RELAIS_TEST_\w*|RELAIS_UPDATE_GOLDEN|RELAIS_CRASH_ROUNDS")

_TELEGRAM_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_MASTODON_TOKEN = re.compile(r"[A-Za-z0-9_.~+/=-]+")
_CHAT = re.compile(r"@[A-Za-z][A-Za-z0-9_]{4,31}|-?[0-9]+")
_HOST = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")  # "_": container names
_SQLITE = re.compile(r"sqlite(?:\+pysqlite)?://(?:/.*)?", re.DOTALL)
_POSTGRES = re.compile(r"postgresql(?:\+psycopg)?://\S*")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # RELAIS_TELEGRAM_TOKEN= in .env means "not set"
        extra="ignore",  # a shared .env may hold other programs' variables
        hide_input_in_errors=True,  # a value may be a secret
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
    log_level: str = "INFO"
    poll_seconds: float = 30.0  # between two readings of Mastodon's replies
    mastodon_streaming: bool = True  # read Mastodon's streams; polling alone when false

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

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> str:
        url = _plain(value)
        if _POSTGRES.fullmatch(url):
            return re.sub(r"^postgresql://", "postgresql+psycopg://", url)  # the driver Relais ships
        if _SQLITE.fullmatch(url):
            return url
        raise ValueError(
            "give an SQLite or PostgreSQL URL, like sqlite:///relais.db or "
            "postgresql+psycopg://user:password@host/relais"
        )

    @field_validator("telegram_token", mode="before")
    @classmethod
    def _telegram_token(cls, value: Any) -> Any:
        if value is None:
            return None
        if not _TELEGRAM_TOKEN.fullmatch(_plain(value)):
            raise ValueError(
                "this is not a bot token (digits, a colon, then letters, digits, _ or -): "
                "copy it again from @BotFather"
            )
        return value

    @field_validator("mastodon_token", mode="before")
    @classmethod
    def _mastodon_token(cls, value: Any) -> Any:
        if value is None:
            return None
        if not _MASTODON_TOKEN.fullmatch(_plain(value)):
            raise ValueError(
                "this is not an access token (letters, digits and - _ . ~ + / = only): copy it again "
                "from Preferences > Development on the instance"
            )
        return value

    @field_validator("telegram_api_url", mode="before")
    @classmethod
    def _telegram_api_url(cls, value: Any) -> str:
        return _server_url(
            str(value),
            "give the Bot API server's address alone, like https://api.telegram.org (http or https, "
            "a host, an optional port; the token goes in RELAIS_TELEGRAM_TOKEN)",
        )

    @field_validator("mastodon_url", mode="before")
    @classmethod
    def _mastodon_url(cls, value: Any) -> str | None:
        if value is None:
            return None
        return _server_url(
            str(value),
            "give the instance's address alone, like https://mastodon.example (http or https, a host, "
            "an optional port)",
        )

    @field_validator("alert_telegram_chat", mode="before")
    @classmethod
    def _alert_chat(cls, value: Any) -> str | None:
        if value is None:
            return None
        if not _CHAT.fullmatch(str(value)):
            raise ValueError(
                "give a chat's @username (5 to 32 letters, digits or _) or its numeric id, "
                "like -1001234567890"
            )
        return str(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> str:
        level = str(value).upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"give {', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}")
        return level

    @field_validator("poll_seconds", mode="before")
    @classmethod
    def _poll_seconds(cls, value: Any) -> float:
        low, high = POLL_RANGE
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = math.nan
        if not (math.isfinite(seconds) and low <= seconds <= high):
            raise ValueError(f"give a number of seconds from {low:g} to {high:g}, like 30")
        return seconds

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


def _plain(value: Any) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def _server_url(value: str, fix: str) -> str:
    """An http(s) server's address, without a trailing slash; refused with ``fix`` when it
    is anything more (a path, a query, credentials) or less (no host)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise ValueError(fix) from None
    host = parts.hostname or ""
    if (
        parts.scheme not in ("http", "https")
        or not _valid_host(host)
        or "@" in parts.netloc
        or parts.path not in ("", "/")
        or "?" in value
        or "#" in value
    ):
        raise ValueError(fix)
    return f"{parts.scheme}://{parts.netloc}"


def _valid_host(host: str) -> bool:
    """A host name (internationalised ones too) or an IP address."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        return bool(_HOST.fullmatch(host.encode("idna").decode("ascii")))
    except UnicodeError:
        return False


def unknown_variables(environ: Mapping[str, str], env_file: Path = Path(ENV_FILE)) -> list[str]:
    """A warning for each ``RELAIS_*`` variable that is not a setting (a typo would
    otherwise be ignored), with the setting it probably meant. Names only, never values."""
    known = [PREFIX + name.upper() for name in Settings.model_fields]
    found = [("", name) for name in sorted(environ)]
    if env_file.is_file():
        text = env_file.read_text(encoding="utf-8", errors="replace")
        keys = re.findall(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", text, flags=re.MULTILINE)
        found += [(f"{env_file}: ", name) for name in keys]
    warnings = []
    for where, name in found:
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in known or _TOOLING.fullmatch(upper):
            continue
        close = difflib.get_close_matches(
            upper.removeprefix(PREFIX), [k.removeprefix(PREFIX) for k in known], n=1, cutoff=0.75
        )
        hint = f"; did you mean {PREFIX}{close[0]}?" if close else " (see .env.example for the list)"
        warnings.append(f"{where}{name} is not a Relais setting{hint}")
    return warnings

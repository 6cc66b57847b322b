"""Settings, read once from the environment and ``.env`` (see ``.env.example``).

Which file: ``RELAIS_ENV_FILE`` (read from the environment only) names it, an absolute path;
set but empty, no file is read; unset, ``.env`` in the working directory, as in a clone
where one works on campaigns. A deployed service names its file (deploy/relais.service:
/etc/relais/relais.env) so that a ``.env`` pushed to the campaign repository it reads
can never change its settings (its token's server, its alert chat, its store).

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
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot import networks
from bot.networks.setting_values import plain
from bot.store import anchored, sqlite_file

ENV_FILE = ".env"
PREFIX = "RELAIS_"
ENV_FILE_VARIABLE = "RELAIS_ENV_FILE"
POLL_RANGE = (0.1, 3600.0)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Read by the test suite and the benchmarks, not by Relais: no warning for them.
_TOOLING = re.compile(r"RELAIS_TEST_\w*|RELAIS_UPDATE_GOLDEN|RELAIS_CRASH_ROUNDS")

_SQLITE = re.compile(r"sqlite(?:\+pysqlite)?://(?:/.*)?", re.DOTALL)
_POSTGRES = re.compile(r"postgresql(?:\+psycopg)?://\S*")


class _Files(BaseModel):
    """Where the store and the campaigns are: the first settings (their order is the order
    of the CLI's messages about them), before the networks'."""

    state_dir: Path | None = None  # where a relative SQLite path is; see the module's docstring
    database_url: SecretStr = SecretStr("sqlite:///relais.db")
    schedules_dir: Path = Path("schedules")
    messages_dir: Path = Path("messages")

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
        url = plain(value)
        if _POSTGRES.fullmatch(url):
            return re.sub(r"^postgresql://", "postgresql+psycopg://", url)  # the driver Relais ships
        if _SQLITE.fullmatch(url):
            return url
        raise ValueError(
            "give an SQLite or PostgreSQL URL, like sqlite:///relais.db or "
            "postgresql+psycopg://user:password@host/relais"
        )


# Each registered network's settings (its credentials: ``Profile.settings``), in one model.
if TYPE_CHECKING:

    class _Networks(BaseModel):
        """What each adapter reads of them, it declares (its ``Settings`` protocol)."""

else:
    _Networks = networks.settings_model()


class Settings(_Networks, _Files, BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # RELAIS_<NETWORK>_TOKEN= in .env means "not set"
        extra="ignore",  # a shared .env may hold other programs' variables
        hide_input_in_errors=True,  # a value may be a secret
    )

    log_level: str = "INFO"
    log_format: str = "text"  # or json: one object a line, for journald and log shippers
    poll_seconds: float = 30.0  # between two readings of a network's replies, where it is polled
    moderator: str | None = None  # who decides, for `relais comments` (never the login name)
    web_behind_proxy: bool = False  # relais web: trust the proxy's X-Forwarded-Proto (HTTPS)
    web_proxy_addresses: str = "127.0.0.1"  # the proxy's addresses (comma-separated): only its headers count

    # The relative SQLite path as configured, to find a store an earlier version left in
    # the working directory (see ``store_left_behind``).
    _relative_store: Path | None = PrivateAttr(default=None)

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> str:
        level = str(value).upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"give {', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}")
        return level

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: Any) -> str:
        given = str(value).lower()
        if given not in ("text", "json"):
            raise ValueError("give text (one line a record) or json (one JSON object a line)")
        return given

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
        """Every secret value of the networks' settings, for redaction from logs and messages."""
        values = [getattr(self, name) for name in networks.settings_model().model_fields]
        return [v.get_secret_value() for v in values if isinstance(v, SecretStr) and v.get_secret_value()]

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


def env_file(environ: Mapping[str, str]) -> Path | None:
    """The settings file to read (see the module's docstring); ValueError names the fix."""
    if ENV_FILE_VARIABLE not in environ:
        return Path(ENV_FILE)
    given = environ[ENV_FILE_VARIABLE]
    if not given:
        return None
    path = Path(given).expanduser()
    if not path.is_absolute():
        raise ValueError(
            f"{ENV_FILE_VARIABLE}: give an absolute path, like /etc/relais/relais.env (or set it empty "
            "to read the environment alone)"
        )
    if not (path.is_file() and os.access(path, os.R_OK)):
        raise ValueError(
            f"{ENV_FILE_VARIABLE}: {path} is not a file that can be read: create it, or fix the path"
        )
    return path


def unknown_variables(environ: Mapping[str, str], env_file: Path | None = Path(ENV_FILE)) -> list[str]:
    """A warning for each ``RELAIS_*`` variable that is not a setting (a typo would
    otherwise be ignored), with the setting it probably meant. Names only, never values."""
    known = [PREFIX + name.upper() for name in Settings.model_fields] + [ENV_FILE_VARIABLE]
    found = [("", name) for name in sorted(environ)]
    if env_file is not None and env_file.is_file():
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

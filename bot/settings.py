"""Settings, read once from the environment and ``.env`` (see ``.env.example``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    def secrets(self) -> list[str]:
        """Every secret value, for redaction from logs and messages."""
        values = [self.telegram_token, self.mastodon_token]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]

"""Shared fixtures: a scratch project with its own schedules/ and messages/."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

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

"""An adapter package's factories stay callable once its submodules are imported: a package
attribute named like a submodule (``reader``, ``sender``) is replaced by that submodule when
it is first imported, so composition reaches them through the package's ``ADAPTER``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from bot import app


@pytest.mark.parametrize("network", ["mastodon", "telegram"])
def test_the_factories_can_be_called_again_after_their_modules_are_imported(network: str) -> None:
    import importlib

    for name in ("reader", "sender"):
        importlib.import_module(f"bot.adapters.{network}.{name}")  # as a test or a first call does
    settings = SimpleNamespace(
        mastodon_url="http://127.0.0.1:9",
        mastodon_token=SecretStr("t"),
        mastodon_streaming=False,
        telegram_token=SecretStr("123:abc"),
        telegram_api_url="http://127.0.0.1:9",
    )
    adapter = app.adapter(network)
    first, second = adapter.reader(settings), adapter.reader(settings)
    assert type(first) is type(second)
    assert type(adapter.sender(settings)).__name__.endswith("Sender")

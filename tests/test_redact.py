"""Secrets out of text (``bot.redact``): one function and one placeholder, for the logs, the
adapters and the store's messages alike."""

from __future__ import annotations

import pytest

from bot.redact import REDACTED, Redactor, redact
from bot.store import database


def test_secrets_are_replaced_as_written_and_as_a_url_writes_them() -> None:
    assert redact("p@ss and p%40ss, not pass", "p@ss", None, "") == f"{REDACTED} and {REDACTED}, not pass"


def test_the_longest_secret_goes_first_and_shapes_run_after() -> None:
    hide = Redactor.of(["abc", "abcdef"], [lambda text: text.replace("XYZ", "<shape>")])
    assert hide("abcdef abc XYZ Bearer t0k3n") == f"{REDACTED} {REDACTED} <shape> Bearer {REDACTED}"


def test_a_store_that_cannot_be_reached_is_named_without_its_password() -> None:
    engine = database.create("postgresql+psycopg://relais:s3cret-pw@127.0.0.1:1/relais")
    with pytest.raises(database.StoreError) as refusal:
        database.is_current(engine)
    engine.dispose()
    assert str(refusal.value).startswith(f"cannot use postgresql+psycopg://relais:{REDACTED}@127.0.0.1:1/relais: ")
    assert "s3cret-pw" not in str(refusal.value)
    assert database.safe_url("postgresql://u:s3cret-pw@h/d") == f"postgresql://u:{REDACTED}@h/d"

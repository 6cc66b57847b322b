"""The language of a reply, told offline (py3langid's model, inside its wheel), kept when the
network gives one; stored with the reply by the real collector."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from bot.adapters.mastodon.reader import MastodonReader
from bot.domain import Reply
from bot.services.language import detect, with_languages
from tests.data import Network
from tests.fakes.mastodon_api import FakeMastodon
from tests.harness import MASTODON_TOKEN
from tests.inprocess import TAG, collector


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Bravo pour le rapport, enfin des données ouvertes sur la gouvernance !", "fr"),
        ("Great report, thank you for publishing the open data so quickly.", "en"),
        ("¿Dónde está el informe completo sobre el gobierno abierto?", "es"),
        ("Merci #gautrinweb2 @relais https://example.org/un/lien/assez/long", None),  # too little to tell
        ("😀🇨🇦 Bravo", None),
    ],
)
def test_a_language_is_told_from_enough_text(text: str, language: str | None) -> None:
    assert detect(text) == language


def test_the_networks_own_language_is_kept() -> None:
    def reply(text: str, language: str | None) -> Reply:
        return Reply(Network.TELEGRAM, "1:1", text, datetime.now(UTC), "1", "", "A", language=language)

    told = with_languages(
        [
            reply("Bravo pour le rapport, enfin des données ouvertes !", None),
            reply("Bravo pour le rapport, enfin des données ouvertes !", "en"),
        ]
    )
    assert [r.language for r in told] == ["fr", "en"]


async def test_a_reply_without_a_language_is_stored_with_the_one_its_text_tells(engine: Engine) -> None:
    with FakeMastodon(token=MASTODON_TOKEN) as md:
        told = md.add_remote_status(
            "alice@example.org",
            f"<p>Le rapport est excellent, merci à toute l’équipe #{TAG}</p>",
            language=None,
        )
        given = md.add_remote_status(
            "bob@example.org", f"<p>Le rapport est excellent #{TAG}</p>", language="en"
        )
        reader = MastodonReader(md.url, MASTODON_TOKEN, timeout=5.0, streaming=False)
        await reader.start()
        try:
            await collector(engine).timeline_round(reader, 1)
        finally:
            await reader.close()
    from bot.store.comments import CommentStore

    stored = {c.remote_id: c.language for c in CommentStore(engine).find(limit=None)}
    assert stored == {told["id"]: "fr", given["id"]: "en"}

"""Threads resolve whatever the order and grouping of arrival: a follower's answer (no
hashtag) to another follower's comment on a campaign post is kept, tied to the post, when
parent and child come in one page (in any order) and across pages. Real readers over HTTP
against the loopback fakes, the real collector, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import Engine

from bot.adapters.mastodon.reader import MastodonReader
from bot.adapters.mastodon.sender import MastodonSender
from bot.adapters.telegram.reader import TelegramReader
from bot.services.collector import Collector
from bot.store.comments import CommentStore
from tests.data import Network
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import JSON, FakeTelegram
from tests.inprocess import TAG, collector, publication, published

TOKEN = "1234567:TEST-relais-fake-token-0123456789abcdef"
MASTODON_TOKEN = "threads-test-token"
CHANNEL = -1001234567890
GROUP = -1009876543210
ANA = FakeTelegram.user(501, "Ana", username="ana_qc")
LEO = FakeTelegram.user(502, "Léo")
EVE = FakeTelegram.user(503, "Ève")
POSITION = "telegram:updates"


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, rate_limited=False) as fake:
        fake.add_chat(CHANNEL, "channel", username="GautrinWeb2", title="Gautrin Web 2", linked_chat_id=GROUP)
        fake.add_chat(GROUP, "supergroup", username="GautrinDiscussion", title="Discussion")
        yield fake


@pytest.fixture
async def reader(tg: FakeTelegram) -> AsyncIterator[TelegramReader]:
    telegram = TelegramReader(TOKEN, tg.url, timeout=5.0)
    await telegram.start()
    yield telegram
    await telegram.close()


def answers(engine: Engine) -> dict[str, str | None]:
    """The text of each stored reply, and the publication it answers."""
    return {c.text: c.publication_key for c in CommentStore(engine).find(limit=None)}


async def read_page(reader: TelegramReader, collector: Collector) -> None:
    """One getUpdates page, stored with its offset."""
    offset = await collector.store.run(collector.comments.position, POSITION)
    page = await reader.updates(offset, 0)
    await collector.save(Network.TELEGRAM, POSITION, page)


def campaign_post(tg: FakeTelegram, engine: Engine) -> tuple[str, JSON]:
    """A campaign post in the channel, recorded as published, and its copy in the discussion
    group (not yet read by the bot)."""
    post = tg.channel_post(CHANNEL, f"Le rapport est en ligne #{TAG}", push=False)["channel_post"]
    key = published(engine, Network.TELEGRAM, f"{CHANNEL}:{post['message_id']}")
    return key, tg.automatic_forward(post, push=False)


# -- Telegram ----------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["parent first", "child first"])
async def test_telegram_parent_and_child_in_one_page(
    engine: Engine, tg: FakeTelegram, reader: TelegramReader, order: str
) -> None:
    key, forward = campaign_post(tg, engine)
    parent = tg.group_message(GROUP, ANA, "Enfin, merci", reply_to=forward["message"], push=False)
    child = tg.group_message(GROUP, LEO, "D'accord avec Ana", reply_to=parent["message"], push=False)
    grandchild = tg.group_message(GROUP, EVE, "Moi aussi", reply_to=child["message"], push=False)
    thread = [parent, child, grandchild] if order == "parent first" else [grandchild, child, parent]
    for update in [forward, *thread]:
        tg.push_update(update)

    await read_page(reader, collector(engine))

    assert answers(engine) == {"Enfin, merci": key, "D'accord avec Ana": key, "Moi aussi": key}


async def test_telegram_child_in_a_later_page(
    engine: Engine, tg: FakeTelegram, reader: TelegramReader
) -> None:
    key, forward = campaign_post(tg, engine)
    tg.push_update(forward)
    parent = tg.group_message(GROUP, ANA, "Enfin, merci", reply_to=forward["message"])
    collecting = collector(engine)
    await read_page(reader, collecting)

    tg.group_message(GROUP, LEO, "D'accord avec Ana", reply_to=parent["message"])
    await read_page(reader, collecting)

    assert answers(engine) == {"Enfin, merci": key, "D'accord avec Ana": key}


async def test_telegram_child_before_its_parent_across_pages(
    engine: Engine, tg: FakeTelegram, reader: TelegramReader
) -> None:
    """The child comes first, in a page of its own: it is tied to the post by its thread."""
    key, forward = campaign_post(tg, engine)
    parent = tg.group_message(GROUP, ANA, "Enfin, merci", reply_to=forward["message"], push=False)
    child = tg.group_message(GROUP, LEO, "D'accord avec Ana", reply_to=parent["message"], push=False)
    collecting = collector(engine)
    tg.push_update(forward)
    tg.push_update(child)
    await read_page(reader, collecting)
    assert answers(engine) == {"D'accord avec Ana": key}

    tg.push_update(parent)
    await read_page(reader, collecting)

    assert answers(engine) == {"Enfin, merci": key, "D'accord avec Ana": key}


@pytest.mark.slow
async def test_telegram_child_whose_parent_never_reaches_the_bot(
    engine: Engine, tg: FakeTelegram, reader: TelegramReader
) -> None:
    """Telegram drops updates older than 24 h, and never sends what came before the bot
    joined: the parent may never be read. The answer to it is still the post's."""
    key, forward = campaign_post(tg, engine)
    tg.push_update(forward)
    parent = tg.group_message(GROUP, ANA, "Enfin, merci", reply_to=forward["message"], push=False)
    tg.group_message(GROUP, LEO, "D'accord avec Ana", reply_to=parent["message"])

    await read_page(reader, collector(engine))

    assert answers(engine) == {"D'accord avec Ana": key}


@pytest.mark.slow
async def test_telegram_threads_under_other_messages_are_not_collected(
    engine: Engine, tg: FakeTelegram, reader: TelegramReader
) -> None:
    """A conversation under a message that is not a campaign post stays out of the store."""
    campaign_post(tg, engine)
    other = tg.group_message(GROUP, EVE, "Quelqu'un a vu le match ?")
    answer = tg.group_message(GROUP, ANA, "Oui !", reply_to=other["message"])
    tg.group_message(GROUP, LEO, "Moi non", reply_to=answer["message"])
    unrelated_post = tg.channel_post(CHANNEL, "Annonce sans rapport", push=False)["channel_post"]
    copy = tg.automatic_forward(unrelated_post)
    tg.group_message(GROUP, LEO, "Bof", reply_to=copy["message"])

    await read_page(reader, collector(engine))

    assert answers(engine) == {}


async def test_telegram_a_reply_cycle_is_no_thread(
    engine: Engine, tg: FakeTelegram, reader: TelegramReader
) -> None:
    """Hostile data: two messages that answer each other resolve to nothing, and end."""
    campaign_post(tg, engine)
    base = {"chat": {"id": GROUP, "type": "supergroup", "title": "Discussion"}, "date": 1_700_000_000}
    first = base | {"message_id": 900, "from": ANA, "text": "un"}
    second = base | {"message_id": 901, "from": LEO, "text": "deux", "reply_to_message": first}
    tg.push_update({"message": first | {"reply_to_message": base | {"message_id": 901, "text": "deux"}}})
    tg.push_update({"message": second})

    collecting = collector(engine)
    await read_page(reader, collecting)

    assert answers(engine) == {}
    assert CommentStore(engine).position(POSITION) == str(tg.pending_updates[-1]["update_id"] + 1)


# -- Mastodon ----------------------------------------------------------------------------------


@pytest.fixture
def md() -> Iterator[FakeMastodon]:
    with FakeMastodon(token=MASTODON_TOKEN) as fake:
        yield fake


@pytest.fixture
async def masto(md: FakeMastodon) -> AsyncIterator[MastodonReader]:
    source = MastodonReader(md.url, MASTODON_TOKEN, timeout=5.0)
    await source.start()
    yield source
    await source.close()


async def our_status(md: FakeMastodon, engine: Engine) -> tuple[str, str]:
    """A campaign post published on Mastodon and recorded as such: its key and status id."""
    sender = MastodonSender(md.url, MASTODON_TOKEN)
    try:
        await sender.start()
        status_id = (
            await sender.publish(publication(Network.MASTODON), on_wire=lambda: asyncio.sleep(0))
        ).remote_id
    finally:
        await sender.close()
    return published(engine, Network.MASTODON, status_id), status_id


@pytest.mark.slow
async def test_mastodon_parent_and_child_in_one_context_page(
    engine: Engine, md: FakeMastodon, masto: MastodonReader
) -> None:
    key, ours = await our_status(md, engine)
    parent = md.add_remote_status("alice@example.org", "<p>Enfin, merci</p>", in_reply_to_id=ours)
    child = md.add_remote_status("bob@example.org", "<p>D'accord avec Alice</p>", in_reply_to_id=parent["id"])
    md.add_remote_status("carol@example.org", "<p>Moi aussi</p>", in_reply_to_id=child["id"])

    await collector(engine).timeline_round(masto, 0)  # round 0 reads the replies under our posts

    assert answers(engine) == {"Enfin, merci": key, "D'accord avec Alice": key, "Moi aussi": key}


@pytest.mark.slow
async def test_mastodon_parent_and_child_in_one_hashtag_page(
    engine: Engine, md: FakeMastodon, masto: MastodonReader
) -> None:
    key, ours = await our_status(md, engine)
    parent = md.add_remote_status("alice@example.org", f"<p>Enfin #{TAG}</p>", in_reply_to_id=ours)
    md.add_remote_status("bob@example.org", f"<p>D'accord #{TAG}</p>", in_reply_to_id=parent["id"])

    await collector(engine).timeline_round(masto, 1)  # the hashtag timeline only

    assert answers(engine) == {f"Enfin #{TAG}": key, f"D'accord #{TAG}": key}


@pytest.mark.slow
async def test_mastodon_child_before_its_parent_across_pages(
    engine: Engine, md: FakeMastodon, masto: MastodonReader
) -> None:
    """The child, which mentions us, is read first; its parent (no hashtag, no mention) only
    with the replies under our post: the two resolve together then."""
    key, ours = await our_status(md, engine)
    parent = md.add_remote_status("alice@example.org", "<p>Enfin, merci</p>", in_reply_to_id=ours)
    child = md.add_remote_status(
        "bob@example.org",
        "<p>@relais d'accord avec Alice</p>",
        in_reply_to_id=parent["id"],
        mentions=["relais"],
    )
    md.add_mention_notification(child)
    collecting = collector(engine)
    await collecting.timeline_round(masto, 1)  # the mentions, not yet the replies under our post

    await collecting.timeline_round(masto, 10)

    assert answers(engine) == {"Enfin, merci": key, "@relais d'accord avec Alice": key}


@pytest.mark.slow
async def test_mastodon_a_tagged_child_read_before_its_parent_is_tied_later(
    engine: Engine, md: FakeMastodon, masto: MastodonReader
) -> None:
    """A child carrying the hashtag is kept at once; once its parent is known (reading the
    replies under our post), the stored child is tied to the post too."""
    key, ours = await our_status(md, engine)
    parent = md.add_remote_status("alice@example.org", "<p>Enfin, merci</p>", in_reply_to_id=ours)
    md.add_remote_status("bob@example.org", f"<p>D'accord #{TAG}</p>", in_reply_to_id=parent["id"])
    collecting = collector(engine)
    await collecting.timeline_round(masto, 1)
    assert answers(engine) == {f"D'accord #{TAG}": None}

    await collecting.timeline_round(masto, 10)

    assert answers(engine) == {"Enfin, merci": key, f"D'accord #{TAG}": key}

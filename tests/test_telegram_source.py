"""The Telegram reader (the collector's ``UpdatesSource``) against the loopback Bot API
server, over real HTTP: what each kind of update becomes, offsets, long polling, errors."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from bot.adapters.telegram.reader import POLLING_CONFLICT, TelegramReader
from bot.adapters.telegram.sender import TelegramSender
from bot.domain import ForwardLink, Reply
from bot.ports import OutcomeUnknown, Page, PermanentError, RateLimited, TemporaryError
from tests.data import Network
from tests.fakes.telegram_api import JSON, FakeTelegram

TOKEN = "1234567:TEST-relais-fake-token-0123456789abcdef"  # the shape of a real token
CHANNEL = -1001234567890  # @GautrinWeb2
GROUP = -1009876543210  # its discussion group, @GautrinDiscussion
ANA = FakeTelegram.user(501, "Ana", username="ana_qc", last_name="Tremblay", language_code="fr")
LEO = FakeTelegram.user(502, "Léo", language_code=None)  # no username, no language
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
# PTB 22 warns, inside RetryAfter's constructor, that retry_after will become a timedelta
no_retry_after_warning = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, rate_limited=False) as fake:
        fake.add_chat(CHANNEL, "channel", username="GautrinWeb2", title="Gautrin Web 2", linked_chat_id=GROUP)
        fake.add_chat(GROUP, "supergroup", username="GautrinDiscussion", title="Gautrin, discussion")
        yield fake


@pytest.fixture
async def reader(tg: FakeTelegram) -> AsyncIterator[TelegramReader]:
    telegram = TelegramReader(TOKEN, tg.url, timeout=5.0)
    await telegram.start()
    yield telegram
    await telegram.close()


async def read(reader: TelegramReader, cursor: str | None = None) -> Page:
    """One short poll."""
    return await reader.updates(cursor, 0)


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def get_updates_calls(tg: FakeTelegram) -> list[JSON]:
    return [r.params for r in tg.requests if r.method == "getUpdates"]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- what updates become -----------------------------------------------------------------------


async def test_a_group_message_with_a_hashtag_is_a_reply(reader: TelegramReader, tg: FakeTelegram) -> None:
    update = tg.group_message(GROUP, ANA, "Je participe à la consultation #GautrinWeb2 !")
    message = update["message"]

    page = await read(reader)

    assert page == Page(
        items=[
            Reply(
                network=Network.TELEGRAM,
                remote_id=f"{GROUP}:{message['message_id']}",
                text="Je participe à la consultation #GautrinWeb2 !",
                created_at=at(message["date"]),
                author_id="501",
                author_handle="@ana_qc",
                author_name="Ana Tremblay",
                url=f"https://t.me/GautrinDiscussion/{message['message_id']}",
                language="fr",
                hashtags=("gautrinweb2",),
            )
        ],
        cursor=str(update["update_id"] + 1),
        more=False,
    )
    (call,) = get_updates_calls(tg)
    assert json.loads(call["allowed_updates"]) == [
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
    ]
    assert (call["limit"], call["timeout"]) == ("100", "0")
    assert "offset" not in call
    assert all("drop_pending_updates" not in r.params for r in tg.requests)
    assert [r.method for r in tg.requests] == ["getMe", "getUpdates"]  # no deleteWebhook either


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("😀 #Relais et la suite", ("relais",)),
        ("🇫🇷 drapeau puis #Relais", ("relais",)),  # a flag: 4 UTF-16 units, 2 code points
        ("👩‍👩‍👧 en famille #GautrinWeb2", ("gautrinweb2",)),  # ZWJ sequence: 8 units
        ("é😀🇨🇦 #Un et #deux, encore #UN", ("un", "deux")),  # lowercase, once each, in order
        ("pas de mot-clic, 😀 #123 n'en est pas un", ()),
    ],
)
async def test_hashtags_are_cut_by_utf16_offsets(
    reader: TelegramReader, tg: FakeTelegram, text: str, tags: tuple[str, ...]
) -> None:
    message = tg.group_message(GROUP, LEO, text)["message"]

    (reply,) = (await read(reader)).items

    assert isinstance(reply, Reply)
    assert reply.hashtags == tags
    hashtag = [e for e in message.get("entities", []) if e["type"] == "hashtag"]
    if "😀" in text and hashtag:  # the server's offsets are not Python's: the test means something
        assert hashtag[0]["offset"] != text.index("#")


@pytest.mark.slow
async def test_a_hashtag_naming_a_chat_keeps_the_tag_only(reader: TelegramReader, tg: FakeTelegram) -> None:
    text = "😀 #GautrinWeb2@GautrinWeb2"  # Telegram's "#tag@chat" form: one entity
    tg.group_message(GROUP, LEO, text, entities=[{"type": "hashtag", "offset": 3, "length": 24}])

    (reply,) = (await read(reader)).items

    assert isinstance(reply, Reply)
    assert reply.hashtags == ("gautrinweb2",)


async def test_a_caption_is_the_text(reader: TelegramReader, tg: FakeTelegram) -> None:
    message = tg.group_photo(GROUP, ANA, "🎥 En direct de l'Assemblée #GautrinWeb2")["message"]

    (reply,) = (await read(reader)).items

    assert isinstance(reply, Reply)
    assert (reply.remote_id, reply.text) == (f"{GROUP}:{message['message_id']}", message["caption"])
    assert reply.hashtags == ("gautrinweb2",)


async def test_an_edit_is_the_reply_with_its_new_text(reader: TelegramReader, tg: FakeTelegram) -> None:
    message = tg.group_message(GROUP, ANA, "premier jet #brouillon")["message"]
    first = await read(reader)

    edit = tg.edited_message(message, "version corrigée #GautrinWeb2")
    page = await read(reader, first.cursor)

    (reply,) = page.items
    assert isinstance(reply, Reply)
    assert reply.remote_id == f"{GROUP}:{message['message_id']}"
    assert (reply.text, reply.hashtags) == ("version corrigée #GautrinWeb2", ("gautrinweb2",))
    assert reply.created_at == at(message["date"])
    assert reply.edited_at == at(edit["edited_message"]["edit_date"])
    assert page.cursor == str(edit["update_id"] + 1)


async def test_a_private_message(reader: TelegramReader, tg: FakeTelegram) -> None:
    message = tg.private_message(ANA, "Une question privée #GautrinWeb2")["message"]

    (reply,) = (await read(reader)).items

    assert reply == Reply(
        network=Network.TELEGRAM,
        remote_id=f"501:{message['message_id']}",
        text="Une question privée #GautrinWeb2",
        created_at=at(message["date"]),
        author_id="501",
        author_handle="@ana_qc",
        author_name="Ana Tremblay",
        url=None,  # t.me/<user>/<id> is no message link
        language="fr",
        hashtags=("gautrinweb2",),
        private=True,
    )


async def test_a_comment_on_a_channel_post_answers_its_automatic_forward(
    reader: TelegramReader, tg: FakeTelegram
) -> None:
    post = tg.channel_post(CHANNEL, "Le rapport est en ligne #gautrinweb2")["channel_post"]
    forward = tg.automatic_forward(post)["message"]
    comment = tg.group_message(GROUP, LEO, "Enfin ! #GautrinWeb2", reply_to=forward)
    answer = tg.group_message(GROUP, ANA, "D'accord avec Léo", reply_to=comment["message"])

    page = await read(reader)

    link, first, second = page.items
    forward_id = f"{GROUP}:{forward['message_id']}"
    assert link == ForwardLink(
        remote_id=forward_id, original=f"{CHANNEL}:{post['message_id']}", network="telegram"
    )
    assert isinstance(first, Reply)
    assert (first.in_reply_to, first.author_id, first.author_handle, first.author_name) == (
        forward_id,
        "502",
        "",
        "Léo",
    )
    assert first.language is None
    assert isinstance(second, Reply)
    assert second.in_reply_to == f"{GROUP}:{comment['message']['message_id']}"
    assert first.thread == second.thread == forward_id  # the thread is the post's copy, however deep
    assert second.hashtags == ()  # not filtered here: the collector knows the campaign
    assert page.cursor == str(answer["update_id"] + 1)


@pytest.mark.slow
async def test_a_legacy_automatic_forward(reader: TelegramReader, tg: FakeTelegram) -> None:
    """A Bot API server older than 7.0 names the channel post with forward_from_* fields."""
    post = tg.channel_post(CHANNEL, "ancien serveur")["channel_post"]
    update = tg.automatic_forward(post, push=False)
    message = {k: v for k, v in update["message"].items() if k != "forward_origin"}
    message |= {"forward_from_chat": post["chat"], "forward_from_message_id": post["message_id"]}
    tg.push_update({"message": message})

    page = await read(reader)

    assert page.items == [
        ForwardLink(f"{GROUP}:{message['message_id']}", f"{CHANNEL}:{post['message_id']}", "telegram")
    ]


async def test_a_channel_speaking_in_its_group_is_the_author(
    reader: TelegramReader, tg: FakeTelegram
) -> None:
    update = tg.group_message(GROUP, CHANNEL_BOT, "Merci à tous #GautrinWeb2", push=False)
    update["message"]["sender_chat"] = {
        "id": CHANNEL,
        "type": "channel",
        "title": "Gautrin Web 2",
        "username": "GautrinWeb2",
    }
    tg.push_update(update)

    (reply,) = (await read(reader)).items

    assert isinstance(reply, Reply)
    assert (reply.author_id, reply.author_handle, reply.author_name, reply.language) == (
        str(CHANNEL),
        "@GautrinWeb2",
        "Gautrin Web 2",
        None,
    )


async def test_channel_posts_are_skipped_but_confirmed(reader: TelegramReader, tg: FakeTelegram) -> None:
    post = tg.channel_post(CHANNEL, "Notre annonce #gautrinweb2")
    edit = tg.edited_message(post["channel_post"], "Notre annonce corrigée #gautrinweb2")

    page = await read(reader)

    assert page == Page(items=[], cursor=str(edit["update_id"] + 1), more=False)
    assert await read(reader, page.cursor) == Page(items=[], cursor=page.cursor)
    assert tg.pending_updates == []


async def test_the_bots_own_messages_and_messages_without_text_are_skipped(
    reader: TelegramReader, tg: FakeTelegram
) -> None:
    tg.group_message(GROUP, tg.bot_user, "mon propre message #gautrinweb2")
    sticker = {
        "file_id": "CAACAgQAAx-sticker",
        "file_unique_id": "AgAD-sticker",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    base = {
        "chat": {"id": GROUP, "type": "supergroup", "title": "Gautrin, discussion"},
        "date": int(time.time()),
    }
    tg.push_update({"message": base | {"message_id": 90, "from": ANA, "sticker": sticker}})
    tg.push_update({"message": base | {"message_id": 91, "from": LEO, "new_chat_members": [LEO]}})
    last = tg.group_message(GROUP, ANA, "et moi #gautrinweb2")

    page = await read(reader)

    assert [item.remote_id for item in page.items] == [f"{GROUP}:{last['message']['message_id']}"]
    assert page.cursor == str(last["update_id"] + 1)


@pytest.mark.parametrize(
    "broken",
    [
        {"message_id": 7, "date": "hier", "text": "secret #gautrinweb2"},  # PTB cannot read the date
        {"message_id": 7, "date": 1_700_000_000, "text": "secret #gautrinweb2", "no_chat": True},
        {"message_id": 7, "date": 1_700_000_000, "text": "secret #gautrinweb2", "entities": [{"type": "x"}]},
        {"message_id": 7, "date": 1_700_000_000, "text": "secret", "is_automatic_forward": True},  # no origin
        "secret",
    ],
    ids=["bad-date", "no-chat", "bad-entity", "forward-without-origin", "not-an-object"],
)
@pytest.mark.slow
async def test_an_unreadable_update_is_logged_and_skipped(
    reader: TelegramReader, tg: FakeTelegram, caplog: pytest.LogCaptureFixture, broken: JSON | str
) -> None:
    before = tg.group_message(GROUP, ANA, "avant #gautrinweb2")
    if isinstance(broken, dict):
        chat = (
            {}
            if broken.pop("no_chat", False)
            else {"chat": {"id": GROUP, "type": "supergroup", "title": "G"}}
        )
        broken = broken | chat | {"from": LEO}
    poison = tg.push_update({"message": broken})
    after = tg.group_message(GROUP, LEO, "après #gautrinweb2")

    with caplog.at_level(logging.WARNING, logger="bot.adapters.telegram"):
        page = await read(reader)

    assert [item.remote_id for item in page.items] == [
        f"{GROUP}:{before['message']['message_id']}",
        f"{GROUP}:{after['message']['message_id']}",
    ]
    assert page.cursor == str(after["update_id"] + 1)  # past the poison
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert str(poison["update_id"]) in record.getMessage()
    assert "secret" not in caplog.text
    assert (await read(reader, page.cursor)).items == []
    assert tg.pending_updates == []


# -- offsets and long polling ------------------------------------------------------------------


async def test_a_cursor_confirms_what_was_read(reader: TelegramReader, tg: FakeTelegram) -> None:
    first = [tg.group_message(GROUP, ANA, f"n°{n} #gautrinweb2") for n in range(2)]
    page = await read(reader)
    assert len(page.items) == 2
    assert [u["update_id"] for u in tg.pending_updates] == [u["update_id"] for u in first]  # not yet

    third = tg.group_message(GROUP, LEO, "n°3 #gautrinweb2")
    again = await read(reader, page.cursor)

    assert [item.remote_id for item in again.items] == [f"{GROUP}:{third['message']['message_id']}"]
    assert get_updates_calls(tg)[-1]["offset"] == page.cursor
    empty = await read(reader, again.cursor)
    assert empty == Page(items=[], cursor=again.cursor)  # nothing new: the cursor stays
    assert tg.pending_updates == []


@pytest.mark.slow
async def test_a_restarted_reader_resumes_from_the_stored_cursor(tg: FakeTelegram) -> None:
    tg.group_message(GROUP, ANA, "lu avant l'arrêt #gautrinweb2")
    before = TelegramReader(TOKEN, tg.url, timeout=5.0)
    try:
        stored = (await read(before)).cursor  # stored with the replies, then the process stops
    finally:
        await before.close()
    later = tg.group_message(GROUP, LEO, "écrit pendant l'arrêt #gautrinweb2")

    after = TelegramReader(TOKEN, tg.url, timeout=5.0)
    try:
        page = await read(after, stored)  # start() is implied
    finally:
        await after.close()

    assert [item.remote_id for item in page.items] == [f"{GROUP}:{later['message']['message_id']}"]
    assert [r.method for r in tg.requests].count("getMe") == 2


async def test_a_full_page_says_there_is_more(reader: TelegramReader, tg: FakeTelegram) -> None:
    updates = [tg.group_message(GROUP, ANA, f"n°{n}") for n in range(101)]

    page = await read(reader)
    rest = await read(reader, page.cursor)

    assert (len(page.items), page.more, page.cursor) == (100, True, str(updates[99]["update_id"] + 1))
    assert (len(rest.items), rest.more, rest.cursor) == (1, False, str(updates[100]["update_id"] + 1))


async def test_a_long_poll_returns_as_soon_as_a_message_arrives(
    reader: TelegramReader, tg: FakeTelegram
) -> None:
    poll = asyncio.create_task(reader.updates(None, 30))
    await asyncio.to_thread(tg.wait_for, lambda t: len(get_updates_calls(t)) == 1)
    assert not poll.done()
    pushed = time.monotonic()
    message = tg.group_message(GROUP, ANA, "réveille-toi #gautrinweb2")["message"]

    page = await asyncio.wait_for(poll, 10)

    assert time.monotonic() - pushed < 5
    assert [item.remote_id for item in page.items] == [f"{GROUP}:{message['message_id']}"]
    assert get_updates_calls(tg)[0]["timeout"] == "30"


@pytest.mark.slow
async def test_a_long_poll_outlasting_the_request_timeout_is_no_error(tg: FakeTelegram) -> None:
    telegram = TelegramReader(TOKEN, tg.url, timeout=0.5)  # shorter than the long poll
    try:
        page = await telegram.updates(None, 1)
    finally:
        await telegram.close()
    assert page == Page(items=[], cursor=None)


# -- acknowledging -----------------------------------------------------------------------------


async def test_acknowledge_reacts_with_a_thumbs_up(reader: TelegramReader, tg: FakeTelegram) -> None:
    message = tg.group_message(GROUP, ANA, "#gautrinweb2 bravo")["message"]
    (reply,) = (await read(reader)).items

    await reader.acknowledge(reply.remote_id)

    assert tg.reactions == {(GROUP, message["message_id"]): [{"type": "emoji", "emoji": "👍"}]}


@pytest.mark.slow
async def test_acknowledge_errors(reader: TelegramReader, tg: FakeTelegram) -> None:
    with pytest.raises(PermanentError, match="not a Telegram message id"):
        await reader.acknowledge("pas-un-id")
    tg.bad_request("REACTION_INVALID", method="setMessageReaction")
    with pytest.raises(PermanentError, match=r"(?i)reaction_invalid"):
        await reader.acknowledge(f"{GROUP}:1")
    tg.delay(5, method="setMessageReaction")
    quick = TelegramReader(TOKEN, tg.url, timeout=0.3)
    try:
        with pytest.raises(TemporaryError) as caught:  # reacting twice does no harm
            await quick.acknowledge(f"{GROUP}:1")
    finally:
        await quick.close()
    assert not isinstance(caught.value, OutcomeUnknown)


# -- errors ------------------------------------------------------------------------------------


@no_retry_after_warning
async def test_flood_control_is_rate_limited(reader: TelegramReader, tg: FakeTelegram) -> None:
    tg.group_message(GROUP, ANA, "#gautrinweb2")
    tg.retry_after(7, method="getUpdates")

    with pytest.raises(RateLimited) as caught:
        await read(reader)

    assert caught.value.retry_after == 7.0
    assert len((await read(reader)).items) == 1  # nothing was lost


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_server_error_is_temporary(reader: TelegramReader, tg: FakeTelegram, status: int) -> None:
    tg.fail("getUpdates", status=status)

    with pytest.raises(TemporaryError) as caught:
        await read(reader)

    assert type(caught.value) is TemporaryError


@pytest.mark.slow
async def test_no_answer_in_time_is_temporary(tg: FakeTelegram) -> None:
    telegram = TelegramReader(TOKEN, tg.url, timeout=0.3)
    await telegram.start()
    tg.delay(5, method="getUpdates")
    try:
        with pytest.raises(TemporaryError) as caught:
            await read(telegram)
    finally:
        await telegram.close()
    assert type(caught.value) is TemporaryError
    assert "asking again is safe" in str(caught.value)


async def test_a_closed_port_is_temporary() -> None:
    telegram = TelegramReader(TOKEN, closed_port_url(), timeout=2.0)
    try:
        with pytest.raises(TemporaryError, match="cannot connect to Telegram"):
            await read(telegram)
    finally:
        await telegram.close()


async def test_another_poller_is_a_permanent_conflict(reader: TelegramReader, tg: FakeTelegram) -> None:
    description = (
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    )
    tg.fail("getUpdates", status=409, description=description)

    with pytest.raises(PermanentError) as caught:
        await read(reader)

    assert str(caught.value).startswith(POLLING_CONFLICT)
    assert "only one relais run may collect Telegram replies per bot token" in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


async def test_a_webhook_conflict_says_so(reader: TelegramReader, tg: FakeTelegram) -> None:
    description = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
    tg.fail("getUpdates", status=409, description=description)

    with pytest.raises(PermanentError, match="a webhook is set for this bot"):
        await read(reader)


async def test_a_refused_token_is_permanent(tg: FakeTelegram) -> None:
    wrong = TelegramReader("1234567:TEST-this-is-not-the-right-token-0123456", tg.url)
    try:
        with pytest.raises(PermanentError, match="RELAIS_TELEGRAM_TOKEN"):
            await wrong.start()
    finally:
        await wrong.close()


@pytest.mark.slow
async def test_the_sender_never_reads_updates(tg: FakeTelegram) -> None:
    """The reader is the only getUpdates caller on the token: no conflict with the sender."""
    sender = TelegramSender(TOKEN, tg.url)
    reader = TelegramReader(TOKEN, tg.url)
    try:
        await sender.start()
        await reader.start()
        assert repr(reader) == f"<TelegramReader {tg.url}>"
        assert (reader.bot_id, reader.bot_username) == (tg.bot_user["id"], "relais_test_bot")
        tg.group_message(GROUP, ANA, "#gautrinweb2")
        assert len((await read(reader)).items) == 1
    finally:
        await sender.close()
        await reader.close()
    assert [r.method for r in tg.requests] == ["getMe", "getMe", "getUpdates"]

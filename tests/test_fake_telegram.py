"""The Telegram fake answers python-telegram-bot and plain HTTP clients like the real API."""

from __future__ import annotations

import asyncio
import datetime as dtm
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from telegram import Bot, InputFile, LinkPreviewOptions, MessageEntity, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, NetworkError, RetryAfter, TimedOut

from tests.fakes.telegram_api import FakeTelegram

TOKEN = "123456:TEST-not-a-real-token"
CHANNEL = -1001234567890
GROUP = -1009876543210


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN) as fake:
        fake.add_chat(CHANNEL, "channel", username="GautrinWeb2", title="Gautrin Web 2", linked_chat_id=GROUP)
        fake.add_chat(GROUP, "supergroup", title="Gautrin, discussion")
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=f"{tg.url}/bot", base_file_url=f"{tg.url}/file/bot") as ptb:
        yield ptb


@pytest.fixture
def api(tg: FakeTelegram) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{tg.url}/bot{TOKEN}/", timeout=10) as client:
        yield client


# PTB 22 warns that RetryAfter.retry_after will become a timedelta
no_retry_after_warning = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def retry_seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else value


async def wait_in_thread(
    tg: FakeTelegram, predicate: Callable[[FakeTelegram], bool], timeout: float = 5.0
) -> None:
    """Wait for the fake without blocking this test's event loop."""
    await asyncio.to_thread(tg.wait_for, predicate, timeout)


# -- python-telegram-bot ---------------------------------------------------------------------


async def test_get_me_describes_the_bot(bot: Bot, tg: FakeTelegram) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (123456, True, "relais_test_bot", "Relais")
    assert me.can_join_groups is True
    assert me.can_read_all_group_messages is False
    assert me.supports_inline_queries is False
    assert [r.method for r in tg.requests] == ["getMe", "getMe"]  # initialize() + ours


async def test_send_message_html_gives_utf16_entities(bot: Bot, tg: FakeTelegram) -> None:
    html = '😀 <b>gras</b> et <a href="https://ex.org/?a=1&amp;b=2">lien</a> &lt;3 #relais'
    msg = await bot.send_message(
        "@GautrinWeb2",
        html,
        parse_mode=ParseMode.HTML,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
        disable_notification=True,
    )
    assert msg.text == "😀 gras et lien <3 #relais"
    assert (msg.chat.id, msg.chat.type, msg.chat.username) == (CHANNEL, "channel", "GautrinWeb2")
    assert msg.sender_chat is not None
    assert msg.sender_chat.id == CHANNEL
    assert [(e.type, e.offset, e.length) for e in msg.entities] == [
        ("bold", 3, 4),
        ("text_link", 11, 4),
        ("hashtag", 19, 7),
    ]
    assert msg.entities[1].url == "https://ex.org/?a=1&b=2"
    assert [msg.parse_entity(e) for e in msg.entities] == ["gras", "lien", "#relais"]
    assert abs(msg.date.timestamp() - time.time()) < 5

    second = await bot.send_message(CHANNEL, "deux")
    in_group = await bot.send_message(GROUP, "ailleurs")
    assert (msg.message_id, second.message_id, in_group.message_id) == (1, 2, 1)
    assert in_group.from_user is not None
    assert in_group.from_user.id == 123456

    sent = tg.sent[0]
    assert (sent.chat_id, sent.message_id, sent.parse_mode) == (CHANNEL, 1, "HTML")
    assert sent.entities == [e.to_dict() for e in msg.entities]
    assert sent.params["disable_notification"] == "true"
    assert sent.received_at <= tg.sent[1].received_at
    assert [s.text for s in tg.sent] == ["😀 gras et lien <3 #relais", "deux", "ailleurs"]


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<b>gras", 'can\'t find end tag corresponding to start tag "b"'),
        ("<p>paragraphe</p>", 'unsupported start tag "p" at byte offset 0'),
        ("😀 <b>x</i>", 'unmatched end tag at byte offset 9, expected "</b>", found "</i>"'),
        ("1 < 2", 'unsupported start tag "" at byte offset 2'),
    ],
)
async def test_malformed_html_is_refused(bot: Bot, tg: FakeTelegram, html: str, reason: str) -> None:
    with pytest.raises(BadRequest) as caught:
        await bot.send_message(CHANNEL, html, parse_mode=ParseMode.HTML)
    assert caught.value.message.lower() == f"can't parse entities: {reason}".lower()
    assert tg.sent == []


async def test_send_photo_upload_with_caption(bot: Bot, tg: FakeTelegram) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    msg = await bot.send_photo(
        CHANNEL,
        InputFile(data, filename="affiche.png"),
        caption="<i>Légende</i> #relais",
        parse_mode=ParseMode.HTML,
    )
    assert msg.caption == "Légende #relais"
    assert [(e.type, e.offset, e.length) for e in msg.caption_entities] == [
        ("italic", 0, 7),
        ("hashtag", 8, 7),
    ]
    assert len(msg.photo) >= 2
    assert msg.photo[-1].width > msg.photo[0].width
    assert (tg.sent[0].photo_size, tg.sent[0].photo_file_id) == (len(data), None)

    again = await bot.send_photo(GROUP, msg.photo[-1].file_id, caption="encore")
    assert again.photo[-1].file_id == msg.photo[-1].file_id
    assert (tg.sent[1].photo_size, tg.sent[1].photo_file_id) == (None, msg.photo[-1].file_id)
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(CHANNEL, data, caption="x" * 1025)


@no_retry_after_warning
async def test_flood_limit_per_channel_gives_retry_after(bot: Bot, tg: FakeTelegram) -> None:
    tg.rate_limits(per_second=None, per_chat_per_minute=3)
    for i in range(3):
        await bot.send_message(CHANNEL, f"message {i}")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHANNEL, "one too many")
    assert 55 <= retry_seconds(caught.value) <= 60
    assert tg.too_many_requests == 1
    assert len(tg.sent) == 3
    await bot.send_message(GROUP, "another chat is not throttled")
    tg.rate_limits(None, None)
    await bot.send_message(CHANNEL, "limits switched off")
    assert len(tg.sent) == 5


@no_retry_after_warning
async def test_injected_retry_after(bot: Bot, tg: FakeTelegram) -> None:
    tg.retry_after(3, method="sendMessage")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHANNEL, "refused")
    assert retry_seconds(caught.value) == 3
    assert (await bot.send_message(CHANNEL, "accepted")).message_id == 1
    assert tg.too_many_requests == 1
    assert [s.text for s in tg.sent] == ["accepted"]


async def test_migrated_group_answers_chat_migrated(bot: Bot, tg: FakeTelegram) -> None:
    tg.add_chat(-4242, "group", title="Ancien groupe")
    tg.migrate_chat(-4242, -1004242)
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(-4242, "bonjour")
    assert caught.value.new_chat_id == -1004242
    msg = await bot.send_message(caught.value.new_chat_id, "bonjour")
    assert (msg.chat.type, msg.chat.title) == ("supergroup", "Ancien groupe")


async def test_bad_requests_like_the_server(bot: Bot, tg: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match=r"^Message is too long$"):
        await bot.send_message(CHANNEL, "a" * 4097)
    with pytest.raises(BadRequest, match=r"^Message text is empty$"):
        await bot.send_message(CHANNEL, "  <b> </b> ", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"^Chat not found$"):
        await bot.send_message(-100999, "personne")
    with pytest.raises(BadRequest, match=r"^Chat not found$"):
        await bot.send_message("@nobody_here", "personne")
    assert tg.sent == []
    long_html = "<b>" + "a" * 4096 + "</b>"  # the limit applies after parsing
    msg = await bot.send_message(CHANNEL, long_html, parse_mode=ParseMode.HTML)
    assert len(msg.text) == 4096


@pytest.mark.slow
async def test_read_timeout_while_the_message_is_recorded(bot: Bot, tg: FakeTelegram) -> None:
    tg.delay(3.0, method="sendMessage")
    started = time.monotonic()
    with pytest.raises(TimedOut):
        await bot.send_message(CHANNEL, "lent", read_timeout=0.3)
    assert time.monotonic() - started < 2.5
    assert [(s.text, s.message_id) for s in tg.sent] == [("lent", 1)]
    assert (await bot.send_message(CHANNEL, "suivant")).message_id == 2


async def test_dropped_connection_after_receive(bot: Bot, tg: FakeTelegram) -> None:
    tg.drop_after_receive(method="sendMessage")
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(CHANNEL, "perdu")
    assert not isinstance(caught.value, TimedOut)
    assert [s.text for s in tg.sent] == ["perdu"]


async def test_injected_server_errors_then_success(bot: Bot, tg: FakeTelegram) -> None:
    tg.fail(method="sendMessage", status=500, times=2)
    tg.bad_request("message thread not found", method="sendPhoto")
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(CHANNEL, "essai")
        assert (await bot.get_me()).username == "relais_test_bot"  # other methods unaffected
    with pytest.raises(BadRequest, match=r"^Message thread not found$"):
        await bot.send_photo(CHANNEL, "https://example.org/a.jpg")
    assert (await bot.send_message(CHANNEL, "essai")).message_id == 1
    assert [s.text for s in tg.sent] == ["essai"]


async def test_get_updates_offset_confirms(bot: Bot, tg: FakeTelegram) -> None:
    ids = [tg.channel_post(CHANNEL, f"post {i}")["update_id"] for i in range(3)]
    assert ids == sorted(ids)
    assert [u.update_id for u in await bot.get_updates()] == ids
    assert [u.update_id for u in await bot.get_updates()] == ids  # nothing confirmed yet
    assert [u.update_id for u in await bot.get_updates(offset=ids[1])] == ids[1:]
    assert [u["update_id"] for u in tg.pending_updates] == ids[1:]
    assert [u.update_id for u in await bot.get_updates(offset=ids[1], limit=1)] == ids[1:2]
    assert await bot.get_updates(offset=ids[-1] + 1) == ()
    assert tg.pending_updates == []


@pytest.mark.slow
async def test_long_poll_waits_then_wakes_on_push(bot: Bot, tg: FakeTelegram) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert time.monotonic() - started >= 0.9

    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await wait_in_thread(tg, lambda t: [r.method for r in t.requests].count("getUpdates") == 2)
    pushed = time.monotonic()
    update = tg.channel_post(CHANNEL, "réveil #relais")
    got = await asyncio.wait_for(poll, 10)
    assert time.monotonic() - pushed < 2
    assert [u.update_id for u in got] == [update["update_id"]]
    assert got[0].channel_post is not None
    assert got[0].channel_post.text == "réveil #relais"


async def test_allowed_updates_are_honoured_and_remembered(bot: Bot, tg: FakeTelegram) -> None:
    user = tg.user(501, "Ana", username="ana_b")
    posted = tg.channel_post(CHANNEL, "original")
    edit = tg.edited_message(posted["channel_post"], "corrigé")
    tg.push_update({"message_reaction": {"chat": {"id": GROUP, "type": "supergroup"}}})
    message = tg.group_message(GROUP, user, "salut")
    assert [u.update_id for u in await bot.get_updates()] == [  # reactions are opt-in
        posted["update_id"],
        edit["update_id"],
        message["update_id"],
    ]
    only = await bot.get_updates(allowed_updates=["edited_channel_post"])
    assert [u.update_id for u in only] == [edit["update_id"]]
    assert only[0].edited_channel_post is not None
    assert only[0].edited_channel_post.text == "corrigé"
    assert [u.update_id for u in await bot.get_updates()] == [edit["update_id"]]  # remembered


async def test_set_message_reaction(bot: Bot, tg: FakeTelegram) -> None:
    message = tg.group_message(GROUP, tg.user(7, "Léa"), "#relais")["message"]
    assert await bot.set_message_reaction(GROUP, message["message_id"], "👍") is True
    assert tg.reactions[(GROUP, message["message_id"])] == [{"type": "emoji", "emoji": "👍"}]


@no_retry_after_warning
async def test_reactions_are_counted_and_flood_limited_per_chat(bot: Bot, tg: FakeTelegram) -> None:
    tg.reaction_limits(per_chat_per_minute=2)
    first, second, third = (
        tg.group_message(GROUP, tg.user(7, "Léa"), f"#relais {i}")["message"] for i in range(3)
    )
    await bot.set_message_reaction(GROUP, first["message_id"], "👍")
    await bot.set_message_reaction(GROUP, second["message_id"], "👍")
    with pytest.raises(RetryAfter) as caught:
        await bot.set_message_reaction(GROUP, third["message_id"], "👍")
    assert 1 <= retry_seconds(caught.value) <= 60
    assert (third["chat"]["id"], third["message_id"]) not in tg.reactions
    # sending messages to the chat has its own window
    await bot.send_message(GROUP, "toujours permis")
    assert [int(m) for _, m in tg.reaction_requests] == [
        first["message_id"],
        second["message_id"],
        third["message_id"],
    ]
    assert tg.too_many_requests == 1


async def test_built_updates_parse_with_ptb(bot: Bot, tg: FakeTelegram) -> None:
    user = tg.user(501, "Ana", username="ana_b")
    post = tg.channel_post(CHANNEL, "Campagne 👋 #relais")["channel_post"]
    forward = tg.automatic_forward(post)
    reply = tg.group_message(
        GROUP, user, "😀🇫🇷 je participe #Relais2025 @GautrinWeb2", reply_to=forward["message"]
    )
    parsed_forward = Update.de_json(forward, bot).message
    assert parsed_forward is not None
    assert parsed_forward.is_automatic_forward is True
    assert (parsed_forward.chat.id, parsed_forward.sender_chat.id) == (GROUP, CHANNEL)
    assert parsed_forward.forward_origin.message_id == post["message_id"]
    parsed = Update.de_json(reply, bot).message
    assert parsed is not None
    assert parsed.reply_to_message.message_id == parsed_forward.message_id
    assert parsed.from_user.username == "ana_b"
    tags = parsed.parse_entities([MessageEntity.HASHTAG, MessageEntity.MENTION])
    assert list(tags.values()) == ["#Relais2025", "@GautrinWeb2"]
    assert [e.offset for e in tags] == [20, 32]  # 😀 and the flag take 2 + 4 UTF-16 units
    private = tg.private_message(user, "bonjour")["message"]
    assert (private["chat"]["id"], private["chat"]["type"]) == (501, "private")


# -- plain HTTP ------------------------------------------------------------------------------


def test_wrong_token_and_unknown_method(tg: FakeTelegram, api: httpx.Client) -> None:
    wrong = httpx.post(f"{tg.url}/bot123456:WRONG/getMe")
    assert (wrong.status_code, wrong.json()) == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    unknown = api.post("sendCarrierPigeon")
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    assert [r.method for r in tg.requests] == []
    assert api.get("GETME").json()["result"]["username"] == "relais_test_bot"


def test_json_form_and_query_parameters(tg: FakeTelegram, api: httpx.Client) -> None:
    first = api.post(
        "sendMessage", json={"chat_id": CHANNEL, "text": "<i>json</i>", "parse_mode": "HTML"}
    ).json()["result"]
    assert first["entities"] == [{"type": "italic", "offset": 0, "length": 4}]
    reply = api.post(
        "sendMessage", data={"chat_id": str(CHANNEL), "text": "form", "reply_to_message_id": "1"}
    ).json()["result"]
    assert reply["reply_to_message"]["text"] == "json"
    chat = api.get("getChat", params={"chat_id": "@gautrinweb2"}).json()["result"]
    assert (chat["id"], chat["linked_chat_id"], chat["title"]) == (CHANNEL, GROUP, "Gautrin Web 2")
    missing = api.post(
        "sendMessage", json={"chat_id": CHANNEL, "text": "x", "reply_parameters": {"message_id": 99}}
    )
    assert (missing.status_code, missing.json()["description"]) == (
        400,
        "Bad Request: message to be replied not found",
    )
    assert [r.method for r in tg.requests] == ["sendMessage", "sendMessage", "getChat", "sendMessage"]


def test_reply_parameters_through_ptb_json(tg: FakeTelegram, api: httpx.Client) -> None:
    original = tg.group_message(GROUP, tg.user(9, "Zoé"), "question ?")["message"]
    params = ReplyParameters(message_id=original["message_id"]).to_dict()
    answer = api.post(
        "sendMessage", json={"chat_id": GROUP, "text": "réponse", "reply_parameters": params}
    ).json()["result"]
    assert answer["reply_to_message"]["from"]["first_name"] == "Zoé"
    assert answer["message_id"] == original["message_id"] + 1


def test_global_flood_limit_shape(tg: FakeTelegram, api: httpx.Client) -> None:
    tg.rate_limits(per_second=5, per_chat_per_minute=None)
    for user_id in range(1, 6):
        tg.add_chat(user_id, "private", first_name=f"U{user_id}")
        assert api.post("sendMessage", json={"chat_id": user_id, "text": "hi"}).status_code == 200
    tg.add_chat(6, "private", first_name="U6")
    refused = api.post("sendMessage", json={"chat_id": 6, "text": "hi"})
    assert (refused.status_code, refused.json()) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        },
    )
    assert tg.too_many_requests == 1


def test_wait_for_is_woken_by_requests(tg: FakeTelegram, api: httpx.Client) -> None:
    with pytest.raises(TimeoutError):
        tg.wait_for(lambda t: len(t.sent) >= 1, timeout=0.2)
    sender = threading.Thread(
        target=lambda: [api.post("sendMessage", json={"chat_id": CHANNEL, "text": f"n{i}"}) for i in range(3)]
    )
    sender.start()
    tg.wait_for(lambda t: len(t.sent) >= 3, timeout=5)
    sender.join()
    assert [s.text for s in tg.sent] == ["n0", "n1", "n2"]


def test_stop_is_fast_with_a_pending_long_poll_and_delay() -> None:
    fake = FakeTelegram(token=TOKEN).start()
    fake.add_chat(CHANNEL, "channel", title="C")
    fake.delay(30, method="sendMessage")
    results: list[object] = []

    def call(method: str, **kwargs: object) -> None:
        try:
            results.append(httpx.post(f"{fake.url}/bot{TOKEN}/{method}", timeout=60, **kwargs).json())
        except httpx.HTTPError as exc:
            results.append(exc)

    threads = [
        threading.Thread(target=call, args=("getUpdates",), kwargs={"json": {"timeout": 30}}),
        threading.Thread(
            target=call, args=("sendMessage",), kwargs={"json": {"chat_id": CHANNEL, "text": "x"}}
        ),
    ]
    for thread in threads:
        thread.start()
    fake.wait_for(lambda t: len(t.requests) == 2)
    started = time.monotonic()
    fake.stop()
    for thread in threads:
        thread.join(timeout=5)
    assert time.monotonic() - started < 2
    assert {"ok": True, "result": []} in results
    assert len(fake.sent) == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{fake.url}/bot{TOKEN}/getMe")


def test_a_request_cut_before_its_body_arrived_is_recorded_and_does_nothing(tg: FakeTelegram) -> None:
    """A client killed between the headers and the body: the request was on the wire."""
    port = int(tg.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(
            f"POST /bot{TOKEN}/sendMessage HTTP/1.1\r\nHost: x\r\n"
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"chat'.encode()
        )
    tg.wait_for(lambda fake: len(fake.requests) == 1)
    [request] = tg.requests
    assert (request.method, request.params) == ("sendMessage", {})
    assert tg.sent == []

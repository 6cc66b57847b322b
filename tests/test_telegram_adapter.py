"""The Telegram adapter against the loopback Bot API server, over real HTTP."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import ssl
import struct
import time
import traceback
import zlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.telegram.inspect import TelegramInspector
from bot.adapters.telegram.reader import TelegramReader
from bot.adapters.telegram.sender import TelegramSender
from bot.adapters.telegram.transport import TOKEN_REFUSED
from bot.core.markdown import render
from bot.domain import Channel, Media, Publication
from bot.logs import RedactingFilter, configure_logging, quiet_libraries
from bot.networks.telegram import length, shown_text
from bot.ports import OutcomeUnknown, PermanentError, RateLimited, Receipt, TemporaryError
from tests.data import Network
from tests.fakes.telegram_api import JSON, ApiError, FakeTelegram, _Params


async def no_wait() -> None:
    """The publisher's ``on_wire``: these tests have no ledger to record the attempt in."""


TOKEN = "1234567:TEST-relais-fake-token-0123456789abcdef"  # the shape of a real token
CHANNEL = -1001234567890  # @GautrinWeb2
GROUP = -1009876543210  # a supergroup without a username
MONTREAL = ZoneInfo("America/Montreal")
# PTB 22 warns, inside RetryAfter's constructor, that retry_after will become a timedelta
no_retry_after_warning = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


class FakeTelegramWithAlbums(FakeTelegram):
    """The fake plus ``sendMediaGroup`` for photos, which it does not implement (yet): each
    item goes through the fake's own sendPhoto, and the messages share a media_group_id."""

    _METHODS: ClassVar[dict[str, str]] = {**FakeTelegram._METHODS, "sendmediagroup": "sendMediaGroup"}

    def _api_sendMediaGroup(self, p: _Params) -> list[JSON]:
        items = p.decoded("media") or []
        if not 2 <= len(items) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media specified")
        group_id = f"1357{len(self._sent):08d}"
        messages = []
        for item in items:
            if item.get("type") != "photo":
                raise ApiError(400, "Bad Request: this fake sends albums of photos only")
            fields = {
                "chat_id": p.raw.get("chat_id"),
                "photo": item.get("media"),
                "caption": item.get("caption"),
                "parse_mode": item.get("parse_mode"),
            }
            params = _Params({k: v for k, v in fields.items() if v is not None}, p.files, p.received)
            message = self._api_sendPhoto(params)
            message["media_group_id"] = group_id
            messages.append(message)
        return messages


@pytest.fixture
def tg() -> Iterator[FakeTelegramWithAlbums]:
    with FakeTelegramWithAlbums(token=TOKEN, rate_limited=False) as fake:
        fake.add_chat(CHANNEL, "channel", username="GautrinWeb2", title="Gautrin Web 2")
        fake.add_chat(GROUP, "supergroup", title="Gautrin, discussion")
        yield fake


@pytest.fixture
async def sender(tg: FakeTelegram) -> AsyncIterator[TelegramSender]:
    telegram = TelegramSender(TOKEN, tg.url, timeout=5.0)
    await telegram.start()
    yield telegram
    await telegram.close()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo configure_logging(): our handler, the record factory, the levels."""
    root = logging.getLogger()
    factory, level = logging.getLogRecordFactory(), root.level
    libraries = {name: logging.getLogger(name).level for name in quiet_libraries()}
    yield
    configure_logging([])  # forget the secrets
    for handler in [h for h in root.handlers if any(isinstance(f, RedactingFilter) for f in h.filters)]:
        root.removeHandler(handler)
    logging.setLogRecordFactory(factory)
    root.setLevel(level)
    for name, value in libraries.items():
        logging.getLogger(name).setLevel(value)


def publication(text: str, chat: str | int = "@GautrinWeb2", media: tuple[Media, ...] = ()) -> Publication:
    return Publication(
        campaign="essai",
        id="annonce",
        channel=Channel("tg", Network.TELEGRAM, chat=chat),
        at=datetime(2026, 11, 27, 15, 0, tzinfo=UTC),
        timezone=MONTREAL,
        text=text,
        length=length(shown_text(text)),
        limit=1024 if media else 4096,
        language="fr-CA",
        media=media,
    )


def png(path: Path) -> Media:
    """A valid 1×1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
    return Media(path, f"Affiche {path.stem}")


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- sending -----------------------------------------------------------------------------------


async def test_every_bot_of_the_process_shares_one_tls_context() -> None:
    """httpx builds a TLS context for each transport, loading certifi's authorities into it
    (about 1.1 MB resident each): relais run had six, two per bot (sender, reader, and the
    check at start). The bots' transports share one."""

    def contexts() -> list[ssl.SSLContext]:
        return [o for o in gc.get_objects() if isinstance(o, ssl.SSLContext)]

    before = contexts()
    kinds = (TelegramSender, TelegramReader, TelegramInspector)
    bots = [kind(TOKEN, "https://api.telegram.org") for kind in kinds]
    made = [c for c in contexts() if not any(c is old for old in before)]
    for bot in bots:
        await bot.close()
    assert len(made) <= 1


@pytest.mark.slow
async def test_text_is_sent_as_html_and_the_receipt_names_the_message(
    sender: TelegramSender, tg: FakeTelegram
) -> None:
    receipt = await sender.publish(
        publication("Bonjour &lt;tout le monde&gt; &amp; <b>bienvenue</b>"), on_wire=no_wait
    )

    (sent,) = tg.sent
    assert (sent.method, sent.chat_id, sent.parse_mode) == ("sendMessage", CHANNEL, "HTML")
    assert sent.text == "Bonjour <tout le monde> & bienvenue"
    assert receipt == Receipt(f"{CHANNEL}:{sent.message_id}", f"https://t.me/GautrinWeb2/{sent.message_id}")


async def test_rendered_markdown_arrives_with_its_entities(sender: TelegramSender, tg: FakeTelegram) -> None:
    rendered = render("**Bravo** à tous : [le site](https://example.org/campagne?a=1&b=2) #gautrinweb2")

    await sender.publish(publication(rendered.html), on_wire=no_wait)

    (sent,) = tg.sent
    assert sent.text == rendered.html_shown == "Bravo à tous : le site #gautrinweb2"
    assert sent.entities == [
        {"type": "bold", "offset": 0, "length": 5},
        {"type": "text_link", "url": "https://example.org/campagne?a=1&b=2", "offset": 15, "length": 7},
        {"type": "hashtag", "offset": 23, "length": 12},
    ]


async def test_a_text_over_the_limit_is_refused_before_sending(
    sender: TelegramSender, tg: FakeTelegram
) -> None:
    with pytest.raises(PermanentError, match="4097 characters"):
        await sender.publish(publication("<b>x</b>" + "x" * 4096), on_wire=no_wait)
    assert tg.sent == []


async def test_one_photo_carries_the_text_as_caption(
    sender: TelegramSender, tg: FakeTelegram, tmp_path: Path
) -> None:
    media = png(tmp_path / "affiche.png")

    receipt = await sender.publish(publication("<b>Ce soir</b> à 19 h", media=(media,)), on_wire=no_wait)

    (sent,) = tg.sent
    assert sent.method == "sendPhoto"
    assert sent.photo_size == media.path.stat().st_size
    assert sent.caption == "Ce soir à 19 h"
    assert sent.entities == [{"type": "bold", "offset": 0, "length": 7}]
    assert receipt.url == f"https://t.me/GautrinWeb2/{sent.message_id}"


async def test_two_photos_go_as_an_album_with_the_caption_on_the_first(
    sender: TelegramSender, tg: FakeTelegram, tmp_path: Path
) -> None:
    media = (png(tmp_path / "un.png"), png(tmp_path / "deux.png"))

    receipt = await sender.publish(publication("Deux <i>affiches</i>", media=media), on_wire=no_wait)

    first, second = tg.sent
    assert [r.method for r in tg.requests] == ["getMe", "sendMediaGroup"]
    assert first.message["media_group_id"] == second.message["media_group_id"]
    assert (first.caption, second.caption) == ("Deux affiches", None)
    assert first.entities == [{"type": "italic", "offset": 5, "length": 8}]
    assert first.photo_size == second.photo_size == media[0].path.stat().st_size
    assert receipt == Receipt(f"{CHANNEL}:{first.message_id}", f"https://t.me/GautrinWeb2/{first.message_id}")


async def test_a_missing_photo_is_a_permanent_error(
    sender: TelegramSender, tg: FakeTelegram, tmp_path: Path
) -> None:
    with pytest.raises(PermanentError, match="cannot read"):
        await sender.publish(publication("x", media=(Media(tmp_path / "absent.png", "?"),)), on_wire=no_wait)
    assert tg.sent == []


@pytest.mark.slow
async def test_a_numeric_chat_id(sender: TelegramSender, tg: FakeTelegram) -> None:
    channel = await sender.publish(publication("canal", chat=CHANNEL), on_wire=no_wait)
    group = await sender.publish(publication("groupe", chat=str(GROUP)), on_wire=no_wait)

    assert [s.chat_id for s in tg.sent] == [CHANNEL, GROUP]
    assert channel.url == "https://t.me/GautrinWeb2/1"  # the chat's username, from the answer
    assert group == Receipt(f"{GROUP}:1", None)  # no username: no public link


async def test_an_alert_is_plain_text(sender: TelegramSender, tg: FakeTelegram) -> None:
    tg.add_chat(4242, "private", first_name="Équipe")

    receipt = await sender.send_alert(4242, "Échec de <annonce> : 5 > 4 & co")

    (sent,) = tg.sent
    assert (sent.chat_id, sent.text, sent.entities) == (4242, "Échec de <annonce> : 5 > 4 & co", [])
    assert receipt == Receipt(f"4242:{sent.message_id}", None)


@pytest.mark.slow
async def test_a_migrated_group_is_followed_and_remembered(
    sender: TelegramSender, tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    tg.add_chat(-4001, "group", title="Ancien groupe")
    tg.migrate_chat(-4001, -1004001)

    with caplog.at_level(logging.WARNING, logger="bot.adapters.telegram"):
        first = await sender.publish(publication("un", chat=-4001), on_wire=no_wait)
        second = await sender.publish(publication("deux", chat=-4001), on_wire=no_wait)

    assert [(s.chat_id, s.text) for s in tg.sent] == [(-1004001, "un"), (-1004001, "deux")]
    assert (first.remote_id, second.remote_id) == ("-1004001:1", "-1004001:2")
    targets = [str(r.params["chat_id"]) for r in tg.requests if r.method == "sendMessage"]
    assert targets == ["-4001", "-1004001", "-1004001"]  # the old id is tried once only
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "-4001" in record.getMessage()
    assert "`chat: -1004001`" in record.getMessage()
    assert "campaign 'essai'" in record.getMessage()


# -- errors ------------------------------------------------------------------------------------


@no_retry_after_warning
async def test_flood_control_is_rate_limited_with_the_delay(sender: TelegramSender, tg: FakeTelegram) -> None:
    tg.retry_after(7, method="sendMessage")

    with pytest.raises(RateLimited) as caught:
        await sender.publish(publication("vite"), on_wire=no_wait)

    assert caught.value.retry_after == 7.0
    assert tg.sent == []


async def test_a_server_error_is_temporary(sender: TelegramSender, tg: FakeTelegram) -> None:
    tg.fail("sendMessage", status=500)

    with pytest.raises(TemporaryError) as caught:
        await sender.publish(publication("x"), on_wire=no_wait)

    assert type(caught.value) is TemporaryError
    assert "Internal Server Error" in str(caught.value)
    assert tg.sent == []


async def test_a_bad_gateway_may_have_been_published(sender: TelegramSender, tg: FakeTelegram) -> None:
    tg.fail("sendMessage", status=502)  # Telegram's front end: the bot API may have acted

    with pytest.raises(OutcomeUnknown, match="Bad Gateway"):
        await sender.publish(publication("x"), on_wire=no_wait)


async def test_other_client_errors_are_permanent(sender: TelegramSender, tg: FakeTelegram) -> None:
    tg.fail("sendMessage", status=413)

    with pytest.raises(PermanentError, match="Request Entity Too Large"):
        await sender.publish(publication("x"), on_wire=no_wait)


async def test_an_unknown_chat_is_refused_with_telegrams_description(sender: TelegramSender) -> None:
    with pytest.raises(PermanentError) as caught:
        await sender.publish(publication("x", chat="@personne"), on_wire=no_wait)

    assert str(caught.value) == "Telegram refused: Chat not found"  # PTB rewords "Bad Request: chat…"


async def test_forbidden_is_permanent(sender: TelegramSender, tg: FakeTelegram) -> None:
    tg.fail("sendMessage", status=403, description="Forbidden: bot is not a member of the channel chat")

    with pytest.raises(PermanentError, match="bot is not a member of the channel chat"):
        await sender.publish(publication("x"), on_wire=no_wait)


@pytest.mark.slow
async def test_no_answer_in_time_is_an_unknown_outcome(tg: FakeTelegram) -> None:
    telegram = TelegramSender(TOKEN, tg.url, timeout=0.3)
    await telegram.start()
    tg.delay(5, method="sendMessage")
    try:
        with pytest.raises(OutcomeUnknown, match="may have been published"):
            await telegram.publish(publication("peut-être"), on_wire=no_wait)
    finally:
        await telegram.close()

    assert [s.text for s in tg.sent] == ["peut-être"]  # the server did publish it


@pytest.mark.slow
async def test_a_connection_lost_after_sending_is_an_unknown_outcome(
    sender: TelegramSender, tg: FakeTelegram
) -> None:
    tg.drop_after_receive(method="sendMessage")

    with pytest.raises(OutcomeUnknown, match="connection to Telegram was lost"):
        await sender.publish(publication("perdu"), on_wire=no_wait)

    assert [s.text for s in tg.sent] == ["perdu"]
    await sender.publish(publication("ensuite"), on_wire=no_wait)  # the sender still works
    assert len(tg.sent) == 2


async def test_a_closed_port_is_temporary(tmp_path: Path) -> None:
    telegram = TelegramSender(TOKEN, closed_port_url(), timeout=2.0)
    try:
        with pytest.raises(TemporaryError, match="cannot connect to Telegram") as caught:
            await telegram.start()
        assert type(caught.value) is TemporaryError
        with pytest.raises(TemporaryError, match="nothing was sent"):
            await telegram.publish(publication("x"), on_wire=no_wait)
    finally:
        await telegram.close()


async def test_on_wire_is_awaited_once_right_before_the_request(
    sender: TelegramSender, tg: FakeTelegram
) -> None:
    received_before: list[int] = []

    async def on_wire() -> None:
        received_before.append(len(tg.sent))

    await sender.publish(publication("maintenant"), on_wire=on_wire)

    assert received_before == [0]
    assert [s.text for s in tg.sent] == ["maintenant"]


async def test_a_request_that_cannot_connect_was_never_on_the_wire() -> None:
    """The attempt is recorded once a connection is ready: a crash while connecting, or while
    waiting for a connection, leaves the publication pending instead of in doubt."""
    on_wire_calls: list[str] = []

    async def on_wire() -> None:
        on_wire_calls.append("on the wire")

    telegram = TelegramSender(TOKEN, closed_port_url(), timeout=2.0)
    try:
        with pytest.raises(TemporaryError, match="nothing was sent"):
            await telegram.publish(publication("x"), on_wire=on_wire)
    finally:
        await telegram.close()
    assert on_wire_calls == []


@pytest.mark.slow
async def test_a_refused_token_is_permanent_and_never_shown(tg: FakeTelegram) -> None:
    wrong = "1234567:TEST-this-is-not-the-right-token-0123456"
    telegram = TelegramSender(wrong, tg.url)
    try:
        with pytest.raises(PermanentError) as caught:
            await telegram.start()
        with pytest.raises(PermanentError) as on_publish:
            await telegram.publish(publication("x"), on_wire=no_wait)
    finally:
        await telegram.close()

    for error in (caught.value, on_publish.value):
        assert str(error) == TOKEN_REFUSED
        shown = "".join(traceback.format_exception(error)) + repr(error)
        assert wrong not in shown
        assert "TEST-this" not in shown
        assert error.__cause__ is None
        assert error.__context__ is None
    assert wrong not in repr(telegram)


# -- rate limits -------------------------------------------------------------------------------


def chats(tg: FakeTelegram, count: int) -> list[int]:
    ids = [-1002000000000 - n for n in range(count)]
    for n, chat in enumerate(ids):
        tg.add_chat(chat, "channel", username=f"canal_numero_{n}")
    return ids


@pytest.mark.slow
async def test_45_chats_are_paced_under_the_flood_limits(tg: FakeTelegram) -> None:
    tg.rate_limits()  # Telegram's: 30 a second, 20 a minute per chat
    ids = chats(tg, 45)
    telegram = TelegramSender(TOKEN, tg.url)
    await telegram.start()
    started = time.monotonic()
    try:
        receipts = await asyncio.gather(
            *(telegram.publish(publication(f"n°{n}", chat), on_wire=no_wait) for n, chat in enumerate(ids))
        )
    finally:
        await telegram.close()
    elapsed = time.monotonic() - started

    assert tg.too_many_requests == 0
    assert len(receipts) == len(tg.sent) == 45
    arrivals = sorted(s.received_at for s in tg.sent)
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= 30
    assert elapsed >= 0.5  # 45 messages at 30 a second at most


@pytest.mark.slow
@no_retry_after_warning
async def test_without_the_limiter_the_fake_does_answer_429(tg: FakeTelegram) -> None:
    """The control for the test above: the fake's flood limit is real."""
    tg.rate_limits()
    ids = chats(tg, 45)
    telegram = TelegramSender(TOKEN, tg.url, rate_limit=False)
    await telegram.start()
    try:
        results = await asyncio.gather(
            *(telegram.publish(publication("x", chat), on_wire=no_wait) for chat in ids),
            return_exceptions=True,
        )
    finally:
        await telegram.close()

    limited = [r for r in results if isinstance(r, RateLimited)]
    assert limited
    assert tg.too_many_requests == len(limited)
    assert all(r.retry_after >= 1 for r in limited)


# -- secrets in logs ---------------------------------------------------------------------------


@pytest.mark.slow
async def test_the_token_is_in_no_log_record(
    tg: FakeTelegram, caplog: pytest.LogCaptureFixture, restore_logging: None
) -> None:
    configure_logging([TOKEN])
    caplog.set_level(logging.DEBUG)
    for name in (*quiet_libraries(), "bot"):
        caplog.set_level(logging.DEBUG, logger=name)

    telegram = TelegramSender(TOKEN, tg.url)
    await telegram.start()
    try:
        await telegram.publish(publication("bonjour"), on_wire=no_wait)
        tg.drop_after_receive(method="sendMessage")
        with pytest.raises(OutcomeUnknown):
            await telegram.publish(publication("perdu"), on_wire=no_wait)
        with pytest.raises(PermanentError):
            await telegram.publish(publication("x", chat="@personne"), on_wire=no_wait)
    finally:
        await telegram.close()
    wrong = TelegramSender(TOKEN[:-1] + "X", tg.url)  # PTB puts this one in its InvalidToken
    with pytest.raises(PermanentError):
        await wrong.start()
    await wrong.close()
    logging.getLogger("bot.test").error("while sending %s", f"{tg.url}/bot{TOKEN}/sendMessage")

    messages = [r.getMessage() for r in caplog.records]
    assert any("/bot[redacted]/sendMessage" in m for m in messages)  # httpx did log the URLs
    for record in caplog.records:
        assert TOKEN not in repr(vars(record))
        assert TOKEN[:-1] not in repr(vars(record))
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1][:20] not in caplog.text


# -- on the wire: only once the flood limiter lets a request through --------------------------


@pytest.mark.slow
async def test_on_wire_comes_after_the_flood_limiter_and_a_waiting_send_can_be_cancelled(
    tg: FakeTelegram,
) -> None:
    """A burst to one channel: 4 at once, then one every few seconds. The fifth send waits in
    the limiter with nothing on the wire: cancelling it sends nothing and records nothing."""
    telegram = TelegramSender(TOKEN, tg.url)
    await telegram.start()
    wired: list[tuple[str, int]] = []  # (text, messages the server had when on_wire was awaited)

    def hook(text: str):
        async def on_wire() -> None:
            wired.append((text, len(tg.sent)))

        return on_wire

    try:
        sends = [
            asyncio.ensure_future(telegram.publish(publication(f"n°{n}"), on_wire=hook(f"n°{n}")))
            for n in range(5)
        ]
        done: set[asyncio.Future[Receipt]] = set()
        while len(done) < 4:
            finished, _ = await asyncio.wait(set(sends) - done, return_when=asyncio.FIRST_COMPLETED)
            done |= finished
        waiting = set(sends) - done
        assert len(waiting) == 1  # the fifth waits some 4 s for the limiter
        assert len(tg.sent) == 4
        assert sorted(text for text, _ in wired) == sorted(m.text for m in tg.sent)
        assert all(before < 4 for _, before in wired)  # each was awaited before its request
        [late] = waiting
        late.cancel()
        with pytest.raises(asyncio.CancelledError):
            await late
        assert len(tg.sent) == 4
        assert len(wired) == 4
    finally:
        await telegram.close()


@pytest.mark.slow
async def test_when_on_wire_refuses_nothing_is_sent_and_its_error_comes_out(
    tg: FakeTelegram, sender: TelegramSender
) -> None:
    class StoreDown(Exception):
        pass

    async def refuse() -> None:
        raise StoreDown("the attempt could not be recorded")

    with pytest.raises(StoreDown):
        await sender.publish(publication("jamais"), on_wire=refuse)
    assert tg.sent == []
    assert [r.method for r in tg.requests if r.method == "sendMessage"] == []
    await sender.publish(publication("ensuite"), on_wire=no_wait)  # the sender still works
    assert [m.text for m in tg.sent] == ["ensuite"]

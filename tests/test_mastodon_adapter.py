"""The Mastodon adapter against the loopback fake: real HTTP through Mastodon.py."""

from __future__ import annotations

import asyncio
import socket
import threading
import traceback
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.mastodon.sender import MastodonSender
from bot.domain import Channel, Media, Publication
from bot.networks.mastodon import length as mastodon_length
from bot.ports import PermanentError, RateLimited, TemporaryError
from tests.data import Network
from tests.fakes.mastodon_api import FakeMastodon


async def no_wait() -> None:
    """The publisher's ``on_wire``: these tests have no ledger to record the attempt in."""


TOKEN = "s3cret-mastodon-token-for-tests"
STATUSES = "/api/v1/statuses"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
CHANNEL = Channel("mastodon", Network.MASTODON, visibility="unlisted")


@pytest.fixture
def md() -> Iterator[FakeMastodon]:
    with FakeMastodon(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def sender(md: FakeMastodon) -> AsyncIterator[MastodonSender]:
    mastodon = MastodonSender(md.url, TOKEN, timeout=5.0)
    await mastodon.start()
    yield mastodon
    await mastodon.close()


def publication(
    text: str = "Bonjour #Relais",
    *,
    id: str = "annonce",
    channel: Channel = CHANNEL,
    warning: str | None = None,
    media: tuple[Media, ...] = (),
) -> Publication:
    return Publication(
        campaign="essai",
        id=id,
        channel=channel,
        at=datetime(2025, 3, 1, 14, 0, tzinfo=UTC),
        timezone=ZoneInfo("America/Montreal"),
        text=text,
        length=mastodon_length(text, warning or ""),
        limit=500,
        language="fr-CA",
        media=media,
        warning=warning,
    )


def status_posts(md: FakeMastodon) -> list:
    return [r for r in md.requests if r.method == "POST" and r.path == STATUSES]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ---- start ---------------------------------------------------------------------------


async def test_start_reads_the_instance_limits_and_the_account(md: FakeMastodon) -> None:
    md.max_characters = 1000
    md.characters_reserved_per_url = 30
    sender = MastodonSender(md.url, TOKEN)
    await sender.start()
    assert (sender.max_characters, sender.url_length, sender.account) == (1000, 30, "relais")
    await sender.close()


async def test_start_falls_back_to_default_limits_when_the_instance_omits_them(md: FakeMastodon) -> None:
    md.malformed(path="/api/v2/instance", body='{"configuration": {}}')
    sender = MastodonSender(md.url, TOKEN)
    await sender.start()
    assert (sender.max_characters, sender.url_length) == (500, 23)


async def test_start_keeps_the_default_limits_without_instance_v2(md: FakeMastodon) -> None:
    md.fail(path="/api/v2/instance", status=404, body='{"error": "Record not found"}')
    sender = MastodonSender(md.url, TOKEN)
    await sender.start()
    assert (sender.max_characters, sender.url_length) == (500, 23)


async def test_bad_token_is_permanent_and_never_shown(md: FakeMastodon) -> None:
    wrong = "wrong-token-that-must-not-leak"
    sender = MastodonSender(md.url, wrong)
    with pytest.raises(PermanentError) as caught:
        await sender.start()
    message = str(caught.value)
    assert message.startswith("Mastodon refused the access token (RELAIS_MASTODON_TOKEN)")
    assert "The access token is invalid" in message
    everything = "".join(traceback.format_exception(caught.value)) + repr(caught.value) + repr(sender)
    assert wrong not in everything
    assert TOKEN not in repr(sender)


@pytest.mark.slow
async def test_unreachable_server_at_start_is_temporary() -> None:
    sender = MastodonSender(closed_port_url(), TOKEN, timeout=2.0)
    with pytest.raises(TemporaryError) as caught:
        await sender.start()
    assert not isinstance(caught.value, RateLimited)
    assert TOKEN not in "".join(traceback.format_exception(caught.value))


async def test_a_sender_that_could_not_start_starts_when_it_first_publishes(md: FakeMastodon) -> None:
    md.fail(path="/api/v2/instance", status=503)
    sender = MastodonSender(md.url, TOKEN)
    with pytest.raises(TemporaryError):
        await sender.start()  # the instance is down when the bot starts
    receipt = await sender.publish(publication(), on_wire=no_wait)  # later, it is back: no restart needed
    assert [s["id"] for s in md.statuses] == [receipt.remote_id]


# ---- publishing ----------------------------------------------------------------------


async def test_post_and_receipt(md: FakeMastodon, sender: MastodonSender) -> None:
    receipt = await sender.publish(publication("Bonjour #Relais", warning="Annonce"), on_wire=no_wait)
    [status] = md.statuses
    assert receipt.remote_id == status["id"]
    assert receipt.url == status["url"] == f"{md.url}/@relais/{status['id']}"
    assert (status["visibility"], status["language"], status["spoiler_text"]) == ("unlisted", "fr", "Annonce")
    assert status["content"].startswith("<p>Bonjour ")
    [request] = status_posts(md)
    assert request.params["language"] == "fr"


async def test_no_warning_sends_no_spoiler_text(md: FakeMastodon, sender: MastodonSender) -> None:
    await sender.publish(publication(), on_wire=no_wait)
    assert md.statuses[0]["spoiler_text"] == ""
    assert md.statuses[0]["sensitive"] is False


async def test_idempotency_key_is_stable_per_publication(md: FakeMastodon, sender: MastodonSender) -> None:
    first = await sender.publish(publication(), on_wire=no_wait)
    again = await sender.publish(publication(), on_wire=no_wait)
    other_id = await sender.publish(publication(id="rappel"), on_wire=no_wait)
    other_channel = await sender.publish(
        publication(channel=Channel("autre", Network.MASTODON, visibility="unlisted")), on_wire=no_wait
    )
    keys = [r.idempotency_key for r in status_posts(md)]
    assert keys[0] == keys[1]
    assert keys[0] is not None
    assert keys[0].startswith("relais-")
    assert len(set(keys)) == 3
    assert again.remote_id == first.remote_id
    assert len({first.remote_id, other_id.remote_id, other_channel.remote_id}) == 3
    assert len(md.statuses) == 3


async def test_idempotency_key_survives_a_new_sender(md: FakeMastodon, sender: MastodonSender) -> None:
    """As after a crash and a restart: a new process sends the same key."""
    first = await sender.publish(publication(), on_wire=no_wait)
    restarted = MastodonSender(md.url, TOKEN)
    await restarted.start()
    again = await restarted.publish(publication(), on_wire=no_wait)
    assert again.remote_id == first.remote_id
    assert len(md.statuses) == 1
    await restarted.close()


async def test_media_uploaded_with_alt_text_and_attached(
    md: FakeMastodon, sender: MastodonSender, tmp_path: Path
) -> None:
    poster, photo = tmp_path / "affiche.png", tmp_path / "photo.png"
    poster.write_bytes(PNG)
    photo.write_bytes(PNG + b"2")
    media = (Media(poster, "Affiche de la campagne"), Media(photo, "Photo de l'équipe"))
    await sender.publish(publication("Avec images", media=media), on_wire=no_wait)
    uploaded = md.media
    assert [m["description"] for m in uploaded] == ["Affiche de la campagne", "Photo de l'équipe"]
    assert md.media_file(uploaded[0]["id"]) == PNG
    [status] = md.statuses
    assert [m["id"] for m in status["media_attachments"]] == [m["id"] for m in uploaded]


@pytest.mark.slow
async def test_media_still_processing_is_waited_for(
    md: FakeMastodon, sender: MastodonSender, tmp_path: Path
) -> None:
    md.async_media = True
    poster = tmp_path / "affiche.png"
    poster.write_bytes(PNG)

    def finish_when_uploaded() -> None:
        if md.wait_for(lambda: any(r.path == "/api/v2/media" and r.status == 202 for r in md.requests)):
            md.finish_media_processing()

    helper = threading.Thread(target=finish_when_uploaded)
    helper.start()
    await sender.publish(publication("Avec image", media=(Media(poster, "Affiche"),)), on_wire=no_wait)
    await asyncio.to_thread(helper.join)
    [status] = md.statuses
    assert status["media_attachments"][0]["url"] is not None


async def test_missing_media_file_is_permanent(
    md: FakeMastodon, sender: MastodonSender, tmp_path: Path
) -> None:
    with pytest.raises(PermanentError, match=r"nope\.png"):
        await sender.publish(publication(media=(Media(tmp_path / "nope.png", "Rien"),)), on_wire=no_wait)
    assert md.statuses == []


# ---- length --------------------------------------------------------------------------


async def test_the_instance_limit_is_checked_before_posting(md: FakeMastodon) -> None:
    md.max_characters = 100
    sender = MastodonSender(md.url, TOKEN)
    await sender.start()
    with pytest.raises(PermanentError, match="allows 100 characters and the post has 150"):
        await sender.publish(publication("x" * 150), on_wire=no_wait)
    assert status_posts(md) == []


async def test_content_warning_counts_toward_the_limit(md: FakeMastodon) -> None:
    md.max_characters = 100
    sender = MastodonSender(md.url, TOKEN)
    await sender.start()
    with pytest.raises(PermanentError, match="the post has 101"):
        await sender.publish(publication("x" * 90, warning="y" * 11), on_wire=no_wait)
    assert status_posts(md) == []


async def test_links_count_as_url_length(md: FakeMastodon, sender: MastodonSender) -> None:
    url = "https://example.com/" + "a" * 80
    assert len(url) == 100
    text = "x" * 379 + " " + url  # 480 characters, 403 as Mastodon counts them
    assert len(text) == 480
    await sender.publish(publication(text), on_wire=no_wait)
    assert len(md.statuses) == 1


# ---- errors --------------------------------------------------------------------------


async def test_rate_limited_with_the_server_reset(md: FakeMastodon, sender: MastodonSender) -> None:
    md.rate_limited(reset_in=30.0, path=STATUSES)
    with pytest.raises(RateLimited) as caught:
        await sender.publish(publication(), on_wire=no_wait)
    assert 25.0 <= caught.value.retry_after <= 32.0
    assert isinstance(caught.value, TemporaryError)
    assert md.statuses == []


@pytest.mark.parametrize(("reset_in", "low", "high"), [(3600.0, 900.0, 900.0), (0.2, 1.0, 2.0)])
async def test_rate_limit_retry_after_is_bounded(
    md: FakeMastodon, sender: MastodonSender, reset_in: float, low: float, high: float
) -> None:
    md.rate_limited(reset_in=reset_in, path=STATUSES)
    with pytest.raises(RateLimited) as caught:
        await sender.publish(publication(), on_wire=no_wait)
    assert low <= caught.value.retry_after <= high


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_temporary(md: FakeMastodon, sender: MastodonSender, status: int) -> None:
    md.fail(path=STATUSES, status=status)
    with pytest.raises(TemporaryError) as caught:
        await sender.publish(publication(), on_wire=no_wait)
    assert not isinstance(caught.value, RateLimited)
    assert str(status) in str(caught.value)


async def test_validation_error_is_permanent_with_the_server_message(
    md: FakeMastodon, sender: MastodonSender
) -> None:
    md.max_characters = 100  # lowered after start: only the server knows
    with pytest.raises(PermanentError) as caught:
        await sender.publish(publication("x" * 150), on_wire=no_wait)
    assert "422" in str(caught.value)
    assert "Validation failed: Text character limit of 100 exceeded" in str(caught.value)


async def test_invalid_visibility_is_permanent(md: FakeMastodon, sender: MastodonSender) -> None:
    channel = Channel("mastodon", Network.MASTODON, visibility="everyone")
    with pytest.raises(PermanentError, match="Invalid visibility value"):
        await sender.publish(publication(channel=channel), on_wire=no_wait)
    assert status_posts(md) == []


async def test_revoked_token_while_publishing_is_permanent(md: FakeMastodon, sender: MastodonSender) -> None:
    md.fail(path=STATUSES, status=401, body='{"error": "The access token was revoked"}')
    with pytest.raises(PermanentError, match=r"RELAIS_MASTODON_TOKEN.*The access token was revoked"):
        await sender.publish(publication(), on_wire=no_wait)


@pytest.mark.slow
async def test_timeout_then_retry_returns_the_same_status(md: FakeMastodon) -> None:
    sender = MastodonSender(md.url, TOKEN, timeout=0.5)
    await sender.start()
    md.delay(5.0, path=STATUSES)
    with pytest.raises(TemporaryError, match="Timeout"):
        await sender.publish(publication(), on_wire=no_wait)
    assert len(md.statuses) == 1  # it was created: the answer was late
    receipt = await sender.publish(publication(), on_wire=no_wait)
    assert receipt.remote_id == md.statuses[0]["id"]
    assert len(md.statuses) == 1
    await sender.close()


async def test_connection_dropped_then_retry_gives_one_status(
    md: FakeMastodon, sender: MastodonSender
) -> None:
    md.drop_after_receive(path=STATUSES)
    with pytest.raises(TemporaryError):
        await sender.publish(publication(), on_wire=no_wait)
    receipt = await sender.publish(publication(), on_wire=no_wait)
    [status] = md.statuses
    assert receipt.remote_id == status["id"]


@pytest.mark.parametrize("body", ['{"id": "1", "content": ', "[]", '{"unexpected": true}'])
async def test_malformed_answer_is_temporary(md: FakeMastodon, sender: MastodonSender, body: str) -> None:
    md.malformed(path=STATUSES, body=body)
    with pytest.raises(TemporaryError):
        await sender.publish(publication(), on_wire=no_wait)
    receipt = await sender.publish(publication(), on_wire=no_wait)
    [status] = md.statuses
    assert receipt.remote_id == status["id"]


async def test_closed_port_is_temporary(md: FakeMastodon) -> None:
    gone = MastodonSender(md.url, TOKEN)
    await gone.start()
    md.stop()
    with pytest.raises(TemporaryError, match="no answer from Mastodon"):
        await gone.publish(publication(), on_wire=no_wait)


@pytest.mark.slow
async def test_the_event_loop_stays_responsive_during_a_slow_call(
    md: FakeMastodon, sender: MastodonSender
) -> None:
    md.delay(1.5, path=STATUSES)
    order: list[str] = []
    publishing = asyncio.create_task(sender.publish(publication(), on_wire=no_wait))
    publishing.add_done_callback(lambda _: order.append("published"))
    # The loop has to run to see this thread finish; a blocked loop would only see it
    # after the slow publish returned.
    received = await asyncio.to_thread(md.wait_for, lambda: any(r.path == STATUSES for r in md.requests))
    assert received
    other = asyncio.Event()
    asyncio.get_running_loop().call_soon(other.set)
    await other.wait()
    order.append("other task")
    receipt = await publishing
    assert order == ["other task", "published"]
    assert receipt.remote_id == md.statuses[0]["id"]


# -- on the wire: right before the status is posted -------------------------------------------


async def test_on_wire_is_awaited_after_the_uploads_right_before_the_status(
    md: FakeMastodon, sender: MastodonSender, tmp_path: Path
) -> None:
    seen: list[tuple[int, int]] = []  # (media uploaded, status requests) when on_wire was awaited

    async def on_wire() -> None:
        seen.append((len(md.media), len([r for r in md.requests if r.path == STATUSES])))

    poster = tmp_path / "affiche.png"
    poster.write_bytes(PNG)
    await sender.publish(publication("Avec image", media=(Media(poster, "Affiche"),)), on_wire=on_wire)
    assert seen == [(1, 0)]
    assert len(md.statuses) == 1


async def test_when_on_wire_refuses_no_status_is_posted(md: FakeMastodon, sender: MastodonSender) -> None:
    class StoreDown(Exception):
        pass

    async def refuse() -> None:
        raise StoreDown("the attempt could not be recorded")

    with pytest.raises(StoreDown):
        await sender.publish(publication(), on_wire=refuse)
    assert [r for r in md.requests if r.path == STATUSES] == []
    assert md.statuses == []

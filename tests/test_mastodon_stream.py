"""Mastodon's streams, read by the real adapter (Mastodon.py's server-sent events client) from
the loopback fake, and by the real collector into a real store: replies as they are posted,
deletions and edits within seconds, the gap of a stream that was down read at its
reconnection, polling when the instance offers no streaming."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from sqlalchemy import Engine

from bot.adapters.mastodon.reader import MastodonReader
from bot.adapters.mastodon.stream import MastodonStreams
from bot.clock import SystemClock
from bot.domain import Removal, Reply
from bot.ports import StreamEvent
from bot.services.collector import Collector, CollectorTiming
from bot.store.handle import Store
from tests.fakes.mastodon_api import FakeMastodon
from tests.inprocess import CAMPAIGN, TAG

TOKEN = "s3cret-mastodon-token-for-stream-tests"
LOGGER = "bot.adapters.mastodon"


@pytest.fixture
def md() -> Iterator[FakeMastodon]:
    with FakeMastodon(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def reader(md: FakeMastodon) -> AsyncIterator[MastodonReader]:
    source = MastodonReader(md.url, TOKEN, timeout=5.0)
    await source.start()
    yield source
    await source.close()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> float:
    """Wait for ``condition`` (checked every 20 ms); the seconds it took."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return time.monotonic() - began


async def events_until(
    streams: MastodonStreams, wanted: Callable[[list[StreamEvent]], bool], timeout: float = 10.0
) -> list[StreamEvent]:
    seen: list[StreamEvent] = []
    deadline = time.monotonic() + timeout
    while not wanted(seen):
        assert time.monotonic() < deadline, f"events so far: {seen}"
        seen += await streams.next(0.2)
    return seen


def items(events: list[StreamEvent]) -> list[Reply | Removal]:
    return [item for event in events for item in event.items]


# ---- the adapter ---------------------------------------------------------------------


async def test_the_streams_carry_posts_edits_deletions_and_mentions(
    md: FakeMastodon, reader: MastodonReader
) -> None:
    streams = await reader.streams()
    assert streams is not None
    try:
        streams.follow([TAG])
        connected = await events_until(streams, lambda seen: sum(e.connected for e in seen) == 2)
        assert {e.stream for e in connected if e.connected} == {"mentions", TAG}
        assert sorted(md.open_streams()) == [f"hashtag:{TAG}", "user"]

        status = md.add_remote_status("alice@example.org", f"<p>Bravo #{TAG}</p>")
        md.add_remote_status("bob@example.org", "<p>Sans rapport #autre</p>")
        md.edit_status(status["id"], f"<p>Bravo, corrigé #{TAG}</p>")
        mention = md.add_remote_status("carol@example.org", "<p>@relais merci</p>", mentions=["relais"])
        md.add_mention_notification(mention)
        md.delete_status(status["id"])
        md.delete_status(mention["id"])
        events = await events_until(streams, lambda seen: len(items(seen)) >= 5)
    finally:
        await streams.close()

    def carried(stream: str) -> list[tuple[str, str]]:
        return [(type(i).__name__, i.remote_id) for e in events if e.stream == stream for i in e.items]

    assert carried(TAG) == [  # in order; the other hashtag is not streamed
        ("Reply", status["id"]),
        ("Reply", status["id"]),
        ("Removal", status["id"]),
    ]
    assert carried("mentions") == [
        ("Reply", mention["id"]),
        ("Removal", mention["id"]),  # the deleted status mentioned the bot
    ]
    edit = items([e for e in events if e.stream == TAG])[1]
    assert isinstance(edit, Reply)
    assert edit.edited_at is not None
    assert "corrigé" in edit.text
    assert await asyncio.to_thread(md.wait_for, lambda: not md.open_streams(), 5)  # closed


@pytest.mark.slow
async def test_a_stream_cut_off_connects_again_and_says_so(md: FakeMastodon, reader: MastodonReader) -> None:
    streams = await reader.streams()
    assert streams is not None
    try:
        streams.follow([])
        await events_until(streams, lambda seen: any(e.connected for e in seen))
        assert md.cut_streams() == 1
        seen = await events_until(streams, lambda seen: any(e.connected for e in seen))
    finally:
        await streams.close()
    assert seen[0].down is not None
    assert not seen[0].polling  # reconnecting at once, not polling
    assert seen[-1] == StreamEvent("mentions", connected=True)


async def test_no_streaming_on_the_instance_hands_over_to_polling(
    md: FakeMastodon, reader: MastodonReader, caplog: pytest.LogCaptureFixture
) -> None:
    md.streaming = "absent"
    caplog.set_level(logging.INFO, logger=LOGGER)
    streams = await reader.streams()
    assert streams is not None
    try:
        streams.follow([])
        seen = await events_until(streams, lambda seen: bool(seen))
    finally:
        await streams.close()
    assert seen == [StreamEvent("mentions", down="the instance offers no streaming (404)", polling=True)]
    assert (
        "Mastodon stream mentions: the instance offers no streaming (404); polling takes over"
        in caplog.messages
    )


async def test_a_malformed_event_is_logged_and_the_stream_goes_on(
    md: FakeMastodon, reader: MastodonReader, caplog: pytest.LogCaptureFixture
) -> None:
    """Mastodon.py's listener would end its thread on a handler's exception."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    streams = await reader.streams()
    assert streams is not None
    try:
        streams.follow([TAG])
        await events_until(streams, lambda seen: sum(e.connected for e in seen) == 2)
        md.stream_raw(f"hashtag:{TAG}", "update", '{"id": "12", "content": "<p>no account</p>"}')
        status = md.add_remote_status("alice@example.org", f"<p>Toujours là #{TAG}</p>")
        seen = await events_until(streams, lambda seen: any(e.items for e in seen))
    finally:
        await streams.close()
    assert [i.remote_id for i in items(seen)] == [status["id"]]
    assert "Mastodon stream gautrinweb2: skipped a malformed update event (_Malformed)" in caplog.messages


async def test_an_event_that_cannot_be_read_is_skipped_and_the_connection_stays(
    md: FakeMastodon, reader: MastodonReader, caplog: pytest.LogCaptureFixture
) -> None:
    """Mastodon.py ends the connection on an event that is not JSON; a reconnection would read
    the gap again by REST (a reconnect storm when every event is garbage)."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    streams = await reader.streams()
    assert streams is not None
    try:
        streams.follow([TAG])
        await events_until(streams, lambda seen: sum(e.connected for e in seen) == 2)
        md.stream_raw(f"hashtag:{TAG}", "update", "not JSON at all")
        md.stream_raw(f"hashtag:{TAG}", "delete", "")
        status = md.add_remote_status("alice@example.org", f"<p>Toujours là #{TAG}</p>")
        seen = await events_until(streams, lambda seen: any(e.items for e in seen))
    finally:
        await streams.close()
    assert [i.remote_id for i in items(seen)] == [status["id"]]
    assert not [e for e in seen if e.down or e.connected]  # the same connection carried it
    assert "Mastodon stream gautrinweb2: skipped an update event that could not be read" in caplog.messages
    assert not [m for m in caplog.messages if "disconnected" in m]


@pytest.mark.slow  # waits on the real clock for the protocol's timings
async def test_a_stream_that_dies_at_once_keeps_backing_off_and_looks_up_the_instance_once(
    md: FakeMastodon, reader: MastodonReader
) -> None:
    """A connection that did not last a minute does not start the back-off again (1, 2, 4 s…);
    the streaming server's address is looked up once, not at each connection."""
    streams = await reader.streams()
    assert streams is not None
    try:
        streams.follow([])
        await events_until(streams, lambda seen: any(e.connected for e in seen))
        before = len(md.requests)
        ends = time.monotonic() + 6.5
        while time.monotonic() < ends:  # the streaming server drops every connection at once
            md.cut_streams()
            await streams.next(0.02)
    finally:
        await streams.close()
    paths = [r.path for r in md.requests[before:]]
    assert 2 <= paths.count("/api/v1/streaming/user") <= 3  # at 1, 3 (and 7) s; not each second
    assert not [p for p in paths if p.startswith(("/api/v1/instance", "/api/v2/instance"))]


# ---- the collector -------------------------------------------------------------------


@pytest.fixture
def store(engine: Engine) -> Iterator[Store]:
    with Store(engine) as store:
        yield store


class Running:
    """The real collector's Mastodon loop, in a task, on the real clock; polling far apart,
    so that what it stores in the meantime came from a stream or a reconnection."""

    def __init__(self, store: Store, reader: MastodonReader, poll: float = 3600.0) -> None:
        self.store = store
        self.reader = reader
        timing = CollectorTiming(poll=poll, stream_wait=0.2, recheck_seconds=3600.0)
        self.collector = Collector(store, SystemClock(), lambda: [CAMPAIGN], timing)
        self.stop = asyncio.Event()
        self.lock = store.lock("mastodon")
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.collector.run_timelines(self.reader, self.lock, self.stop))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 10)
        self.lock.release()

    def stored(self) -> list[str]:
        return [c.remote_id for c in self.store.comments.find()]

    def stream_modes(self) -> dict[str, str]:
        return {n: p for n, (p, _) in self.store.comments.positions().items() if n.startswith("stream:")}


@pytest.mark.slow  # waits on the real clock for the protocol's timings
async def test_a_reply_posted_while_the_stream_is_down_is_read_at_reconnection(
    md: FakeMastodon, reader: MastodonReader, store: Store
) -> None:
    async with Running(store, reader) as running:
        await until(lambda: running.stream_modes().get(f"stream:mastodon:{TAG}") == "streaming")
        md.streaming = "down"
        md.cut_streams()
        status = md.add_remote_status("alice@example.org", f"<p>Pendant la coupure #{TAG}</p>")
        await asyncio.to_thread(md.wait_for, lambda: False, 1.5)  # the stream tries again, refused
        assert running.stored() == []  # no stream, and the next poll is an hour away
        md.streaming = "up"
        await until(lambda: running.stored() == [status["id"]], timeout=15)
    timeline = [r for r in md.requests if r.path == f"/api/v1/timelines/tag/{TAG}"]
    assert len(timeline) >= 2  # the first round, and the gap read at reconnection


@pytest.mark.slow  # waits on the real clock for the protocol's timings
async def test_a_stream_that_keeps_reconnecting_has_its_gap_read_once_in_a_while(
    md: FakeMastodon, reader: MastodonReader, store: Store
) -> None:
    """Each (re)connection reads the gap by REST; a stream that connects again and again has
    it read at most once every ``gap_every``, later rather than each time (the rate limit)."""
    async with Running(store, reader) as running:
        running.collector.timing = dataclasses.replace(running.collector.timing, gap_every=5.0)
        await until(lambda: running.stream_modes().get(f"stream:mastodon:{TAG}") == "streaming")

        def gap_reads() -> int:
            return len([r for r in md.requests if r.path == f"/api/v1/timelines/tag/{TAG}"])

        before = gap_reads()
        md.cut_streams()
        status = md.add_remote_status("alice@example.org", f"<p>Pendant la coupure #{TAG}</p>")
        await until(lambda: f"hashtag:{TAG}" in md.open_streams())
        md.cut_streams()  # again, at once
        await until(lambda: running.stored() == [status["id"]], timeout=15)  # read, a little later
        await until(lambda: f"hashtag:{TAG}" in md.open_streams())
        await asyncio.to_thread(md.wait_for, lambda: False, 1.0)
    assert gap_reads() - before <= 2  # one gap read (its catch-up and its page), not one per connection


@pytest.mark.slow
async def test_a_deletion_leaves_the_store_within_seconds(
    md: FakeMastodon, reader: MastodonReader, store: Store
) -> None:
    async with Running(store, reader) as running:
        await until(lambda: running.stream_modes().get(f"stream:mastodon:{TAG}") == "streaming")
        status = md.add_remote_status("alice@example.org", f"<p>Je retire ça #{TAG}</p>")
        arrived = await until(lambda: running.stored() == [status["id"]])
        md.edit_status(status["id"], f"<p>Je retire ça, vraiment #{TAG}</p>")
        await until(lambda: "vraiment" in store.comments.find()[0].text)
        md.delete_status(status["id"])
        gone = await until(lambda: running.stored() == [])
    assert arrived < 3
    assert gone < 5


@pytest.mark.slow
async def test_without_streaming_the_collector_polls_and_status_says_so(
    md: FakeMastodon, reader: MastodonReader, store: Store
) -> None:
    md.streaming = "absent"
    async with Running(store, reader, poll=0.5) as running:
        await until(lambda: len(running.stream_modes()) == 2)
        status = md.add_remote_status("alice@example.org", f"<p>Par sondage #{TAG}</p>")
        await until(lambda: running.stored() == [status["id"]])
    assert running.stream_modes() == {
        "stream:mastodon:mentions": "polling: the instance offers no streaming (404)",
        f"stream:mastodon:{TAG}": "polling: the instance offers no streaming (404)",
    }

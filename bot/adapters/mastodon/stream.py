"""Mastodon's streams (``MastodonStreams``): the user stream (mentions, and the deletions of
statuses that mention the bot) and one hashtag stream per campaign hashtag (public statuses,
their edits, their deletions), read with Mastodon.py's server-sent events client.

Each stream has its own thread and its own Mastodon.py client (a stream holds a connection
for as long as it lives), connecting again after any failure, with a back-off. What the
library leaves to its user is done here:

- it does not say when a connection is made, and replays nothing that was missed while it
  was down: each (re)connection is told to the collector (``StreamEvent.connected``), which
  then reads the gap with ``min_id`` from its stored position;
- a listener that raises ends its thread silently: every handler here catches and logs what
  it raises (never the status's content), and a stream that ends for any reason is counted
  down, logged and connected again;
- an event it cannot parse (not JSON, a line without a field name) ends the connection: such
  an event is skipped here, logged by its name, and the connection goes on;
- it looks the streaming server's address up (``/api/v2/instance``, ``/api/v1/instance``) at
  the first connection of each client: a stream keeps its client across reconnections;
- a connection that dies soon after it was made counts as a failure for the back-off (it
  starts again from the first wait only after a connection that lasted ``STABLE_AFTER``);
- an instance without streaming (404) or a stream that keeps failing is told to the
  collector (``StreamEvent.down``): polling takes over until a connection succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from mastodon import Mastodon, StreamListener
from mastodon.errors import MastodonMalformedEventError

from bot.adapters.mastodon.client import get_field, log
from bot.domain import Removal, Reply
from bot.networks.mastodon import NAME
from bot.ports import StreamEvent

MENTIONS = "mentions"  # the user stream's name for the collector: it stands for the mentions feed
FAILURES_BEFORE_POLLING = 3  # connections failed in a row before the collector polls instead
READ_TIMEOUT = 60.0  # Mastodon sends a heartbeat every 15 s: a silent minute is a dead connection
FIRST_RETRY, LONGEST_RETRY = 1.0, 300.0
STABLE_AFTER = 60.0  # seconds a connection must last for the back-off to start again from FIRST_RETRY
_EVENT_NAME = re.compile(r"[\w.]{1,40}")

ToReply = Callable[[object], Reply | None]  # a status to the reply to collect, or None


class _Listener(StreamListener):
    """Turns events into ``StreamEvent``s; never raises from a handler."""

    def __init__(self, stream: _Stream) -> None:
        super().__init__()
        self._stream = stream

    def handle_stream(self, response: Any) -> None:
        # Called once the server answered 200: the connection is up from here.
        self._stream.connected(response)
        super().handle_stream(response)

    def on_update(self, status: Any) -> None:
        self._item(status, "update")

    def on_status_update(self, status: Any) -> None:
        self._item(status, "status.update")

    def on_notification(self, notification: Any) -> None:
        if get_field(notification, "type") == "mention":
            self._item(get_field(notification, "status"), "notification")

    def on_delete(self, status_id: Any) -> None:
        text = str(status_id).strip()
        if text.isdigit():
            self._stream.emit(StreamEvent(self._stream.name, items=(Removal(NAME, text),)))
        else:
            log.warning("Mastodon stream %s: a delete event without a valid id", self._stream.name)

    def on_unknown_event(self, name: str, unknown_event: Any = None) -> None:
        pass  # announcements, filters, conversations…: not Relais's business

    def _parse_line(self, line: str, event: dict[str, str]) -> dict[str, str]:
        try:
            return super()._parse_line(line, event)
        except MastodonMalformedEventError:  # would end the connection
            log.warning("Mastodon stream %s: skipped a line that could not be read", self._stream.name)
            return event

    def _dispatch(self, event: dict[str, str]) -> None:
        try:
            super()._dispatch(event)
        except MastodonMalformedEventError:  # would end the connection: skipped (its name only)
            name = event.get("event", "")
            shown = f"an {name}" if name[:1] in "aeiou" else f"a {name}"
            log.warning(
                "Mastodon stream %s: skipped %s event that could not be read",
                self._stream.name,
                shown if _EVENT_NAME.fullmatch(name) else "an",
            )

    def _item(self, status: object, event: str) -> None:
        try:
            reply = self._stream.to_reply(status)
        except Exception as error:  # a malformed status: skipped, the stream goes on
            log.warning(
                "Mastodon stream %s: skipped a malformed %s event (%s)",
                self._stream.name,
                event,
                type(error).__name__,
            )
            return
        if reply is not None:
            self._stream.emit(StreamEvent(self._stream.name, items=(reply,)))


class _Stream:
    """One stream and its thread."""

    def __init__(self, streams: MastodonStreams, name: str, tag: str | None) -> None:
        self.name = name
        self.tag = tag
        self._streams = streams
        self.to_reply = streams.to_reply_for(tag)
        self._closed = threading.Event()
        self._response: Any = None
        self._since = 0.0  # when the connection was made (monotonic)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"mastodon-stream-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            response = self._response
        if response is not None:
            _cut(response)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def emit(self, event: StreamEvent) -> None:
        if not self._closed.is_set():
            self._streams.emit(event)

    def connected(self, response: Any) -> None:
        with self._lock:
            self._response = response
            self._since = time.monotonic()
        if self._closed.is_set():
            response.close()
            return
        self._streams.note_connected(self.name)

    def _run(self) -> None:
        failures = 0
        wait = 0.0  # the last wait
        api = self._streams.client()  # kept: it looked the streaming server up once
        while not self._closed.is_set():
            listener = _Listener(self)
            try:
                if self.tag is None:
                    api.stream_user(listener, timeout=READ_TIMEOUT)
                else:
                    api.stream_hashtag(self.tag, listener, timeout=READ_TIMEOUT)
                error: Exception | None = None
            except Exception as exc:  # every way a stream ends: logged, then connected again
                error = exc
            with self._lock:
                was_up, self._response = self._response is not None, None
                lasted = time.monotonic() - self._since
            session = getattr(api, "session", None)
            if session is not None:
                session.close()
            if self._closed.is_set():
                return
            why = _why(error)
            absent = False
            if was_up:
                failures = 0
                if lasted >= STABLE_AFTER:
                    wait = 0.0
                self._streams.note_down(self.name, f"disconnected ({why})", polling=False)
            else:
                failures += 1
                absent = "Not Found" in str(error)
                if absent or failures == FAILURES_BEFORE_POLLING:
                    reason = "the instance offers no streaming (404)" if absent else f"failing ({why})"
                    self._streams.note_down(self.name, reason, polling=True)
            wait = LONGEST_RETRY if absent else min(max(2 * wait, FIRST_RETRY), LONGEST_RETRY)
            self._closed.wait(wait)


def _cut(response: Any) -> None:
    """End a streaming response that another thread is reading. Closing it would wait for
    that read (the buffer's lock) until the next heartbeat; shutting the socket down wakes
    the read at once, which ends the stream."""
    raw = getattr(response, "raw", None)
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:  # urllib3 moved it: through the file object http.client reads
        sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _why(error: Exception | None) -> str:
    if error is None:
        return "the server closed it"
    message = str(error) if error.__class__.__module__.startswith("mastodon") else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class MastodonStreams:
    """The account's streams (the ``Streams`` port): ``follow`` the user stream and one per
    hashtag; ``next`` hands over what they said, in order."""

    def __init__(
        self,
        base_url: str,
        token: str,
        to_reply_for: Callable[[str | None], ToReply],
        *,
        timeout: float = 15.0,
        max_queued: int = 10_000,
    ) -> None:
        self._base_url = base_url
        self._token = token
        self._timeout = timeout
        self.to_reply_for = to_reply_for
        self._streams: dict[str, _Stream] = {}
        self._queue: asyncio.Queue[StreamEvent] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._max_queued = max_queued
        self._overflowed: set[str] = set()
        self._modes: dict[str, str] = {}

    def client(self) -> Mastodon:
        return Mastodon(
            access_token=self._token,
            api_base_url=self._base_url,
            request_timeout=self._timeout,
            ratelimit_method="throw",
            version_check_mode="none",
        )

    def follow(self, tags: Collection[str]) -> None:
        """Stream the mentions and each of ``tags`` (without "#"); close the others."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._queue = asyncio.Queue()
        wanted = {MENTIONS: None} | {tag.lstrip("#").lower(): tag.lstrip("#").lower() for tag in tags}
        for name in set(self._streams) - set(wanted):
            self._streams.pop(name).close()
        for name, tag in wanted.items():
            if name not in self._streams:
                stream = self._streams[name] = _Stream(self, name, tag)
                stream.start()

    def emit(self, event: StreamEvent) -> None:
        """From a stream's thread: queue ``event`` for the collector."""
        loop, queue = self._loop, self._queue
        if loop is None or queue is None:
            return
        loop.call_soon_threadsafe(self._put, event)

    def _put(self, event: StreamEvent) -> None:
        assert self._queue is not None
        if self._queue.qsize() < self._max_queued:
            self._queue.put_nowait(event)
        elif event.stream not in self._overflowed:  # read it again from its position instead
            self._overflowed.add(event.stream)
            log.warning("Mastodon stream %s: too many events waiting; its feed is read again", event.stream)

    def note_connected(self, name: str) -> None:
        if self._modes.get(name) != "streaming":
            log.info("Mastodon stream %s: connected; reading what it missed", name)
        self._modes[name] = "streaming"
        self.emit(StreamEvent(name, connected=True))

    def note_down(self, name: str, why: str, *, polling: bool) -> None:
        mode = f"polling: {why}" if polling else "reconnecting"
        if self._modes.get(name) != mode:
            (log.warning if polling else log.info)(
                "Mastodon stream %s: %s%s", name, why, "; polling takes over" if polling else "; reconnecting"
            )
        self._modes[name] = mode
        self.emit(StreamEvent(name, down=why, polling=polling))

    async def next(self, timeout: float) -> list[StreamEvent]:
        """What the streams said since the last call, waiting up to ``timeout`` seconds for
        something; [] when nothing came."""
        if self._queue is None:
            await asyncio.sleep(timeout)
            return []
        events: list[StreamEvent] = []
        try:
            events.append(await asyncio.wait_for(self._queue.get(), timeout))
        except TimeoutError:
            return []
        while not self._queue.empty():
            events.append(self._queue.get_nowait())
        for name in list(self._overflowed):
            self._overflowed.discard(name)
            events.append(StreamEvent(name, connected=True))
        return events

    async def close(self) -> None:
        streams, self._streams = list(self._streams.values()), {}
        for stream in streams:
            stream.close()
        for stream in streams:
            await asyncio.to_thread(stream.join, 2.0)

"""Loopback fake of a Mastodon server for tests: ``with FakeMastodon() as md: md.url``.

Answers the endpoints Relais uses like https://docs.joinmastodon.org/methods/ documents them,
from an aiohttp server on 127.0.0.1 in its own thread, streaming included
(https://docs.joinmastodon.org/methods/streaming/: ``GET /api/v1/streaming/user`` and
``/hashtag?tag=``, server-sent events ``update``, ``delete``, ``status.update``,
``notification``; ``streaming`` = "up", "down" (503) or "absent" (404); ``cut_streams()``).
Remote accounts' ActivityPub ``uri`` points at ``/ap/…`` on this server, which plays their
origin: 200 while the status lives there, 410 once ``delete_at_origin`` was called. Public methods are thread-safe. Faults
(``fail``, ``rate_limited``, ``delay``, ``drop_after_receive``, ``malformed``) apply to the
next matching requests, one fault per request. The token is never logged nor recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import html
import itertools
import json
import re
import socket
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from multidict import CIMultiDict

JSON = dict[str, Any]
VERSION = "4.3.0"
INVALID_TOKEN = "The access token is invalid"
NOT_FOUND = "Record not found"

_MENTION_RE = re.compile(r"(?<![=/\w])@([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@([\w.-]+\w))?", re.I)
_HASHTAG_RE = re.compile(r"(?<![=/)\w])#(\w*[^\W\d_]\w*)")
_URL_RE = re.compile(r"(?<![\w/])https?://[^\s<>\"']+", re.I)
_URL_PREFIX_RE = re.compile(r"^https?://(www\.)?", re.I)
_BREAK_RE = re.compile(r"<(?:br|/?p)\b[^>]*>", re.I)
_TAG_RE = re.compile(r"<[^>]+>")
_FAVOURITE_RE = re.compile(r"/api/v1/statuses/[^/]+/favourite/?")
_MIME_TYPES = [
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "image/heif",
    "image/avif",
    "video/mp4",
    "video/webm",
    "video/quicktime",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "audio/flac",
    "audio/mp4",
]


def _iso(ts: float | None = None) -> str:
    """ISO 8601 UTC with milliseconds, as Mastodon writes datetimes."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _trim_url(url: str) -> str:
    """Drop trailing punctuation that is not part of a URL in running text."""
    while url and (url[-1] in ".,:;!?'\"" or (url[-1] == ")" and url.count("(") < url.count(")"))):
        url = url[:-1]
    return url


def _extends(ch: str) -> bool:
    """True if ``ch`` continues the previous grapheme cluster (an approximation of UAX #29)."""
    cp = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or cp == 0x200D
        or 0xFE00 <= cp <= 0xFE0F
        or 0x1F3FB <= cp <= 0x1F3FF
        or 0xE0020 <= cp <= 0xE007F
        or 0xE0100 <= cp <= 0xE01EF
    )


def grapheme_length(text: str) -> int:
    """Count grapheme clusters: marks, ZWJ sequences, modifiers and flag pairs count once."""
    count, prev, flags = 0, "", 0
    for ch in text:
        joined = count and (_extends(ch) or prev == "\u200d" or (prev == "\r" and ch == "\n"))
        if 0x1F1E6 <= ord(ch) <= 0x1F1FF:
            joined = joined or flags % 2 == 1
            flags += 1
        else:
            flags = 0
        count += 0 if joined else 1
        prev = ch
    return count


def count_characters(text: str, spoiler_text: str = "", url_chars: int = 23) -> int:
    """Length of a status the way Mastodon's StatusLengthValidator counts it."""
    countable = _URL_RE.sub(lambda m: "x" * url_chars + m[0][len(_trim_url(m[0])) :], text)
    countable = _MENTION_RE.sub(lambda m: "@" + m[1], countable)
    return grapheme_length(spoiler_text + countable)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass
class RecordedRequest:
    """One request as the fake saw it (Authorization redacted)."""

    method: str
    path: str
    query: str
    headers: CIMultiDict[str]
    time: float
    params: JSON = field(default_factory=dict)
    status: int | None = None  # None until answered, and for dropped connections

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


_RECORD = web.RequestKey("record", RecordedRequest)


@dataclass
class _Stream:
    """One open server-sent events connection; ``send`` is thread-safe."""

    tag: str | None  # None: the user stream
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[str, str] | None]

    @property
    def name(self) -> str:
        return "user" if self.tag is None else f"hashtag:{self.tag}"

    def send(self, event: tuple[str, str] | None) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, event)


@dataclass
class _Fault:
    kind: str
    times: int
    path: str | None = None
    method: str | None = None
    status: int = 500
    seconds: float = 0.0
    body: str = ""


class FakeMastodon:
    """A Mastodon server on 127.0.0.1 with a thread-safe test-side API."""

    def __init__(
        self,
        token: str = "test-token-not-real",
        *,
        max_characters: int = 500,
        rate_limit: int = 300,
        rate_limit_window: float = 300.0,
        domain: str = "relais.test",
        username: str = "relais",
    ) -> None:
        self._token = token
        self.max_characters = max_characters
        self.max_media_attachments = 4
        self.characters_reserved_per_url = 23
        self.image_size_limit = 16777216
        self.video_size_limit = 103809024
        self.supported_mime_types = list(_MIME_TYPES)
        # The token's scopes (GET /api/v1/apps/verify_credentials, enforced on each call);
        # None: an instance older than 4.3, which does not tell them (and enforces "read write").
        self.scopes: list[str] | None = ["read", "write", "follow"]
        self.bot_flag = True  # the account is marked as a bot ("automated account")
        self.rate_limit = rate_limit
        self.rate_limit_window = rate_limit_window
        self.async_media = False  # True: POST /api/v2/media answers 202 with url null
        self.domain = domain
        self.url = ""
        self._cond = threading.Condition(threading.RLock())
        self._requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._accounts: dict[str, JSON] = {}
        self._account_ids = itertools.count(1)
        self._all: dict[str, JSON] = {}  # every live status, local and remote
        self._created: list[JSON] = []  # statuses accepted through the API
        self._favourited: set[str] = set()
        self._idempotency: dict[tuple[str, str], str] = {}
        self._media: dict[str, JSON] = {}
        self._media_files: dict[str, bytes] = {}
        self._attached: set[str] = set()
        self._processing: set[str] = set()
        self._notifications: list[JSON] = []
        self._last_id = 0
        self._window_start = time.time()
        self._used = 0
        self._username = username
        self._bot: JSON = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._startup_error: BaseException | None = None
        self.streaming = "up"  # "down": the stream endpoints answer 503; "absent": 404
        self.heartbeat = 15.0  # seconds between two ":thump" comments on an open stream
        self._streams: list[_Stream] = []
        self._gone_at_origin: set[str] = set()

    def __repr__(self) -> str:
        return f"FakeMastodon(url={self.url!r})"

    # ---- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> FakeMastodon:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server thread and wait until it listens."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10) or self._startup_error is not None:
            raise RuntimeError("fake Mastodon server did not start") from self._startup_error

    def stop(self) -> None:
        """Stop the server: delayed answers are cut short, then the thread ends."""
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._begin_stop)
        self._thread.join(10)
        self._loop, self._thread = None, None

    def _begin_stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()  # wakes delayed answers
        asyncio.get_running_loop().stop()

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._startup_error = exc
        ready.set()
        if self._startup_error is None and self._runner is not None:
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
        loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)

        def add(method: str, path: str, handler: Callable[[web.Request], Any]) -> None:
            app.router.add_route(method, path, handler)
            app.router.add_route(method, path + "/", handler)  # Rails accepts a trailing slash

        add("GET", "/api/v1/instance", self._instance_v1)
        add("GET", "/api/v2/instance", self._instance_v2)
        add("GET", "/api/v1/accounts/verify_credentials", self._verify_credentials)
        add("GET", "/api/v1/apps/verify_credentials", self._app_credentials)
        add("POST", "/api/v1/statuses", self._post_status)
        add("GET", "/api/v1/statuses/{id}", self._get_status)
        add("GET", "/api/v1/statuses/{id}/context", self._context)
        add("POST", "/api/v1/statuses/{id}/favourite", self._favourite)
        add("POST", "/api/v2/media", self._post_media)
        add("GET", "/api/v1/media/{id}", self._get_media)
        add("PUT", "/api/v1/media/{id}", self._put_media)
        add("GET", "/api/v1/timelines/tag/{hashtag}", self._tag_timeline)
        add("GET", "/api/v1/notifications", self._get_notifications)
        add("GET", "/api/v1/streaming/health", self._stream_health)
        add("GET", "/api/v1/streaming/user", self._stream_user)
        add("GET", "/api/v1/streaming/hashtag", self._stream_hashtag)
        add("GET", "/ap/{domain}/users/{user}/statuses/{id}", self._origin_status)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._bot = self._account(self._username, bot=True)

    # ---- test-side inspection ------------------------------------------------------------

    @property
    def statuses(self) -> list[JSON]:
        """Copies of the statuses accepted by POST /api/v1/statuses, in order (kept if deleted)."""
        with self._cond:
            return copy.deepcopy(self._created)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order."""
        with self._cond:
            return list(self._requests)

    @property
    def favourite_requests(self) -> list[str]:
        """The status id of every POST /api/v1/statuses/:id/favourite received, in order,
        whatever the answer (a 429 included)."""
        with self._cond:
            return [
                r.path.split("/")[4]
                for r in self._requests
                if r.method == "POST" and _FAVOURITE_RE.fullmatch(r.path)
            ]

    @property
    def media(self) -> list[JSON]:
        """Copies of the uploaded MediaAttachments, in order."""
        with self._cond:
            return copy.deepcopy(list(self._media.values()))

    @property
    def notifications(self) -> list[JSON]:
        """Copies of the bot's notifications, oldest first."""
        with self._cond:
            return copy.deepcopy(self._notifications)

    def media_file(self, media_id: str) -> bytes:
        """The bytes uploaded for a media attachment."""
        with self._cond:
            return self._media_files[str(media_id)]

    def get_status(self, status_id: str) -> JSON | None:
        """A copy of a live status, or None."""
        with self._cond:
            return copy.deepcopy(self._all.get(str(status_id)))

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate()`` is true, re-checked on each request and state change.

        The predicate runs under the fake's lock: it may read ``md`` but must not call the server.
        """
        with self._cond:
            return bool(self._cond.wait_for(predicate, timeout))

    def _changed(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # ---- test-side state -------------------------------------------------------------

    def add_remote_status(
        self,
        account: str = "alice@example.org",
        content_html: str = "<p>Hello</p>",
        tags: list[str] | None = None,
        in_reply_to_id: str | None = None,
        visibility: str = "public",
        language: str | None = "fr",
        *,
        mentions: list[str] | None = None,
        spoiler_text: str = "",
        written_at: float | None = None,
    ) -> JSON:
        """Add a status from another account (tags default to the #hashtags in the HTML).

        ``written_at`` (a past unix time): the status arrives late by federation, and, as
        Mastodon does for a remote status, its id is made from that time, so it sorts
        before statuses that reached the server earlier."""
        with self._cond:
            author = self._account(account)
            names = tags if tags is not None else self._tags_in(content_html)
            status = self._new_status(
                author,
                content_html,
                visibility=visibility,
                language=language,
                spoiler_text=spoiler_text,
                in_reply_to_id=in_reply_to_id,
                mentions=[self._mention(self._account(a)) for a in mentions or []],
                tags=[self._tag(n) for n in names], written_at=written_at)
            self._broadcast("update", status)
            self._changed()
            return copy.deepcopy(status)

    def delete_status(self, status_id: str) -> None:
        """Delete a status as its author would; its notifications go too."""
        with self._cond:
            status = self._all[str(status_id)]
            self._broadcast("delete", status)
            del self._all[str(status_id)]
            parent = self._all.get(status["in_reply_to_id"] or "")
            if parent:
                parent["replies_count"] = max(0, parent["replies_count"] - 1)
            self._notifications = [
                n for n in self._notifications if (n.get("status") or {}).get("id") != status["id"]
            ]
            self._changed()

    def edit_status(self, status_id: str, new_html: str, tags: list[str] | None = None) -> JSON:
        """Edit a status: new content, ``edited_at`` set, tags re-read unless given."""
        with self._cond:
            status = self._all[str(status_id)]
            status["content"] = new_html
            status["edited_at"] = _iso()
            names = tags if tags is not None else self._tags_in(new_html)
            status["tags"] = [self._tag(n) for n in names]
            self._broadcast("status.update", status)
            self._changed()
            return copy.deepcopy(status)

    def update_account(self, account: str, **changes: Any) -> JSON:
        """Change an account's profile (``note``, ``fields``, ``display_name``…), in the
        statuses and notifications already served too, as the server would."""
        with self._cond:
            profile = self._account(account)
            profile.update(copy.deepcopy(changes))
            holders = [*self._all.values(), *self._notifications]
            for holder in holders:
                if holder.get("account", {}).get("id") == profile["id"]:
                    holder["account"].update(copy.deepcopy(changes))
            self._changed()
            return copy.deepcopy(profile)

    def add_notification(
        self, type_: str, account: str | None = None, status: JSON | str | None = None
    ) -> JSON:
        """Add a notification of any type for the bot account."""
        with self._cond:
            sid = status if isinstance(status, str) or status is None else status["id"]
            live = self._all[str(sid)] if sid is not None else None
            acct = account or (live["account"]["acct"] if live else "alice@example.org")
            nid = self._next_id()
            notification = {
                "id": nid,
                "type": type_,
                "created_at": _iso(),
                "group_key": f"ungrouped-{nid}",
                "account": self._account(acct),
                "status": live,
            }
            self._notifications.append(notification)
            self._publish(lambda stream: stream.tag is None, "notification", notification)
            self._changed()
            return copy.deepcopy(notification)

    def add_mention_notification(self, status: JSON | str) -> JSON:
        """Notify the bot that ``status`` mentions it."""
        return self.add_notification("mention", status=status)

    def delete_at_origin(self, status_id: str) -> None:
        """The author deleted a remote status at its origin, and the Delete never reached
        this instance: it still serves its copy, its ``uri`` answers 410 Gone."""
        with self._cond:
            self._gone_at_origin.add(str(status_id))

    def cut_streams(self) -> int:
        """Close every open stream connection, as a restart of the streaming server would;
        how many were open."""
        with self._cond:
            streams, self._streams = self._streams, []
        for stream in streams:
            stream.send(None)
        return len(streams)

    def stream_raw(self, name: str, event: str, data: str) -> None:
        """Send an event as it is (``data`` unchecked) on the open streams named ``name``."""
        self._publish(lambda stream: stream.name == name, event, data)

    def open_streams(self) -> list[str]:
        """The streams connected now: "user" or "hashtag:<tag>"."""
        with self._cond:
            return [s.name for s in self._streams]

    def finish_media_processing(self, media_id: str | None = None) -> None:
        """Finish async processing of one media attachment (or all)."""
        with self._cond:
            for mid in [str(media_id)] if media_id is not None else list(self._processing):
                self._processing.discard(mid)
                media = self._media[mid]
                media["url"] = media["preview_url"].replace("/small/", "/original/")
            self._changed()

    def forget_idempotency_keys(self) -> None:
        """Forget every Idempotency-Key seen so far, as a server does after about an hour:
        a post sent again with one of them is created anew."""
        with self._cond:
            self._idempotency.clear()

    def reset_rate_limit(self) -> None:
        """Start a fresh rate-limit window with the full budget."""
        with self._cond:
            self._window_start, self._used = time.time(), 0

    # ---- fault injection -------------------------------------------------------------

    def _add_fault(self, fault: _Fault) -> None:
        with self._cond:
            self._faults.append(fault)

    def fail(
        self,
        path: str | None = None,
        status: int = 500,
        times: int = 1,
        *,
        method: str | None = None,
        body: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``, doing nothing."""
        text = body if body is not None else '{"error": "We\'re sorry, but something went wrong"}'
        self._add_fault(_Fault("fail", times, path, method, status=status, body=text))

    def rate_limited(
        self, reset_in: float = 2.0, times: int = 1, *, path: str | None = None, method: str | None = None
    ) -> None:
        """Answer 429 with X-RateLimit-Remaining 0 and a reset ``reset_in`` seconds ahead."""
        self._add_fault(_Fault("rate_limited", times, path, method, status=429, seconds=reset_in))

    def delay(
        self, seconds: float = 2.0, times: int = 1, *, path: str | None = None, method: str | None = None
    ) -> None:
        """Process the request at once, but hold the answer ``seconds`` seconds."""
        self._add_fault(_Fault("delay", times, path, method, seconds=seconds))

    def drop_after_receive(
        self, times: int = 1, *, path: str | None = None, method: str | None = None
    ) -> None:
        """Process the request, then close the connection without answering."""
        self._add_fault(_Fault("drop", times, path, method))

    def malformed(
        self,
        times: int = 1,
        *,
        path: str | None = None,
        method: str | None = None,
        body: str = '{"id": "1", "content": ',
    ) -> None:
        """Process the request, then answer 200 with ``body`` (by default not valid JSON)."""
        self._add_fault(_Fault("malformed", times, path, method, status=200, body=body))

    def _take_fault(self, request: web.Request) -> _Fault | None:
        with self._cond:
            for fault in self._faults:
                if (fault.path is None or request.path.startswith(fault.path)) and (
                    fault.method is None or fault.method.upper() == request.method
                ):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # ---- request pipeline ------------------------------------------------------------

    def _ratelimit_headers(self, remaining: int, reset_at: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": _iso(reset_at),
        }

    def _consume_budget(self) -> tuple[bool, dict[str, str]]:
        with self._cond:
            now = time.time()
            if now >= self._window_start + self.rate_limit_window:
                self._window_start, self._used = now, 0
            allowed = self._used < self.rate_limit
            self._used += allowed
            reset_at = self._window_start + self.rate_limit_window
            return allowed, self._ratelimit_headers(self.rate_limit - self._used, reset_at)

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header:
            path = request.path.rstrip("/")
            return request.method == "GET" and (
                path in ("/api/v1/instance", "/api/v2/instance", "/api/v1/streaming/health")
                or path.startswith(("/api/v1/timelines/tag/", "/api/v1/statuses/", "/ap/")))
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), self._token.encode())

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        headers = CIMultiDict(request.headers)
        if "Authorization" in headers:
            headers["Authorization"] = "Bearer [redacted]"
        record = RecordedRequest(request.method, request.path, request.query_string, headers, time.time())
        request[_RECORD] = record
        with self._cond:
            self._requests.append(record)
            self._changed()
        fault = self._take_fault(request)
        if fault and fault.kind == "rate_limited":
            response = self._error(429, "Too many requests")
            response.headers.update(self._ratelimit_headers(0, time.time() + fault.seconds))
        elif fault and fault.kind == "fail":
            response = web.Response(status=fault.status, text=fault.body, content_type="application/json")
            response.headers.update(self._consume_budget()[1])
        else:
            response = await self._handle(request, handler)
            response = await self._after(request, fault, response)
        with self._cond:
            record.status = None if fault and fault.kind == "drop" else response.status
            self._changed()
        return response

    async def _handle(self, request: web.Request,
                      handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.path.startswith("/ap/"):  # another server (the status's origin): not our budget
            allowed, ratelimit = True, {}
        else:
            allowed, ratelimit = self._consume_budget()
        if not allowed:
            response = self._error(429, "Too many requests")
        elif not self._authorised(request):
            response = self._error(401, INVALID_TOKEN)
        elif (request.headers.get("Authorization") and (needed := self._scope_needed(request))
              and not self._scope_granted(needed)):
            response = self._error(403, "This action is outside the authorized scopes")
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = self._error(exc.status, NOT_FOUND if exc.status == 404 else exc.reason)
        response.headers.update(ratelimit)
        return response

    async def _after(
        self, request: web.Request, fault: _Fault | None, response: web.StreamResponse
    ) -> web.StreamResponse:
        if fault is None:
            return response
        if fault.kind == "delay":
            assert self._stopping is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.seconds)
        elif fault.kind == "drop" and request.transport is not None:
            request.transport.abort()
        elif fault.kind == "malformed":
            bad = web.Response(status=200, text=fault.body, content_type="application/json")
            bad.headers.update(
                {k: v for k, v in response.headers.items() if k.lower().startswith("x-ratelimit")}
            )
            return bad
        return response

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

    @staticmethod
    async def _params(request: web.Request) -> JSON:
        """Form (urlencoded or multipart) or JSON body as a dict; ``key[]`` become lists."""
        if request.content_type == "application/json":
            try:
                data = await request.json()
            except ValueError:
                return {}
            params = dict(data) if isinstance(data, dict) else {}
        else:
            form = await request.post()
            params = {
                k.removesuffix("[]"): form.getall(k) if k.endswith("[]") else form[k]
                for k in set(form.keys())
            }
        request[_RECORD].params = {k: getattr(v, "filename", v) for k, v in params.items()}
        return params

    # ---- entities --------------------------------------------------------------------

    def _next_id(self) -> str:
        """Snowflake-like id: milliseconds << 16, always increasing."""
        with self._cond:
            self._last_id = max(self._last_id + 1, int(time.time() * 1000) << 16)
            return str(self._last_id)

    def _account(self, acct: str, bot: bool = False) -> JSON:
        username, _, domain = acct.lstrip("@").partition("@")
        if domain.lower() == self.domain.lower():
            domain = ""
        key = f"{username}@{domain}".lower()
        if key not in self._accounts:
            base = f"https://{domain}" if domain else self.url
            origin = f"{self.url}/ap/{domain}" if domain else self.url
            image = f"{self.url}/images/missing.png"
            self._accounts[key] = {
                "id": str(next(self._account_ids)),
                "username": username,
                "acct": f"{username}@{domain}" if domain else username,
                "display_name": username, "locked": False, "bot": bot, "discoverable": True,
                "group": False, "created_at": _iso(), "note": "", "url": f"{base}/@{username}",
                "uri": f"{origin}/users/{username}", "avatar": image, "avatar_static": image,
                "header": image, "header_static": image, "followers_count": 0,
                "following_count": 0, "statuses_count": 0, "last_status_at": None,
                "emojis": [], "fields": []}
        return self._accounts[key]

    @staticmethod
    def _mention(account: JSON) -> JSON:
        return {k: account[k] for k in ("id", "username", "url", "acct")}

    def _tag(self, name: str) -> JSON:
        name = name.lstrip("#").lower()
        return {"name": name, "url": f"{self.url}/tags/{quote(name)}"}

    @staticmethod
    def _tags_in(content_html: str) -> list[str]:
        text = html.unescape(_TAG_RE.sub("", _BREAK_RE.sub("\n", content_html)))
        return list(dict.fromkeys(m[1].lower() for m in _HASHTAG_RE.finditer(text)))

    def _new_status(
        self,
        account: JSON,
        content: str,
        *,
        visibility: str = "public",
        language: str | None = None,
        spoiler_text: str = "",
        sensitive: bool = False,
        media: list[JSON] | None = None,
        mentions: list[JSON] | None = None,
        tags: list[JSON] | None = None,
        in_reply_to_id: str | None = None,
        written_at: float | None = None,
    ) -> JSON:
        sid = self._next_id() if written_at is None else str((int(written_at * 1000) << 16) + len(self._all))
        parent = self._all.get(str(in_reply_to_id)) if in_reply_to_id else None
        if parent:
            parent["replies_count"] += 1
        account["statuses_count"] += 1
        account["last_status_at"] = _iso()[:10]
        status = {
            "id": sid,
            "uri": f"{account['uri']}/statuses/{sid}",
            "url": f"{account['url']}/{sid}",
            "created_at": _iso(written_at),
            "edited_at": None,
            "account": copy.deepcopy(account),
            "content": content,
            "visibility": visibility,
            "sensitive": sensitive or bool(spoiler_text),
            "spoiler_text": spoiler_text,
            "media_attachments": media or [],
            "application": None if "@" in account["acct"] else {"name": "Relais", "website": None},
            "mentions": mentions or [],
            "tags": tags or [],
            "emojis": [],
            "reblogs_count": 0,
            "favourites_count": 0,
            "replies_count": 0,
            "in_reply_to_id": str(in_reply_to_id) if in_reply_to_id else None,
            "in_reply_to_account_id": parent["account"]["id"] if parent else None,
            "reblog": None,
            "poll": None,
            "card": None,
            "language": language,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "filtered": [],
        }
        self._all[sid] = status
        return status

    def _format(self, text: str) -> tuple[str, list[JSON], list[JSON]]:
        """Plain text to Mastodon's HTML: escaped, linkified, in <p> paragraphs."""
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        found: list[tuple[int, int, str, Any]] = []
        for m in _URL_RE.finditer(text):
            found.append((m.start(), m.start() + len(_trim_url(m[0])), "url", _trim_url(m[0])))
        for kind, regex in (("mention", _MENTION_RE), ("tag", _HASHTAG_RE)):
            for m in regex.finditer(text):
                if not any(m.start() < end and start < m.end() for start, end, *_ in found):
                    found.append((m.start(), m.end(), kind, m))
        parts, pos, mentions, tags = [], 0, {}, {}
        for start, end, kind, value in sorted(found, key=lambda f: f[0]):
            parts.append(html.escape(text[pos:start], quote=False))
            pos = end
            if kind == "url":
                prefix = _URL_PREFIX_RE.match(value)[0]  # type: ignore[index]
                rest = value[len(prefix) :]
                parts.append(
                    f'<a href="{html.escape(value)}" target="_blank" rel="nofollow noopener" '
                    f'translate="no"><span class="invisible">{html.escape(prefix)}</span>'
                    f'<span class="{"ellipsis" if len(rest) > 30 else ""}">'
                    f'{html.escape(rest[:30])}</span><span class="invisible">'
                    f"{html.escape(rest[30:])}</span></a>"
                )
            elif kind == "mention":
                account = self._account(value[0][1:])
                mentions[account["id"]] = self._mention(account)
                parts.append(
                    f'<span class="h-card" translate="no"><a href="{account["url"]}" '
                    f'class="u-url mention">@<span>{account["username"]}</span></a>'
                    "</span>"
                )
            else:
                tag = self._tag(value[1])
                tags[tag["name"]] = tag
                parts.append(
                    f'<a href="{tag["url"]}" class="mention hashtag" rel="tag">'
                    f"#<span>{html.escape(value[1])}</span></a>"
                )
        parts.append(html.escape(text[pos:], quote=False))
        paragraphs = re.split(r"\n\s*\n", "".join(parts).strip("\n"))
        content = "".join(f"<p>{p.strip(chr(10)).replace(chr(10), '<br />')}</p>" for p in paragraphs)
        return content, list(mentions.values()), list(tags.values())

    def _instance_config(self) -> JSON:
        return {
            "statuses": {"max_characters": self.max_characters,
                         "max_media_attachments": self.max_media_attachments,
                         "characters_reserved_per_url": self.characters_reserved_per_url},
            "media_attachments": {"supported_mime_types": list(self.supported_mime_types),
                                  "description_limit": 1500,
                                  "image_size_limit": self.image_size_limit,
                                  "image_matrix_limit": 33177600,
                                  "video_size_limit": self.video_size_limit,
                                  "video_frame_rate_limit": 120,
                                  "video_matrix_limit": 8294400},
            "polls": {"max_options": 4, "max_characters_per_option": 50,
                      "min_expiration": 300, "max_expiration": 2629746},
            "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5}}

    # ---- streaming -------------------------------------------------------------------

    def _broadcast(self, event: str, status: JSON) -> None:
        """Send a status event where Mastodon would: the hashtag streams of its tags (public
        statuses only), and the user stream when it mentions the bot (``delete`` only: a
        mention itself arrives there as a ``notification``)."""
        tags = {t["name"] for t in status["tags"]} if status["visibility"] == "public" else set()
        mentions_bot = any(m["id"] == self._bot["id"] for m in status["mentions"]) or any(
            (n.get("status") or {}).get("id") == status["id"] for n in self._notifications)
        self._publish(lambda s: s.tag in tags or (s.tag is None and mentions_bot and event == "delete"),
                      event, status["id"] if event == "delete" else status)

    def _publish(self, wanted: Callable[[_Stream], bool], event: str, payload: JSON | str) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        with self._cond:
            for stream in self._streams:
                if wanted(stream):
                    stream.send((event, data))

    async def _stream_health(self, request: web.Request) -> web.StreamResponse:
        if self.streaming != "up":
            raise web.HTTPNotFound if self.streaming == "absent" else web.HTTPServiceUnavailable
        return web.Response(text="OK")

    async def _stream_user(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, None)

    async def _stream_hashtag(self, request: web.Request) -> web.StreamResponse:
        tag = request.query.get("tag", "").lstrip("#").lower()
        if not tag:
            return self._error(400, "Missing parameter: tag")
        return await self._stream(request, tag)

    async def _stream(self, request: web.Request, tag: str | None) -> web.StreamResponse:
        if self.streaming == "absent":
            raise web.HTTPNotFound
        if self.streaming == "down":
            return self._error(503, "Service Unavailable")
        stream = _Stream(tag, asyncio.get_running_loop(), asyncio.Queue())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-store"})
        with self._cond:  # subscribed before the client hears of the connection
            self._streams.append(stream)
            self._changed()
        assert self._stopping is not None
        beat = time.monotonic() + self.heartbeat
        try:
            await response.prepare(request)
            await response.write(b":)\n")
            while not self._stopping.is_set():
                if request.transport is None or request.transport.is_closing():
                    break  # the client went away
                try:
                    item = await asyncio.wait_for(stream.queue.get(), 0.05)
                except TimeoutError:
                    if time.monotonic() >= beat:
                        beat = time.monotonic() + self.heartbeat
                        await response.write(b":thump\n")
                    continue
                if item is None:
                    break
                event, data = item
                await response.write(f"event: {event}\ndata: {data}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            with self._cond:
                if stream in self._streams:
                    self._streams.remove(stream)
                self._changed()
        if request.transport is not None:
            request.transport.close()
        return response

    async def _origin_status(self, request: web.Request) -> web.Response:
        """A remote status at its origin, as ActivityPub serves it."""
        with self._cond:
            sid = request.match_info["id"]
            if sid in self._gone_at_origin:
                return web.json_response({"error": "Gone"}, status=410)
            status = self._all.get(sid)
            if status is None:
                raise web.HTTPNotFound
            return web.json_response({"id": status["uri"], "type": "Note", "content": status["content"]},
                                     content_type="application/activity+json")

    # ---- handlers --------------------------------------------------------------------

    async def _instance_v1(self, request: web.Request) -> web.Response:
        with self._cond:
            return web.json_response(
                {
                    "uri": self.domain,
                    "title": "Fake Mastodon",
                    "short_description": "",
                    "description": "Loopback fake for tests",
                    "email": "admin@" + self.domain,
                    "version": VERSION,
                    "urls": {"streaming_api": self.url.replace("http", "ws", 1)},
                    "stats": {"user_count": 1, "status_count": len(self._all), "domain_count": 1},
                    "thumbnail": None,
                    "languages": ["fr", "en"],
                    "registrations": False,
                    "approval_required": False,
                    "invites_enabled": False,
                    "configuration": self._instance_config(),
                    "contact_account": None,
                    "rules": [],
                }
            )

    async def _instance_v2(self, request: web.Request) -> web.Response:
        with self._cond:
            config = self._instance_config()
            config["urls"] = {"streaming": self.url.replace("http", "ws", 1)}
            config["translation"] = {"enabled": False}
            return web.json_response(
                {
                    "domain": self.domain,
                    "title": "Fake Mastodon",
                    "version": VERSION,
                    "source_url": "https://github.com/mastodon/mastodon",
                    "description": "Loopback fake for tests",
                    "usage": {"users": {"active_month": 1}},
                    "thumbnail": {"url": f"{self.url}/thumbnail.png"},
                    "languages": ["fr", "en"],
                    "configuration": config,
                    "api_versions": {"mastodon": 2},
                    "registrations": {"enabled": False, "approval_required": False, "message": None},
                    "contact": {"email": "admin@" + self.domain, "account": self._bot},
                    "rules": [],
                }
            )

    async def _verify_credentials(self, request: web.Request) -> web.Response:
        with self._cond:
            source = {"privacy": "public", "sensitive": False, "language": "fr", "note": "",
                      "fields": [], "follow_requests_count": 0}
            return web.json_response({**self._bot, "bot": self.bot_flag, "source": source})

    async def _app_credentials(self, request: web.Request) -> web.Response:
        """The token's application (Mastodon 4.3 added ``scopes``; ``redirect_uri`` is the
        older, single form of ``redirect_uris``)."""
        with self._cond:
            app: JSON = {"id": "1", "name": "Relais", "website": None,
                         "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
                         "redirect_uris": ["urn:ietf:wg:oauth:2.0:oob"],
                         "vapid_key": "BFake-vapid-key-for-tests"}
            if self.scopes is not None:
                app["scopes"] = list(self.scopes)
            return web.json_response(app)

    def _scope_needed(self, request: web.Request) -> str | None:
        """The OAuth scope Mastodon asks of a token for this call (None: any token)."""
        path, method = request.path.rstrip("/"), request.method
        if path == "/api/v1/accounts/verify_credentials":
            return "read:accounts"
        if path == "/api/v1/statuses" and method == "POST":
            return "write:statuses"
        if _FAVOURITE_RE.fullmatch(path):
            return "write:favourites"
        if path.startswith(("/api/v2/media", "/api/v1/media")):
            return "write:media"
        if path == "/api/v1/notifications":
            return "read:notifications"
        if path.startswith(("/api/v1/statuses/", "/api/v1/timelines/")):
            return "read:statuses"
        return None

    def _scope_granted(self, needed: str) -> bool:
        granted = self.scopes if self.scopes is not None else ["read", "write", "follow"]
        return needed in granted or needed.split(":", 1)[0] in granted

    async def _post_status(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        key = request.headers.get("Idempotency-Key")
        with self._cond:
            previous = self._idempotency.get((self._bot["id"], key)) if key else None
            if previous in self._all:
                return web.json_response(self._all[previous])
            text = str(params.get("status") or "")
            spoiler = str(params.get("spoiler_text") or "")
            visibility = str(params.get("visibility") or "public")
            media_ids = [str(m) for m in params.get("media_ids") or []]
            reply_to = params.get("in_reply_to_id") or None
            missing = [m for m in media_ids if m not in self._media or m in self._attached]
            length = count_characters(text, spoiler, self.characters_reserved_per_url)
            checks = [  # (refused?, HTTP status, error) in Mastodon's order
                (
                    reply_to and str(reply_to) not in self._all,
                    404,
                    "The post you are trying to reply to does not appear to exist.",
                ),
                (
                    visibility not in ("public", "unlisted", "private", "direct"),
                    422,
                    f"'{visibility}' is not a valid visibility",
                ),
                (
                    len(media_ids) > self.max_media_attachments,
                    422,
                    f"Cannot attach more than {self.max_media_attachments} files",
                ),
                (missing, 422, f"Media {', '.join(missing)} not found or already attached to another post"),
                (
                    self._processing.intersection(media_ids),
                    422,
                    "Cannot attach files that have not finished processing. Try again in a moment!",
                ),
                (not text.strip() and not media_ids, 422, "Validation failed: Text can't be blank"),
                (
                    length > self.max_characters,
                    422,
                    f"Validation failed: Text character limit of {self.max_characters} exceeded",
                ),
            ]
            for refused, code, message in checks:
                if refused:
                    return self._error(code, message)
            content, mentions, tags = self._format(text)
            status = self._new_status(
                self._bot,
                content,
                visibility=visibility,
                spoiler_text=spoiler,
                language=str(params.get("language") or "en"),
                mentions=mentions,
                tags=tags,
                sensitive=str(params.get("sensitive")).lower() in ("1", "true"),
                media=[self._media[m] for m in media_ids],
                in_reply_to_id=reply_to,
            )
            self._attached.update(media_ids)
            self._created.append(status)
            if key:
                self._idempotency[(self._bot["id"], key)] = status["id"]
            self._changed()
            return web.json_response(status)

    def _find_status(self, request: web.Request) -> JSON:
        status = self._all.get(request.match_info["id"])
        if status is None:
            raise web.HTTPNotFound
        return status

    async def _get_status(self, request: web.Request) -> web.Response:
        with self._cond:
            return web.json_response(self._find_status(request))

    async def _context(self, request: web.Request) -> web.Response:
        with self._cond:
            status = self._find_status(request)
            ancestors: list[JSON] = []
            parent = self._all.get(status["in_reply_to_id"] or "")
            while parent is not None:
                ancestors.insert(0, parent)
                parent = self._all.get(parent["in_reply_to_id"] or "")
            descendants: list[JSON] = []

            def walk(sid: str) -> None:
                for child in self._all.values():
                    if child["in_reply_to_id"] == sid:
                        descendants.append(child)
                        walk(child["id"])

            walk(status["id"])
            return web.json_response({"ancestors": ancestors, "descendants": descendants})

    async def _favourite(self, request: web.Request) -> web.Response:
        with self._cond:
            status = self._find_status(request)
            if status["id"] not in self._favourited:
                self._favourited.add(status["id"])
                status["favourites_count"] += 1
            status["favourited"] = True
            self._changed()
            return web.json_response(status)

    async def _post_media(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        upload = params.get("file")
        if not isinstance(upload, web.FileField):
            return self._error(422, "Validation failed: File can't be blank")
        mime = upload.content_type or ""
        kind = {"image": "image", "video": "video", "audio": "audio"}.get(mime.split("/")[0])
        if kind is None or mime not in _MIME_TYPES:
            return self._error(422, "Validation failed: File content type is invalid, File is invalid")
        data = upload.file.read()
        with self._cond:
            mid = self._next_id()
            name = f"{mid}.{mime.split('/')[1]}"
            base = f"{self.url}/system/media_attachments/files/{mid}"
            media = {
                "id": mid,
                "type": "gifv" if mime == "image/gif" else kind,
                "url": None if self.async_media else f"{base}/original/{name}",
                "preview_url": f"{base}/small/{name}",
                "remote_url": None,
                "preview_remote_url": None,
                "text_url": None,
                "meta": {},
                "description": params.get("description") or None,
                "blurhash": None,
            }
            self._set_focus(media, params.get("focus"))
            self._media[mid], self._media_files[mid] = media, data
            if self.async_media:
                self._processing.add(mid)
            self._changed()
            return web.json_response(media, status=202 if self.async_media else 200)

    @staticmethod
    def _set_focus(media: JSON, focus: Any) -> None:
        if focus:
            x, _, y = str(focus).partition(",")
            media["meta"]["focus"] = {"x": float(x), "y": float(y or 0)}

    async def _get_media(self, request: web.Request) -> web.Response:
        with self._cond:
            media = self._media.get(request.match_info["id"])
            if media is None:
                raise web.HTTPNotFound
            if media["id"] in self._processing:  # still processing: the attachment, url null
                return web.json_response({**media, "url": None}, status=206)
            return web.json_response(media)

    async def _put_media(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        with self._cond:
            media = self._media.get(request.match_info["id"])
            if media is None or media["id"] in self._attached:
                raise web.HTTPNotFound
            if "description" in params:
                media["description"] = params["description"] or None
            self._set_focus(media, params.get("focus"))
            self._changed()
            return web.json_response(media)

    def _page(self, request: web.Request, items: list[JSON], default: int, maximum: int) -> web.Response:
        """Paginate newest first by id, as Mastodon does, with a Link header."""
        query = request.query
        limit = _int_or_none(query.get("limit")) or default
        limit = max(1, min(limit, maximum))
        max_id, since_id, min_id = (_int_or_none(query.get(k)) for k in ("max_id", "since_id", "min_id"))
        kept = sorted(
            (
                i
                for i in items
                if (max_id is None or int(i["id"]) < max_id)
                and (since_id is None or int(i["id"]) > since_id)
                and (min_id is None or int(i["id"]) > min_id)
            ),
            key=lambda i: int(i["id"]),
        )
        page = kept[:limit][::-1] if min_id is not None else kept[::-1][:limit]
        response = web.json_response(page)
        if page:
            keep = [(k, v) for k, v in query.items() if k not in ("max_id", "since_id", "min_id")]
            base = f"{self.url}{request.rel_url.raw_path}?"
            response.headers["Link"] = (
                f'<{base}{urlencode([*keep, ("max_id", page[-1]["id"])])}>; rel="next", '
                f'<{base}{urlencode([*keep, ("min_id", page[0]["id"])])}>; rel="prev"'
            )
        return response

    async def _tag_timeline(self, request: web.Request) -> web.Response:
        name = request.match_info["hashtag"].lstrip("#").lower()
        with self._cond:
            items = [
                s
                for s in self._all.values()
                if s["visibility"] == "public" and any(t["name"] == name for t in s["tags"])
            ]
            return self._page(request, items, 20, 40)

    async def _get_notifications(self, request: web.Request) -> web.Response:
        query = request.query
        types, excluded = set(query.getall("types[]", [])), set(query.getall("exclude_types[]", []))
        account_id = query.get("account_id")
        with self._cond:
            items = [
                n
                for n in self._notifications
                if (not types or n["type"] in types)
                and n["type"] not in excluded
                and (account_id is None or n["account"]["id"] == account_id)
            ]
            return self._page(request, items, 40, 80)

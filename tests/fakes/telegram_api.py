"""A loopback fake of the Telegram Bot API (https://core.telegram.org/bots/api) for tests.

``FakeTelegram`` runs an aiohttp server on 127.0.0.1 in a background thread with its own
event loop. Tests point a client at ``tg.url``, drive the fake from the test thread (chats,
updates, injected faults) and inspect what the client sent. The token is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

from aiohttp import web

JSON = dict[str, Any]
ChatRef = int | str | JSON  # chat id, "@username" or a Chat/Message dict with "id"

DEFAULT_TOKEN = "123456:TEST-not-a-real-token"
MAX_TEXT, MAX_CAPTION = 4096, 1024
OPT_IN_UPDATES = ("chat_member", "message_reaction", "message_reaction_count")
TELEGRAM_USER = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
_GIFT_TYPES = dict.fromkeys(
    ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels"), False
)

_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}  # the only named entities accepted
_CHAR_REF = re.compile(r"&(#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|lt|gt|amp|quot);")
_TAG_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ATTR = re.compile(rf"""({_TAG_NAME.pattern})(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_START_TAG = re.compile(rf"<({_TAG_NAME.pattern})((?:\s+{_ATTR.pattern})*)\s*>")
_AUTO = re.compile(r"(?<![\w#@/])(?:(#\w*[^\W\d]\w*)|(@[A-Za-z]\w{4,31})\b)|(https?://[^\s<>\"]+)")
_OPAQUE = {"code", "pre", "text_link", "url"}  # detected entities never go inside these


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of entity offsets (a lone
    surrogate, which JSON can carry, is one)."""
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status, description and optional parameters."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters

    def response(self) -> web.Response:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return web.json_response(body, status=self.status)


def _too_many(seconds: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})


def _char_ref(match: re.Match[str]) -> str:
    name = match.group(1)
    if name in _NAMED:
        return _NAMED[name]
    code = int(name[2:], 16) if name[1] == "x" else int(name[1:])
    return chr(code) if 0 < code <= 0x10FFFF else match.group(0)


def parse_html(source: str) -> tuple[str, list[JSON]]:
    """Turn Bot API HTML into (plain text, entities), or raise the server's 400 error."""

    def fail(reason: str) -> ApiError:
        return ApiError(400, f"Bad Request: can't parse entities: {reason}")

    def at(index: int) -> str:
        return f"at byte offset {len(source[:index].encode())}"

    out: list[str] = []
    pos = i = opened = 0  # UTF-16 length of out, index in source, tags opened so far
    stack: list[tuple[str, int, JSON | None, int]] = []  # tag, start, entity, open order
    found: list[tuple[int, JSON]] = []
    while i < len(source):
        if source[i] == "&":  # an unknown entity stays a literal "&"
            ref = _CHAR_REF.match(source, i)
            chunk, i = (_char_ref(ref), ref.end()) if ref else ("&", i + 1)
        elif source[i] != "<":
            end = min((k for k in (source.find("<", i), source.find("&", i)) if k >= 0), default=len(source))
            chunk, i = source[i:end], end
        elif source.startswith("</", i):
            close = source.find(">", i)
            if close < 0:
                raise fail(f"Unclosed end tag {at(i)}")
            if not stack:
                raise fail(f"Unexpected end tag {at(i)}")
            name, (tag, start, entity, order) = source[i + 2 : close].strip().lower(), stack.pop()
            if name != tag:
                raise fail(f'Unmatched end tag {at(i)}, expected "</{tag}>", found "</{name}>"')
            if entity is not None and pos > start:
                found.append((order, {**entity, "offset": start, "length": pos - start}))
            i = close + 1
            continue
        else:
            name_match = _TAG_NAME.match(source, i + 1)
            name = name_match.group(0).lower() if name_match else ""
            if name not in _TAGS:
                raise fail(f'Unsupported start tag "{name}" {at(i)}')
            if (tag_match := _START_TAG.match(source, i)) is None:
                raise fail(f"Unclosed start tag {at(i)}")
            attrs = {
                a.group(1).lower(): _CHAR_REF.sub(_char_ref, a[2] or a[3] or a[4] or "")
                for a in _ATTR.finditer(tag_match.group(2))
            }
            entity: JSON | None = {"type": _TAGS[name]}
            parent = stack[-1] if stack else None
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise fail(f'Unsupported start tag "span" {at(i)}')
            if name == "a":
                entity = {"type": "text_link", "url": attrs["href"]} if "href" in attrs else None
            elif name == "code" and parent and parent[0] == "pre" and parent[2] is not None:
                if attrs.get("class", "").startswith("language-"):
                    parent[2]["language"] = attrs["class"][len("language-") :]
                entity = None  # <pre><code class="language-x"> is one pre entity
            elif name == "blockquote" and "expandable" in attrs:
                entity = {"type": "expandable_blockquote"}
            elif name == "tg-emoji":
                entity = {"type": "custom_emoji", "custom_emoji_id": attrs.get("emoji-id", "")}
            stack.append((name, pos, entity, opened))
            opened, i = opened + 1, tag_match.end()
            continue
        out.append(chunk)
        pos += utf16_len(chunk)
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    found.sort(key=lambda item: (item[1]["offset"], -item[1]["length"], item[0]))
    return "".join(out), [entity for _, entity in found]


def auto_entities(text: str, entities: list[JSON] | None = None) -> list[JSON]:
    """Add the hashtag, mention and url entities the server detects by itself."""
    result = list(entities or [])
    opaque = [(e["offset"], e["offset"] + e["length"]) for e in result if e["type"] in _OPAQUE]
    for match in _AUTO.finditer(text):
        value = match.group(0).rstrip(".,;:!?)'") if match.group(3) else match.group(0)
        start = utf16_len(text[: match.start()])
        end = start + utf16_len(value)
        if not any(start < o_end and o_start < end for o_start, o_end in opaque):
            kind = "hashtag" if match.group(1) else "mention" if match.group(2) else "url"
            result.append({"type": kind, "offset": start, "length": end - start})
    return sorted(result, key=lambda e: (e["offset"], -e["length"]))


@dataclass(frozen=True)
class SentMessage:
    """A message the server accepted (recorded even when the answer is delayed or lost)."""

    method: str
    chat_id: int
    message_id: int
    text: str | None
    caption: str | None
    parse_mode: str | None
    entities: list[JSON]  # entities, or caption_entities for a photo
    photo_size: int | None  # bytes of an uploaded photo
    photo_file_id: str | None  # file_id or URL given instead of an upload
    received_at: float  # time.monotonic()
    wall_time: float  # time.time()
    params: JSON
    message: JSON  # the Message object answered


@dataclass(frozen=True)
class ApiRequest:
    """One call with the right token to a known method (with no params when the client
    went away before its body arrived: nothing was done, but the request was on the wire)."""

    method: str
    http_method: str
    params: JSON
    received_at: float  # time.monotonic()
    wall_time: float  # time.time()


@dataclass
class _Fault:
    kind: str  # fail | bad_request | retry_after, answered at once; delay | drop | truncate, after work
    method: str | None  # None: any method
    times: int
    status: int = 500
    description: str = ""
    seconds: float = 0.0


class _Params:
    """Parameters from the query string and a JSON, form-urlencoded or multipart body."""

    def __init__(self, raw: JSON, files: dict[str, bytes], received: tuple[float, float]) -> None:
        self.raw, self.files, self.received = raw, files, received

    def text(self, name: str) -> str | None:
        value = self.raw.get(name)
        return None if value is None else str(value)

    def integer(self, name: str) -> int | None:
        value = self.raw.get(name)
        try:
            return None if value in (None, "") else int(value)
        except (TypeError, ValueError):
            raise ApiError(400, f"Bad Request: invalid {name} specified") from None

    def decoded(self, name: str) -> Any:
        """A JSON-serialized parameter (form fields carry objects as JSON strings)."""
        value = self.raw.get(name)
        try:
            return json.loads(value) if isinstance(value, str) else value
        except ValueError:
            raise ApiError(400, f"Bad Request: can't parse {name} JSON object") from None

    def upload(self, name: str) -> bytes | None:
        value = self.raw.get(name)  # a field of its own, or "attach://<field>"
        attached = isinstance(value, str) and value.startswith("attach://")
        return self.files.get(value.removeprefix("attach://") if attached else name)


class FakeTelegram:
    """Fake Bot API server on 127.0.0.1; its public methods are safe from any thread."""

    _METHODS: ClassVar[dict[str, str]] = {name.lower(): name for name in (  # case-insensitive
        "getMe", "sendMessage", "sendPhoto", "getChat", "getChatMember", "getChatAdministrators",
        "setMessageReaction", "getUpdates", "deleteWebhook", "close", "logOut")}

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "relais_test_bot",
        bot_name: str = "Relais",
        rate_limited: bool = True,
    ) -> None:
        self._token = token
        prefix = token.split(":", 1)[0]
        self.bot_user: JSON = {
            "id": int(prefix) if prefix.isdigit() else 123456,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.url = ""
        self._cond = threading.Condition(threading.RLock())  # guards all state below
        self._chats: dict[int, JSON] = {}
        self._chat_info: dict[int, JSON] = {}  # getChat-only fields
        self._bot_member: dict[int, JSON] = {}  # the bot's ChatMember, by chat (default: _default_member)
        self._migrated: dict[int, int] = {}
        self._messages: dict[tuple[int, int], JSON] = {}
        self._last_id: dict[int, int] = {}
        self._reactions: dict[tuple[int, int], list[JSON]] = {}
        self._photos: dict[str, list[JSON]] = {}  # file_id -> PhotoSize list
        self._sent: list[SentMessage] = []
        self._requests: list[ApiRequest] = []
        self._faults: list[_Fault] = []
        self._updates: list[JSON] = []
        self._next_update_id = 500_000_001
        self._allowed: list[str] | None = None
        self._too_many = 0
        self._per_second = 30 if rate_limited else None
        self._per_chat_minute = 20 if rate_limited else None
        self._window: deque[float] = deque()
        self._chat_windows: dict[int, deque[float]] = {}
        # Telegram documents no figure for reactions; the fake assumes their own window per
        # chat, like messages' (and the overall one is shared with messages).
        self._reactions_per_chat_minute = 20 if rate_limited else None
        self._reaction_windows: dict[int, deque[float]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._update_event = self._closing = asyncio.Event()  # replaced in the server loop
        # As Telegram does: each post in a channel with a linked discussion group is copied
        # there (``automatic_forward``) ``forward_delay`` seconds after it is sent.
        self.forward_channel_posts = False
        self.forward_delay = 0.0

    def __repr__(self) -> str:
        return f"<FakeTelegram {self.url or 'stopped'}>"  # never shows the token

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeTelegram:
        """Serve on a free port of 127.0.0.1; ``url`` is set on return."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="fake-telegram")
            self._thread.start()
            asyncio.run_coroutine_threadsafe(self._startup(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        """Answer pending long polls and delays at once, close connections, end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _startup(self) -> None:
        self._update_event, self._closing = asyncio.Event(), asyncio.Event()
        app = web.Application(client_max_size=50 * 2**20)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)  # no URL logs
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def _shutdown(self) -> None:
        self._closing.set()
        self._update_event.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- test-side configuration -------------------------------------------------------------
    def add_chat(
        self,
        id: int,
        type: str = "channel",
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        linked_chat_id: int | None = None,
        description: str | None = None,
    ) -> JSON:
        """Register a chat the bot can see (linked both ways); returns its Chat object."""
        names = (
            {"first_name": first_name or username or "User", "last_name": last_name}
            if (type == "private")
            else {"title": title or username or f"Chat {id}"}
        )
        fields = names | {"username": username}
        chat = {"id": id, "type": type} | {k: v for k, v in fields.items() if v is not None}
        with self._cond:
            self._chats[id] = chat
            self._chat_info[id] = {"description": description, "linked_chat_id": linked_chat_id}
            for other, info in self._chat_info.items():
                if info["linked_chat_id"] == id or other == linked_chat_id:
                    self._chat_info[id]["linked_chat_id"], info["linked_chat_id"] = other, id
        return chat

    def set_bot_member(self, chat: ChatRef, status: str, **rights: bool) -> JSON:
        """Make the bot a ``creator``, ``administrator`` (with ``rights``, e.g.
        ``can_post_messages=False``), ``member``, ``left`` or ``kicked`` of a registered chat:
        getChatMember answers it and sends obey it. By default the bot is an administrator
        allowed to post in a channel and a member of a group."""
        with self._cond:
            found = self._find_chat(chat)
            member = self._member(found, status, **rights)
            self._bot_member[found["id"]] = member
            return member

    def set_privacy_mode(self, on: bool) -> None:
        """Privacy mode (set with @BotFather): off, the bot sees every message of its groups
        (getMe's ``can_read_all_group_messages``)."""
        with self._cond:
            self.bot_user["can_read_all_group_messages"] = not on

    def _member(self, chat: JSON, status: str, **rights: bool) -> JSON:
        """A ChatMember of the bot, as the Bot API shapes it for ``status``."""
        member: JSON = {"status": status, "user": dict(self.bot_user)}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member |= {"can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
                       "can_delete_messages": True, "can_manage_video_chats": True,
                       "can_restrict_members": True, "can_promote_members": False,
                       "can_change_info": True, "can_invite_users": True, "can_post_stories": False,
                       "can_edit_stories": False, "can_delete_stories": False}
            if chat["type"] == "channel":
                member |= {"can_post_messages": True, "can_edit_messages": True}
            else:
                member |= {"can_pin_messages": True, "can_manage_topics": False}
            member |= rights
        elif status == "kicked":
            member["until_date"] = 0
        elif status not in ("member", "left"):
            raise ValueError(f"unsupported status {status!r}")
        return member

    def _default_member(self, chat: JSON) -> JSON:
        return self._bot_member.get(chat["id"]) or self._member(
            chat, "administrator" if chat["type"] == "channel" else "member")

    def _check_may_send(self, chat: JSON) -> None:
        """The Bot API's refusals when the bot may not post in ``chat``."""
        member, kind = self._default_member(chat), "channel" if chat["type"] == "channel" else "group"
        if member["status"] == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        if member["status"] == "left" or (kind == "channel" and member["status"] == "member"):
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        if kind == "channel" and member["status"] == "administrator" and not member.get("can_post_messages"):
            raise ApiError(400, "Bad Request: need administrator rights in the channel chat")

    def migrate_chat(self, old_id: int, new_id: int) -> None:
        """Mark a group as upgraded: sends to ``old_id`` then answer migrate_to_chat_id."""
        with self._cond:
            old = self._chats.get(old_id, {})
            if new_id not in self._chats:
                self.add_chat(new_id, "supergroup", title=old.get("title"), username=old.get("username"))
            self._migrated[old_id] = new_id

    def rate_limits(self, per_second: int | None = 30, per_chat_per_minute: int | None = 20) -> None:
        """Set the flood limits; None switches one off, ``rate_limits(None, None)`` both."""
        with self._cond:
            self._per_second, self._per_chat_minute = per_second, per_chat_per_minute

    def reaction_limits(self, per_chat_per_minute: int | None = 20) -> None:
        """Set how many setMessageReaction calls a chat takes in any 60 s (None: no limit)."""
        with self._cond:
            self._reactions_per_chat_minute = per_chat_per_minute

    def fail(
        self, method: str | None = None, *, status: int = 500, times: int = 1, description: str | None = None
    ) -> None:
        """Answer the next ``times`` calls (of ``method``, or any) with an HTTP error."""
        text = description or HTTPStatus(status).phrase
        self._add_fault(_Fault("fail", method, times, status=status, description=text))

    def retry_after(self, seconds: int, *, method: str | None = None, times: int = 1) -> None:
        """Answer the next calls with 429 and ``parameters.retry_after``."""
        self._add_fault(_Fault("retry_after", method, times, seconds=seconds))

    def bad_request(self, description: str, *, method: str | None = None, times: int = 1) -> None:
        """Answer the next calls with 400 and this description ("Bad Request: " added)."""
        if not description.startswith("Bad Request"):
            description = f"Bad Request: {description}"
        self._add_fault(_Fault("bad_request", method, times, status=400, description=description))

    def delay(self, seconds: float, *, method: str | None = None, times: int = 1) -> None:
        """Process the next calls normally (messages are recorded) but answer late."""
        self._add_fault(_Fault("delay", method, times, seconds=seconds))

    def drop_after_receive(self, *, method: str | None = None, times: int = 1) -> None:
        """Process the next calls normally, then abort the connection without an answer."""
        self._add_fault(_Fault("drop", method, times))

    def fail_after_sending(self, method: str | None = None, *, status: int = 502, times: int = 1) -> None:
        """Process the next calls normally (the message is sent), then answer ``status`` as
        Telegram's gateway does when the Bot API answered too late for it."""
        self._add_fault(_Fault("fail_after", method, times, status=status,
                               description=HTTPStatus(status).phrase))

    def truncate_answer(self, *, method: str | None = None, times: int = 1) -> None:
        """Process the next calls normally, then answer 200 with the JSON body short of its
        last bytes (a proxy that lost the end of it)."""
        self._add_fault(_Fault("truncate", method, times))

    def _add_fault(self, fault: _Fault) -> None:
        with self._cond:
            self._faults.append(fault)

    # -- inspection --------------------------------------------------------------------------
    @property
    def sent(self) -> list[SentMessage]:
        with self._cond:
            return list(self._sent)

    @property
    def requests(self) -> list[ApiRequest]:
        with self._cond:
            return list(self._requests)

    @property
    def too_many_requests(self) -> int:
        """How many 429 answers were given (flood limits and injected)."""
        with self._cond:
            return self._too_many

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates queued and not yet confirmed by an offset."""
        with self._cond:
            return list(self._updates)

    @property
    def reaction_requests(self) -> list[tuple[int | str, int | str]]:
        """(chat_id, message_id) of every setMessageReaction call received, in order,
        whatever the answer (a 429 included)."""
        with self._cond:
            return [
                (r.params.get("chat_id"), r.params.get("message_id"))
                for r in self._requests
                if r.method == "setMessageReaction"
            ]

    @property
    def reactions(self) -> dict[tuple[int, int], list[JSON]]:
        """The reaction the bot set, by (chat_id, message_id)."""
        with self._cond:
            return dict(self._reactions)

    def wait_for(self, predicate: Callable[[FakeTelegram], bool], timeout: float = 5.0) -> None:
        """Block until ``predicate(self)`` holds, re-checked on every change; else TimeoutError."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self), timeout):
                raise TimeoutError(f"condition still false after {timeout}s")

    # -- updates -----------------------------------------------------------------------------
    def push_update(self, update: JSON) -> JSON:
        """Queue an update (``update_id`` assigned if missing) and wake long polls."""
        with self._cond:
            update = dict(update)
            update.setdefault("update_id", self._next_update_id)
            self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
            self._updates.append(update)
            self._cond.notify_all()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._update_event.set)
        return update

    @staticmethod
    def user(
        id: int,
        first_name: str = "Ana",
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "fr",
    ) -> JSON:
        """A User object for a human."""
        fields = {"last_name": last_name, "username": username, "language_code": language_code}
        return {"id": id, "is_bot": False, "first_name": first_name} | {
            k: v for k, v in fields.items() if v is not None
        }

    def channel_post(
        self, chat: ChatRef, text: str, *, entities: list[JSON] | None = None, push: bool = True
    ) -> JSON:
        """A ``channel_post`` update in a registered channel."""
        with self._cond:
            channel = self._find_chat(chat)
            fields = {"sender_chat": channel, "text": text}
            return self._emit("channel_post", channel, fields, entities, push)

    def group_message(
        self,
        chat: ChatRef,
        from_user: JSON,
        text: str,
        *,
        reply_to: int | JSON | None = None,
        entities: list[JSON] | None = None,
        push: bool = True,
    ) -> JSON:
        """A ``message`` update from a user in a group, maybe replying to a known message."""
        with self._cond:
            group = self._find_chat(chat)
            fields = {
                "from": from_user,
                "reply_to_message": self._reply_target(group, reply_to),
                "text": text,
            }
            return self._emit("message", group, fields, entities, push)

    def group_photo(
        self,
        chat: ChatRef,
        from_user: JSON,
        caption: str,
        *,
        reply_to: int | JSON | None = None,
        caption_entities: list[JSON] | None = None,
        push: bool = True,
    ) -> JSON:
        """A ``message`` update with a photo and its caption from a user in a group."""
        with self._cond:
            group = self._find_chat(chat)
            found = auto_entities(caption) if caption_entities is None else caption_entities
            fields = {
                "from": from_user,
                "reply_to_message": self._reply_target(group, reply_to),
                "photo": self._new_photo(0),
                "caption": caption,
                "caption_entities": found,
            }
            update = {"message": self._new_message(group, fields)}
        return self.push_update(update) if push else update

    def private_message(
        self, from_user: JSON, text: str, *, entities: list[JSON] | None = None, push: bool = True
    ) -> JSON:
        """A ``message`` update in the private chat of ``from_user`` with the bot."""
        with self._cond:
            chat = self._chats.get(from_user["id"]) or self.add_chat(
                from_user["id"],
                "private",
                first_name=from_user["first_name"],
                last_name=from_user.get("last_name"),
                username=from_user.get("username"),
            )
            return self._emit("message", chat, {"from": from_user, "text": text}, entities, push)

    def edited_message(
        self, message: JSON, text: str, *, entities: list[JSON] | None = None, push: bool = True
    ) -> JSON:
        """An ``edited_message`` (``edited_channel_post`` in a channel) of a known message."""
        edited = {k: v for k, v in message.items() if k != "entities"}
        edited |= {"edit_date": int(time.time()), "text": text}
        if found := auto_entities(text) if entities is None else entities:
            edited["entities"] = found
        kind = "edited_channel_post" if edited["chat"]["type"] == "channel" else "edited_message"
        with self._cond:
            self._messages[(edited["chat"]["id"], edited["message_id"])] = edited
        return self.push_update({kind: edited}) if push else {kind: edited}

    def automatic_forward(self, channel_message: JSON, *, push: bool = True) -> JSON:
        """The copy of a channel post that Telegram puts in the linked discussion group."""
        channel = channel_message["chat"]
        with self._cond:
            group_id = self._chat_info.get(channel["id"], {}).get("linked_chat_id")
            if group_id not in self._chats:
                raise ValueError("the channel has no linked discussion group registered")
            origin = {"type": "channel", "chat": channel, "date": channel_message["date"],
                      "message_id": channel_message["message_id"]}
            fields = {"from": TELEGRAM_USER, "sender_chat": channel, "forward_origin": origin,
                      "is_automatic_forward": True, "text": channel_message.get("text")}
            if "caption" in channel_message:
                fields |= {"caption": channel_message["caption"], "photo": channel_message.get("photo")}
            return self._emit("message", self._chats[group_id], fields,
                              channel_message.get("entities", []), push)

    def _emit(self, kind: str, chat: JSON, fields: JSON, entities: list[JSON] | None, push: bool) -> JSON:
        fields["entities"] = auto_entities(fields["text"]) if entities is None else entities
        update = {kind: self._new_message(chat, fields)}
        return self.push_update(update) if push else update

    # -- state helpers, called with the lock held --------------------------------------------
    def _find_chat(self, ref: ChatRef) -> JSON:
        ref = ref["id"] if isinstance(ref, dict) else ref
        if isinstance(ref, str) and ref.startswith("@"):
            by_name = {c["username"].lower(): c["id"] for c in self._chats.values() if "username" in c}
            ref = by_name.get(ref[1:].lower(), 0)
        try:
            chat_id = int(ref)
        except (TypeError, ValueError):
            chat_id = 0
        if chat_id in self._migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat_id]},
            )
        if chat_id not in self._chats:
            raise ApiError(400, "Bad Request: chat not found")
        return self._chats[chat_id]

    def _new_message(self, chat: JSON, fields: JSON) -> JSON:
        message_id = self._last_id[chat["id"]] = self._last_id.get(chat["id"], 0) + 1
        message = {"message_id": message_id, "date": int(time.time()), "chat": chat}
        target = fields.get("reply_to_message")
        if chat["type"] == "supergroup" and target:
            # Replies in a supergroup form a thread named after the message it started from
            # (in a discussion group, the copy of the channel post): a reply to a reply
            # stays in its parent's thread.
            message["message_thread_id"] = target.get("message_thread_id", target["message_id"])
        message |= {k: v for k, v in fields.items() if v not in (None, [], "")}
        self._messages[(chat["id"], message_id)] = message
        return message

    def _new_photo(self, size: int) -> list[JSON]:
        """The PhotoSize list of a new photo of ``size`` bytes (0: a typical size)."""
        number, size = len(self._photos) + 1, size or 50_000
        sizes = [
            {
                "file_id": f"AgACAgQAAx-fake-{number}-{w}",
                "width": w,
                "file_unique_id": f"AQAD-fake-{number}-{w}",
                "height": w * 2 // 3,
                "file_size": max(1, size * w // 1280),
            }
            for w in (90, 320, 800, 1280)
        ]
        self._photos |= {s["file_id"]: sizes for s in sizes}
        return sizes

    def _reply_target(self, chat: JSON, ref: int | JSON | None) -> JSON | None:
        if ref is None:
            return None
        message_id = ref["message_id"] if isinstance(ref, dict) else ref
        target = self._messages.get((chat["id"], message_id))
        if target is None:
            raise ValueError(f"no message {message_id} in chat {chat['id']}")
        return {k: v for k, v in target.items() if k != "reply_to_message"}

    def _take_fault(self, method: str, kinds: tuple[str, ...]) -> _Fault | None:
        for fault in self._faults:
            if fault.kind in kinds and fault.method in (None, method):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _check_flood(self, chat: JSON, *, reaction: bool = False) -> None:
        """Sliding windows: all calls over 1 s, and per group or channel over 60 s (messages
        and reactions each in their own window)."""
        now, waits = time.monotonic(), []
        windows = [(self._window, self._per_second, 1.0)]
        if reaction:
            windows.append(
                (
                    self._reaction_windows.setdefault(chat["id"], deque()),
                    self._reactions_per_chat_minute,
                    60.0,
                )
            )
        elif chat["type"] != "private":
            windows.append((self._chat_windows.setdefault(chat["id"], deque()), self._per_chat_minute, 60.0))
        for window, limit, span in windows:
            while window and window[0] <= now - span:
                window.popleft()
            if limit is not None and len(window) >= limit:
                waits.append(window[0] + span - now)
        if waits:
            raise _too_many(max(1, math.ceil(max(waits))))
        for window, _, _ in windows:
            window.append(now)

    # -- HTTP side ---------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self._token:
            return ApiError(401, "Unauthorized").response()
        method = self._METHODS.get(request.match_info["method"].lower())
        if method is None:
            return ApiError(404, "Not Found").response()
        received = (time.monotonic(), time.time())
        after: _Fault | None = None
        try:
            try:
                params = await self._read_params(request, received)
            except ConnectionError:  # the client went away before its body arrived
                with self._cond:
                    self._requests.append(ApiRequest(method, request.method, {}, *received))
                    self._cond.notify_all()
                raise
            with self._cond:
                self._requests.append(ApiRequest(method, request.method, params.raw, *received))
                now = self._take_fault(method, ("fail", "retry_after", "bad_request"))
                after = None if now else self._take_fault(method, ("delay", "drop", "truncate", "fail_after"))
                self._cond.notify_all()
            if now is not None:
                raise (
                    _too_many(int(now.seconds))
                    if now.kind == "retry_after"
                    else ApiError(now.status, now.description)
                )
            if method == "getUpdates":
                result = await self._get_updates(params)
            else:
                with self._cond:
                    result = getattr(self, f"_api_{method}")(params)
                    self._cond.notify_all()
            response = web.json_response({"ok": True, "result": result})
        except ApiError as exc:
            with self._cond:
                self._too_many += 1 if exc.status == 429 else 0
                self._cond.notify_all()
            response = exc.response()
        if after is not None and after.kind == "delay":
            with contextlib.suppress(TimeoutError):  # stop() ends the delay at once
                await asyncio.wait_for(self._closing.wait(), after.seconds)
        elif after is not None and after.kind == "fail_after":
            response = ApiError(after.status, after.description).response()
        elif after is not None and after.kind == "truncate":
            body = response.body if isinstance(response.body, bytes) else b""
            response = web.Response(body=body[:-3], content_type="application/json")
        elif after is not None and request.transport is not None:  # drop
            request.transport.abort()
        return response

    @staticmethod
    async def _read_params(request: web.Request, received: tuple[float, float]) -> _Params:
        raw: JSON = dict(request.query)
        files: dict[str, bytes] = {}
        if request.content_type == "application/json" and request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON encoded body") from None
            raw |= body if isinstance(body, dict) else {}
        elif request.can_read_body:  # form-urlencoded or multipart
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                    raw[key] = f"<upload {value.filename!r}, {len(files[key])} bytes>"
                else:
                    raw[key] = value
        return _Params(raw, files, received)

    def _format(self, p: _Params, name: str, entities_name: str) -> tuple[str, list[JSON]]:
        """Text or caption after parse_mode, trimming and entity detection."""
        text, mode = p.text(name) or "", (p.text("parse_mode") or "").lower()
        if mode == "html":
            text, entities = parse_html(text)
        elif mode in ("", "markdown", "markdownv2"):  # Markdown is not parsed by this fake
            entities = list(p.decoded(entities_name) or [])
        else:
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        lead = utf16_len(text) - utf16_len(text.lstrip())  # the server trims whitespace
        text = text.strip()
        size, kept = utf16_len(text), []
        for e in entities:
            start, end = max(e["offset"] - lead, 0), min(e["offset"] + e["length"] - lead, size)
            if end > start:
                kept.append(e | {"offset": start, "length": end - start})
        return text, auto_entities(text, kept)

    def _deliver(self, p: _Params, chat: JSON, fields: JSON, **record: Any) -> JSON:
        """Check reply and flood limits, then store, record and return the new Message."""
        reply = p.decoded("reply_parameters") or {}
        reply_id = reply.get("message_id") or p.integer("reply_to_message_id")
        try:
            fields["reply_to_message"] = self._reply_target(chat, reply_id)
        except ValueError:
            if not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found") from None
        if chat["type"] != "private":
            self._check_may_send(chat)
        self._check_flood(chat)
        sender = {"sender_chat": chat} if chat["type"] == "channel" else {"from": self.bot_user}
        message = self._new_message(chat, sender | fields)
        linked = self._chat_info.get(chat["id"], {}).get("linked_chat_id")
        if self.forward_channel_posts and chat["type"] == "channel" and linked in self._chats:
            assert self._loop is not None
            self._loop.call_later(self.forward_delay, self.automatic_forward, message)
        self._sent.append(SentMessage(
            chat_id=chat["id"], message_id=message["message_id"], text=message.get("text"),
            caption=message.get("caption"), parse_mode=p.text("parse_mode"),
            received_at=p.received[0], wall_time=p.received[1], params=p.raw, message=message,
            **record))
        return message

    def _api_getMe(self, p: _Params) -> JSON:
        return self.bot_user

    def _api_sendMessage(self, p: _Params) -> JSON:
        chat = self._find_chat(p.raw.get("chat_id"))
        text, entities = self._format(p, "text", "entities")
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        fields = {
            "text": text,
            "entities": entities,
            "link_preview_options": p.decoded("link_preview_options"),
        }
        return self._deliver(
            p, chat, fields, method="sendMessage", entities=entities, photo_size=None, photo_file_id=None
        )

    def _api_sendPhoto(self, p: _Params) -> JSON:
        chat = self._find_chat(p.raw.get("chat_id"))
        upload, file_id = p.upload("photo"), p.text("photo")
        if upload is None and (not file_id or file_id.startswith("<upload")):
            raise ApiError(400, "Bad Request: there is no photo in the request")
        caption, entities = self._format(p, "caption", "caption_entities")
        if len(caption) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        if upload is not None or file_id not in self._photos:  # new photo: make its sizes
            sizes = self._new_photo(len(upload or b""))
        else:
            sizes = self._photos[file_id]
        fields = {"photo": sizes, "caption": caption, "caption_entities": entities}
        return self._deliver(
            p,
            chat,
            fields,
            method="sendPhoto",
            entities=entities,
            photo_size=None if upload is None else len(upload),
            photo_file_id=None if upload is not None else file_id,
        )

    def _api_getChat(self, p: _Params) -> JSON:
        chat = self._find_chat(p.raw.get("chat_id"))
        info = {k: v for k, v in self._chat_info[chat["id"]].items() if v is not None}
        return (
            chat | info | {"accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": _GIFT_TYPES}
        )

    def _api_getChatMember(self, p: _Params) -> JSON:
        chat = self._find_chat(p.raw.get("chat_id"))
        user_id = p.integer("user_id")
        if user_id is None:
            raise ApiError(400, "Bad Request: user_id not specified")
        if user_id == self.bot_user["id"]:
            return self._default_member(chat)
        if chat["type"] == "channel" and self._default_member(chat)["status"] not in (
                "administrator", "creator"):
            raise ApiError(400, "Bad Request: member list is inaccessible")
        user = {"id": user_id, "is_bot": False, "first_name": "User"}
        return {"status": "left", "user": user}

    def _api_getChatAdministrators(self, p: _Params) -> list[JSON]:
        chat = self._find_chat(p.raw.get("chat_id"))
        bot = self._default_member(chat)
        if chat["type"] == "channel" and bot["status"] not in ("administrator", "creator"):
            raise ApiError(400, "Bad Request: member list is inaccessible")
        owner = {"status": "creator", "is_anonymous": False,
                 "user": {"id": 1, "is_bot": False, "first_name": "Owner"}}
        return [owner] + ([bot] if bot["status"] == "administrator" else [])

    def _api_setMessageReaction(self, p: _Params) -> bool:
        chat = self._find_chat(p.raw.get("chat_id"))
        reaction = list(p.decoded("reaction") or [])
        self._check_flood(chat, reaction=True)
        self._reactions[(chat["id"], p.integer("message_id") or 0)] = reaction
        return True

    def _api_deleteWebhook(self, p: _Params) -> bool:
        if p.decoded("drop_pending_updates") is True:
            self._updates.clear()
        return True

    def _api_close(self, p: _Params) -> bool:
        return True

    _api_logOut = _api_close

    async def _get_updates(self, p: _Params) -> list[JSON]:
        offset, limit = p.integer("offset"), min(max(p.integer("limit") or 100, 1), 100)
        allowed = p.decoded("allowed_updates")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(p.integer("timeout") or 0, 0)
        with self._cond:
            if allowed is not None:  # "if not specified, the previous setting will be used"
                self._allowed = list(allowed)
            if offset is not None and offset > 0:  # confirms every update below offset
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset is not None and offset < 0:  # keeps only the last -offset updates
                self._updates = self._updates[offset:]
            self._cond.notify_all()
        while True:
            self._update_event.clear()
            with self._cond:
                batch = [u for u in self._updates if self._is_allowed(u)][:limit]
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing.is_set():
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._update_event.wait(), remaining)

    def _is_allowed(self, update: JSON) -> bool:
        kind = next(k for k in update if k != "update_id")
        return kind in self._allowed if self._allowed else kind not in OPT_IN_UPDATES

"""Reading what followers post, for the collector (``MastodonReader``): hashtag timelines
and mentions paged forward by ``min_id`` (no gap), contexts, lookups (edits, deletions),
favourites. A malformed status is skipped, logged without its content, and never moves the
cursor past itself unless a newer one was read."""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from bot.adapters.mastodon.client import MastodonClient, get_field, log, unless_gone
from bot.adapters.mastodon.text import clean, html_to_text, status_text
from bot.domain import Removal, Reply
from bot.networks.mastodon import NAME
from bot.ports import Page, TemporaryError

if TYPE_CHECKING:
    from bot.adapters.mastodon.stream import MastodonStreams

ORIGIN_ACCEPT = (
    'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
)
PAGE_LIMIT = 40  # the most statuses (or notifications) Mastodon gives in one page
_ID = re.compile(r"[0-9]{1,30}")
_NOBOT = re.compile(r"(?<!\w)#nobot(?!\w)", re.IGNORECASE)

_Read = tuple[int, Reply | None]  # an entry read fine: its id, and the reply to collect (if any)


class _Malformed(Exception):
    """One entry of an answer does not have the shape the API documents. The message says
    what is wrong, never what the entry contains."""


class MastodonReader(MastodonClient):
    network = NAME
    """Reads what followers post (the ``TimelineSource`` protocol) as the account that
    ``token`` belongs to. Statuses by that account, and by ``bot_account`` when given (an
    ``acct`` such as "relais" or "relais@example.org"), are never collected.

    Each method fetches and converts in a worker thread: a page of long, hostile HTML
    never holds up the event loop."""

    def __init__(
        self,
        api_base_url: str,
        token: str,
        *,
        timeout: float = 15.0,
        bot_account: str | None = None,
        streaming: bool = True,
    ) -> None:
        super().__init__(api_base_url, token, timeout=timeout)
        self._timeout = timeout
        self._origin_timeout = min(timeout, 10.0)
        self._streaming = streaming
        self._domain = urlsplit(self._base_url).hostname or ""
        self._bot_account = bot_account.strip().lstrip("@") if bot_account else None
        self._bot_id: str | None = None
        self._ours: frozenset[str] = frozenset()  # full handles, lowercase, without the "@"

    def __repr__(self) -> str:
        return f"MastodonReader({self._base_url!r}, account_id={self._bot_id!r})"

    @property
    def domain(self) -> str:
        """The instance's domain, which completes the handles of its local accounts."""
        return self._domain

    @property
    def account_id(self) -> str | None:
        """The id of the token's account, once ``start()`` has checked the token."""
        return self._bot_id

    async def start(self) -> None:
        """Check the token; remember whose statuses are ours and the instance's domain."""
        account = await self._call(self._api.account_verify_credentials)
        bot_id = _int_id(get_field(account, "id"))
        if bot_id is None:
            raise TemporaryError("Mastodon answered the credentials check with no account id")
        instance = await self._call(unless_gone, self._api.instance_v2)  # None before Mastodon 4.0
        domain = get_field(instance, "domain")
        if isinstance(domain, str) and domain.strip():
            self._domain = domain.strip()  # the accounts' domain, which may not be the API's host
        ours = (_text_field(get_field(account, "acct")), self._bot_account or "")
        self._ours = frozenset(self._full_acct(acct).lower() for acct in ours if acct)
        self._bot_id = str(bot_id)

    async def hashtag_page(self, tag: str, after: str | None, limit: int = PAGE_LIMIT) -> Page:
        await self._ensure_started()
        wanted = _tag_key(tag)
        if not wanted:
            raise ValueError(f"not a hashtag: {tag!r}")
        path_tag, min_id, limit = quote(tag.strip().lstrip("#"), safe=""), _min_id(after), _page_limit(limit)

        def read(status: object) -> _Read:
            reply = self._reply(status)
            tagged = wanted in {_tag_key(name) for name in reply.hashtags}
            collect = tagged and get_field(status, "reblog") is None and not self._is_ours(reply)
            return int(reply.remote_id), reply if collect else None

        def fetch() -> Page:
            statuses = self._api.timeline_hashtag(path_tag, min_id=min_id, limit=limit)
            return _page(statuses, after, limit, read, f"the #{wanted} timeline")

        return await self._call(fetch)

    async def mentions_page(self, after: str | None, limit: int = PAGE_LIMIT) -> Page:
        await self._ensure_started()
        min_id, limit = _min_id(after), _page_limit(limit)

        def read(notification: object) -> _Read:
            notification, notification_id = _identified(notification)
            status = notification.get("status")
            if notification.get("type") != "mention" or status is None:
                return notification_id, None
            try:
                reply = self._reply(status)
            except _Malformed as exc:
                raise _Malformed(f"notification {notification_id}: {exc}") from None
            return notification_id, None if self._is_ours(reply) else reply

        def fetch() -> Page:
            notifications = self._api.notifications(types=["mention"], min_id=min_id, limit=limit)
            return _page(notifications, after, limit, read, "the mentions")

        return await self._call(fetch)

    async def replies_to(self, status_id: str) -> list[Reply]:
        """The replies under one of our statuses, oldest first; none when it is gone."""
        await self._ensure_started()
        checked = _checked_id(status_id)

        def read(status: object) -> _Read:
            reply = self._reply(status)
            return int(reply.remote_id), None if self._is_ours(reply) else reply

        def fetch() -> list[Reply]:
            context = unless_gone(self._api.status_context, checked)
            if context is None:
                return []
            descendants = get_field(context, "descendants")
            if not isinstance(descendants, list):
                raise TemporaryError(f"Mastodon answered the context of status {checked} with no descendants")
            replies = {
                key: r for key, r in _read_entries(descendants, read, f"the replies to {checked}") if r
            }
            return [replies[key] for key in sorted(replies)]

        return await self._call(fetch)

    async def lookup(self, remote_id: str, *, ask_origin: bool = False) -> Reply | Removal:
        """The status as it is now; a ``Removal`` when the server says it is gone (404, 410),
        which is also what it says when the author no longer lets us see it. With
        ``ask_origin``, a remote status is also asked for at its ActivityPub ``uri``, without
        our token: 404 or 410 there means its author deleted it and the Delete never
        reached this instance."""
        checked = _checked_id(remote_id)

        def fetch() -> Reply | Removal:
            status = unless_gone(self._api.status, checked)
            if status is None:
                return Removal(NAME, remote_id)
            try:
                reply = self._reply(status)
            except _Malformed as exc:
                raise TemporaryError(
                    f"Mastodon answered status {checked} with a malformed one: {exc}"
                ) from None
            if ask_origin and self._gone_at_origin(status):
                return Removal(NAME, remote_id)
            return reply

        return await self._call(fetch)

    def _gone_at_origin(self, status: object) -> bool:
        """Whether a remote status's origin says it is gone (404, 410). Anything else (an
        answer, a failure, a local status) leaves the instance's word standing."""
        acct, uri = get_field(get_field(status, "account"), "acct"), get_field(status, "uri")
        if not isinstance(acct, str) or "@" not in acct or not isinstance(uri, str):
            return False  # a local status: the instance is its origin
        if urlsplit(uri).scheme not in ("http", "https"):
            return False
        try:
            with self._api.session.get(
                uri, headers={"Accept": ORIGIN_ACCEPT}, timeout=self._origin_timeout, stream=True
            ) as answer:
                return answer.status_code in (404, 410)
        except Exception as exc:  # the origin is down or unreachable: not a deletion
            log.info("Mastodon: the origin of a remote status did not answer (%s)", type(exc).__name__)
            return False

    def rate_budget(self) -> tuple[int, float] | None:
        remaining, reset = self._api.ratelimit_remaining, self._api.ratelimit_reset
        if not isinstance(remaining, int) or reset is None:
            return None
        return remaining, max(float(reset) - time.time(), 0.0)

    async def streams(self) -> MastodonStreams | None:
        """The user stream and the hashtag streams, as the token's account (None when
        streaming is turned off)."""
        if not self._streaming:
            return None
        await self._ensure_started()
        from bot.adapters.mastodon.stream import MastodonStreams

        token = str(self._api.access_token)
        return MastodonStreams(self._base_url, token, self._stream_reader, timeout=self._timeout)

    def _stream_reader(self, tag: str | None) -> Callable[[object], Reply | None]:
        """What a stream's status becomes: the reply to collect, or None (ours, a boost, or
        on a hashtag stream a status without that tag, unless it is an edit, which may
        have taken the tag out)."""
        wanted = _tag_key(tag) if tag else None

        def to_reply(status: object) -> Reply | None:
            reply = self._reply(status)
            if self._is_ours(reply) or get_field(status, "reblog") is not None:
                return None
            tagged = wanted is None or wanted in {_tag_key(name) for name in reply.hashtags}
            return reply if tagged or reply.edited_at is not None else None

        return to_reply

    async def acknowledge(self, remote_id: str) -> None:
        await self._call(self._api.status_favourite, _checked_id(remote_id))

    async def _ensure_started(self) -> None:
        """Start now if the instance was unreachable when the bot started."""
        if self._bot_id is None:
            await self.start()

    def _is_ours(self, reply: Reply) -> bool:
        return reply.author_id == self._bot_id or reply.author_handle[1:].lower() in self._ours

    def _full_acct(self, acct: str) -> str:
        """An ``acct`` with its domain: "alice@example.org" as it is, a local "bob" as
        "bob@<this instance>"."""
        acct = acct.strip().lstrip("@")
        return acct if "@" in acct or not self._domain else f"{acct}@{self._domain}"

    def _reply(self, status: object) -> Reply:
        """A status as a Reply; ``_Malformed`` when it lacks what a Reply needs."""
        status, status_id = _identified(status)
        account = status.get("account")
        if not isinstance(account, Mapping):
            raise _Malformed(f"status {status_id} has no account")
        author_id = _int_id(account.get("id"))
        acct = _text_field(account.get("acct")) or _text_field(account.get("username"))
        if author_id is None or not acct.strip():
            raise _Malformed(f"status {status_id} has an account without a valid id or acct")
        created_at = _utc(status.get("created_at"))
        if created_at is None:
            raise _Malformed(f"status {status_id} has no valid created_at")
        in_reply_to = _int_id(status.get("in_reply_to_id"))
        tags = status.get("tags")
        tags = tags if isinstance(tags, list) else []
        names = (_text_field(get_field(tag, "name")).strip().lstrip("#").lower() for tag in tags)
        name = _text_field(account.get("display_name")) or _text_field(account.get("username"))
        return Reply(
            network=NAME,
            remote_id=str(status_id),
            text=status_text(_text_field(status.get("content")), _text_field(status.get("spoiler_text"))),
            created_at=created_at,
            author_id=str(author_id),
            author_handle="@" + self._full_acct(clean(acct)),
            author_name=clean(name),
            url=_text_field(status.get("url")) or _text_field(status.get("uri")) or None,
            language=_text_field(status.get("language")) or None,
            hashtags=tuple(dict.fromkeys(n for n in names if n)),
            in_reply_to=str(in_reply_to) if in_reply_to is not None else None,
            edited_at=_utc(status.get("edited_at")),
            author_nobot=_asks_no_bots(account),
            private=status.get("visibility") in ("private", "direct"),
        )


def _page(
    entries: object, after: str | None, limit: int, read: Callable[[object], _Read], where: str
) -> Page:
    """A Page, oldest first, from a page of Mastodon (newest first, ``min_id=after``).

    The cursor is the newest id read fine: it passes a malformed entry only when a newer
    one was read fine (else the next page starts with it again), and never goes back.
    ``more`` only when the page was full and the cursor moved: never a busy loop."""
    if not isinstance(entries, list):
        raise TemporaryError(f"Mastodon answered {where} with something that is not a list")
    floor = int(_min_id(after))
    newest = floor
    replies: dict[int, Reply] = {}
    for key, reply in _read_entries(entries, read, where):
        if key <= floor:
            continue  # read before: a server that ignored min_id
        newest = max(newest, key)
        if reply is not None:
            replies[key] = reply
    advanced = newest > floor
    return Page(
        items=[replies[key] for key in sorted(replies)],
        cursor=str(newest) if advanced else after,
        more=advanced and len(entries) >= limit,
    )


def _read_entries(entries: list[Any], read: Callable[[object], _Read], where: str) -> list[_Read]:
    """``read`` applied to each entry. A malformed one is logged (never its content) and
    skipped, whatever failed in reading it; when nothing at all could be read, the answer
    is a TemporaryError."""
    read_fine = []
    for entry in entries:
        try:
            read_fine.append(read(entry))
        except _Malformed as exc:
            log.warning("Mastodon: skipped a malformed entry in %s: %s", where, exc)
        except Exception as exc:  # an entry no check foresaw: the others are still read
            log.warning("Mastodon: skipped an unreadable entry in %s (%s)", where, type(exc).__name__)
    if entries and not read_fine:
        raise TemporaryError(f"Mastodon answered {where} with {len(entries)} malformed entries, nothing else")
    return read_fine


def _page_limit(limit: int) -> int:
    return max(1, min(int(limit), PAGE_LIMIT))


def _min_id(after: str | None) -> str:
    """The ``min_id`` that reads the page right after ``after`` ("0": the oldest page)."""
    return "0" if after is None else _checked_id(after)


def _checked_id(value: str) -> str:
    number = _int_id(value)
    if number is None:
        raise ValueError(f"not a Mastodon id: {value!r}")
    return str(number)


def _identified(value: object) -> tuple[Mapping[str, Any], int]:
    """A JSON object of Mastodon's and its id; ``_Malformed`` when it is neither."""
    if not isinstance(value, Mapping):
        raise _Malformed("not a JSON object")
    found = _int_id(value.get("id"))
    if found is None:
        raise _Malformed("no valid id")
    return value, found


def _int_id(value: object) -> int | None:
    """A Mastodon id (digits, in a string Mastodon.py may wrap) as an int, or None."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return int(text) if _ID.fullmatch(text) else None


def _tag_key(name: str) -> str:
    """A hashtag as Mastodon compares them: without "#", in any case."""
    return unicodedata.normalize("NFKC", name).strip().lstrip("#").casefold()


def _text_field(value: object) -> str:
    return value if isinstance(value, str) else ""


def _utc(value: object) -> datetime | None:
    """An aware UTC datetime from what Mastodon.py parsed (or an ISO 8601 string)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # "0001-01-01T00:00:00+14:00" is before the first UTC instant Python knows
        return None


def _asks_no_bots(account: Mapping[str, Any]) -> bool:
    """The fediverse convention: "#nobot" in the profile's note or in one of its fields."""
    fields = account.get("fields")
    fields = fields if isinstance(fields, list) else []
    htmls = [account.get("note")] + [get_field(f, key) for f in fields for key in ("name", "value")]
    return any(_NOBOT.search(html_to_text(_text_field(h))) for h in htmls)

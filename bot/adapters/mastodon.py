"""The Mastodon channel: one account on one instance, through Mastodon.py.

Mastodon.py is synchronous (requests), so every call runs in a worker thread. It is built
with ``ratelimit_method="throw"``: the other methods ``time.sleep`` for minutes. Posts carry
an ``Idempotency-Key`` derived from the publication's key alone, so sending a publication
again after a timeout, a lost connection or a crash returns the status already created
instead of a second one (the server remembers keys for about an hour).

``MastodonReader`` collects what followers post: hashtag timelines and mentions paged
forward by ``min_id`` (no gap), contexts, lookups (edits, deletions), favourites. Status
HTML becomes plain text through ``html.parser``; a malformed status is skipped, logged
without its content, and never moves the cursor past itself unless a newer one was read.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonIOError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
    MastodonVersionError,
)

from bot.domain import Media, Network, Publication, Removal, Reply
from bot.networks.mastodon import DEFAULT_LIMIT as MASTODON_DEFAULT_LIMIT
from bot.networks.mastodon import URL_LENGTH as MASTODON_URL_LENGTH
from bot.networks.mastodon import length as mastodon_length
from bot.ports import ChannelError, OnWire, Page, PermanentError, RateLimited, Receipt, TemporaryError

T = TypeVar("T")
log = logging.getLogger(__name__)

MIN_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 15 * 60.0
RETRY_AFTER_UNKNOWN = 60.0  # a 429 whose reset time is missing or already past
MEDIA_PROCESSING_TIMEOUT = 120.0
MEDIA_POLL_INTERVALS = (0.5, 1.0, 2.0, 5.0)  # then 5 s until the timeout


def idempotency_key(publication: Publication) -> str:
    """The same for every attempt at one publication, in any process, and nothing else."""
    return "relais-" + hashlib.sha256(publication.key.encode("utf-8")).hexdigest()[:40]


def language_subtag(language: str) -> str | None:
    """Mastodon wants ISO 639 ("fr"), not a full BCP 47 tag ("fr-CA")."""
    primary = language.replace("_", "-").split("-", 1)[0].strip().lower()
    return primary or None


class _MastodonClient:
    """What the sender and the reader share: one Mastodon.py client for the account that
    ``token`` belongs to, every call run in a worker thread, its errors translated into
    ChannelErrors."""

    def __init__(self, api_base_url: str, token: str, *, timeout: float = 15.0) -> None:
        self._base_url = api_base_url.rstrip("/")
        self._api = Mastodon(
            access_token=token,
            api_base_url=self._base_url,
            request_timeout=timeout,
            ratelimit_method="throw",
            version_check_mode="none",
        )

    async def close(self) -> None:
        session = getattr(self._api, "session", None)
        if session is not None:
            session.close()

    async def _call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one Mastodon.py call in a thread; its errors come out as ChannelErrors."""

        def run() -> T:
            try:
                return method(*args, **kwargs)
            except (MastodonError, ValueError) as exc:
                # ratelimit_reset is shared by every call: read it in this thread, right away.
                raise self._translate(exc) from exc

        return await asyncio.to_thread(run)

    def _translate(self, exc: MastodonError | ValueError) -> ChannelError:
        if isinstance(exc, MastodonVersionError) and isinstance(exc.__cause__, MastodonError):
            exc = exc.__cause__  # retrieve_mastodon_version(fail_hard=True) wraps the real one
        if isinstance(exc, MastodonRatelimitError):
            retry_after = self._retry_after()
            return RateLimited(f"Mastodon's rate limit is reached: retry in {retry_after:.0f} s", retry_after)
        if isinstance(exc, MastodonNetworkError):
            # A timeout or a dropped connection: the post may exist, but sending it again
            # with the same idempotency key returns it rather than posting twice.
            cause = type(exc.__context__).__name__ if exc.__context__ else "network error"
            return TemporaryError(f"no answer from Mastodon at {self._base_url} ({cause})")
        if isinstance(exc, MastodonServerError):
            return TemporaryError(f"Mastodon answered with a server error: {_describe(exc)}")
        if isinstance(exc, MastodonUnauthorizedError):
            return PermanentError(
                "Mastodon refused the access token (RELAIS_MASTODON_TOKEN): "
                f"{_server_message(exc) or 'unauthorized'}. "
                f"Check that it belongs to an account on {self._base_url} and has not been revoked."
            )
        if isinstance(exc, MastodonAPIError):
            status = _http_status(exc)
            if status is None:  # 2xx but not JSON: asking again (with the same key) is safe
                return TemporaryError("Mastodon's answer was not valid JSON")
            if status == 408:
                return TemporaryError(f"Mastodon timed out reading the request: {_describe(exc)}")
            return PermanentError(f"Mastodon refused the request: {_describe(exc)}")
        if isinstance(exc, ValueError | MastodonIOError):
            # Refused before sending: a bad visibility, a media file missing or of unknown type.
            return PermanentError(self._redact(f"Mastodon.py refused the request: {exc}"))
        return TemporaryError(f"Mastodon.py failed: {type(exc).__name__}")

    def _retry_after(self) -> float:
        reset = self._api.ratelimit_reset
        if reset is None:
            return RETRY_AFTER_UNKNOWN
        return min(max(float(reset) - time.time(), MIN_RETRY_AFTER), MAX_RETRY_AFTER)

    def _redact(self, text: str) -> str:
        token = self._api.access_token
        return text.replace(token, "[token]") if token else text


class MastodonSender(_MastodonClient):
    """Publishes to the Mastodon account that ``token`` belongs to."""

    def __init__(self, api_base_url: str, token: str, *, timeout: float = 15.0) -> None:
        super().__init__(api_base_url, token, timeout=timeout)
        self._max_characters = MASTODON_DEFAULT_LIMIT
        self._url_length = MASTODON_URL_LENGTH
        self._account: str | None = None
        self._started = False

    def __repr__(self) -> str:
        return f"MastodonSender({self._base_url!r}, account={self._account!r})"

    @property
    def max_characters(self) -> int:
        """The instance's limit for a status, content warning included."""
        return self._max_characters

    @property
    def url_length(self) -> int:
        """How many characters the instance counts for each link."""
        return self._url_length

    @property
    def account(self) -> str | None:
        """The account's ``acct`` (e.g. "relais"), once ``start()`` has checked the token."""
        return self._account

    async def start(self) -> None:
        instance = await self._call(_unless_gone, self._api.instance_v2)  # None before Mastodon 4.0
        statuses = _get(_get(instance, "configuration"), "statuses")
        self._max_characters = _positive_int(_get(statuses, "max_characters"), MASTODON_DEFAULT_LIMIT)
        self._url_length = _positive_int(_get(statuses, "characters_reserved_per_url"), MASTODON_URL_LENGTH)
        account = await self._call(self._api.account_verify_credentials)
        self._account = str(_get(account, "acct") or _get(account, "username") or "") or None
        # media_post() picks /api/v2/media from the server's version; read it now, or it
        # would read it lazily and silently fall back to version 1.0.0 on a network error.
        await self._call(self._api.retrieve_mastodon_version, fail_hard=True)
        self._started = True

    async def publish(self, publication: Publication, *, on_wire: OnWire) -> Receipt:
        """Upload the media, then post the status; ``on_wire`` is awaited right before the
        status is posted (an upload publishes nothing)."""
        if not self._started:  # the instance was unreachable at start: ask again (a TemporaryError)
            await self.start()
        length = mastodon_length(publication.text, publication.warning or "", self._url_length)
        if length > self._max_characters:
            raise PermanentError(
                f"{publication.key}: the Mastodon instance allows {self._max_characters} characters "
                f"and the post has {length} (links count {self._url_length}, the content warning counts too)"
            )
        media_ids = [await self._upload(media) for media in publication.media]
        await on_wire()
        status = await self._call(
            self._api.status_post,
            publication.text,
            media_ids=media_ids or None,
            visibility=publication.channel.visibility,
            language=language_subtag(publication.language),
            spoiler_text=publication.warning or None,
            idempotency_key=idempotency_key(publication),
        )
        status_id = _get(status, "id")
        if status_id is None:
            raise TemporaryError("Mastodon answered the post with something that is not a status")
        url = _get(status, "url") or _get(status, "uri")
        return Receipt(remote_id=str(status_id), url=str(url) if url else None)

    async def _upload(self, media: Media) -> str:
        """Upload one file and wait until the server has processed it (a 202 with
        ``url: null``). Not ``synchronous=True``: that polls every 5 s with no end and turns
        any error, network ones included, into "Attachment could not be processed"."""
        attachment = await self._call(self._api.media_post, media.path, description=media.alt)
        media_id = _get(attachment, "id")
        if media_id is None:
            raise TemporaryError(f"Mastodon answered the upload of {media.path.name} with no media id")
        deadline = time.monotonic() + MEDIA_PROCESSING_TIMEOUT
        polls = 0
        while _get(attachment, "url") is None:
            if time.monotonic() >= deadline:
                raise TemporaryError(
                    f"Mastodon was still processing {media.path.name} after {MEDIA_PROCESSING_TIMEOUT:.0f} s"
                )
            await asyncio.sleep(MEDIA_POLL_INTERVALS[min(polls, len(MEDIA_POLL_INTERVALS) - 1)])
            polls += 1
            attachment = await self._call(self._api.media, media_id)
        return str(media_id)


# ---- reading replies -----------------------------------------------------------------

PAGE_LIMIT = 40  # the most statuses (or notifications) Mastodon gives in one page
_ID = re.compile(r"[0-9]{1,30}")
_NOBOT = re.compile(r"(?<!\w)#nobot(?!\w)", re.IGNORECASE)

_Read = tuple[int, Reply | None]  # an entry read fine: its id, and the reply to collect (if any)


class _Malformed(Exception):
    """One entry of an answer does not have the shape the API documents. The message says
    what is wrong, never what the entry contains."""


class MastodonReader(_MastodonClient):
    """Reads what followers post (the ``MastodonSource`` protocol) as the account that
    ``token`` belongs to. Statuses by that account, and by ``bot_account`` when given (an
    ``acct`` such as "relais" or "relais@example.org"), are never collected.

    Each method fetches and converts in a worker thread: a page of long, hostile HTML
    never holds up the event loop."""

    def __init__(
        self, api_base_url: str, token: str, *, timeout: float = 15.0, bot_account: str | None = None
    ) -> None:
        super().__init__(api_base_url, token, timeout=timeout)
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
        bot_id = _int_id(_get(account, "id"))
        if bot_id is None:
            raise TemporaryError("Mastodon answered the credentials check with no account id")
        instance = await self._call(_unless_gone, self._api.instance_v2)  # None before Mastodon 4.0
        domain = _get(instance, "domain")
        if isinstance(domain, str) and domain.strip():
            self._domain = domain.strip()  # the accounts' domain, which may not be the API's host
        ours = (_text_field(_get(account, "acct")), self._bot_account or "")
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
            collect = tagged and _get(status, "reblog") is None and not self._is_ours(reply)
            return int(reply.remote_id), reply if collect else None

        def fetch() -> Page:
            statuses = self._api.timeline_hashtag(path_tag, min_id=min_id, limit=limit)
            return _page(statuses, after, limit, read, f"the #{wanted} timeline")

        return await self._call(fetch)

    async def mentions_page(self, after: str | None, limit: int = PAGE_LIMIT) -> Page:
        await self._ensure_started()
        min_id, limit = _min_id(after), _page_limit(limit)

        def read(notification: object) -> _Read:
            if not isinstance(notification, Mapping):
                raise _Malformed("not a JSON object")
            notification_id = _int_id(notification.get("id"))
            if notification_id is None:
                raise _Malformed("no valid id")
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
            context = _unless_gone(self._api.status_context, checked)
            if context is None:
                return []
            descendants = _get(context, "descendants")
            if not isinstance(descendants, list):
                raise TemporaryError(f"Mastodon answered the context of status {checked} with no descendants")
            replies = {
                key: r for key, r in _read_entries(descendants, read, f"the replies to {checked}") if r
            }
            return [replies[key] for key in sorted(replies)]

        return await self._call(fetch)

    async def lookup(self, remote_id: str) -> Reply | Removal:
        """The status as it is now; a ``Removal`` when the server says it is gone (404, 410),
        which is also what it says when the author no longer lets us see it."""
        checked = _checked_id(remote_id)

        def fetch() -> Reply | Removal:
            status = _unless_gone(self._api.status, checked)
            if status is None:
                return Removal(Network.MASTODON, remote_id)
            try:
                return self._reply(status)
            except _Malformed as exc:
                raise TemporaryError(
                    f"Mastodon answered status {checked} with a malformed one: {exc}"
                ) from None

        return await self._call(fetch)

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
        if not isinstance(status, Mapping):
            raise _Malformed("not a JSON object")
        status_id = _int_id(status.get("id"))
        if status_id is None:
            raise _Malformed("no valid id")
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
        tags = status.get("tags") if isinstance(status.get("tags"), list) else []
        names = (_text_field(_get(tag, "name")).strip().lstrip("#").lower() for tag in tags)
        name = _text_field(account.get("display_name")) or _text_field(account.get("username"))
        return Reply(
            network=Network.MASTODON,
            remote_id=str(status_id),
            text=status_text(_text_field(status.get("content")), _text_field(status.get("spoiler_text"))),
            created_at=created_at,
            author_id=str(author_id),
            author_handle="@" + self._full_acct(_clean(acct)),
            author_name=_clean(name),
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


def _unless_gone(method: Callable[..., T], *args: Any) -> T | None:
    """``method(*args)``, or None when the server answers 404 Not Found or 410 Gone."""
    try:
        return method(*args)
    except MastodonAPIError as exc:
        if isinstance(exc, MastodonNotFoundError) or _http_status(exc) == 410:
            return None
        raise


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
    fields = account.get("fields") if isinstance(account.get("fields"), list) else []
    htmls = [account.get("note")] + [_get(f, key) for f in fields for key in ("name", "value")]
    return any(_NOBOT.search(html_to_text(_text_field(h))) for h in htmls)


# ---- HTML to plain text ----------------------------------------------------------------

# Control characters other than tab and newline: invisible, and NUL breaks PostgreSQL text.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_HTML_SPACES = re.compile("[ \t\n\r\f]+")  # what HTML collapses (not NBSP, not zero-width)
_SKIPPED = frozenset({"script", "style", "template"})
_BLOCKS = frozenset({"p", "div", "blockquote", "pre", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr"})
# A numeric character reference too long for int() (Python refuses over 4300 digits, and
# html.parser with it): no code point is that long anyway.
_HUGE_CHARREF = re.compile(r"&#(?:[xX]0*[0-9a-fA-F]{7,}|0*[0-9]{8,});?")
_COMMENT_OPEN = re.compile("<!--")
_LOOSE_TAG = re.compile(r"<[^>]*>?")


class _TextExtractor(HTMLParser):
    """The text a reader of the status sees, plus ``span.invisible`` (the hidden parts of
    shortened links): ``<br>`` a line break, a block a blank line, a list item a line,
    other tags dropped, the content of scripts and styles dropped, HTML spaces collapsed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._skipping = 0  # inside <script>, <style>, <template>
        self._pre = 0  # inside <pre>: spaces and newlines kept
        self._breaks = 0  # line breaks owed before the next text
        self._line_empty = True

    def text(self) -> str:
        return "".join(self._out).strip()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, opening=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, opening=True)  # as browsers read them: "<br/>" is "<br>", "<p/>" is "<p>"

    def handle_endtag(self, tag: str) -> None:
        self._tag(tag, opening=False)

    def _tag(self, tag: str, *, opening: bool) -> None:
        if tag in _SKIPPED:
            self._skipping = self._skipping + 1 if opening else max(0, self._skipping - 1)
        elif tag == "br":
            self._breaks += 1  # a stray "</br>" too, as browsers do
        elif tag == "li":
            self._breaks = max(self._breaks, 1)
        elif tag in _BLOCKS:
            self._breaks = max(self._breaks, 2)
            if tag == "pre":
                self._pre = self._pre + 1 if opening else max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        data = _CONTROLS.sub("", data)
        if self._pre:
            data = data.replace("\r\n", "\n").replace("\r", "\n")
        else:
            data = _HTML_SPACES.sub(" ", data)
            if self._breaks or self._line_empty or self._out[-1].endswith(" "):
                data = data.lstrip(" ")  # one space between two pieces of text, none at a line start
        if not data:
            return
        if self._breaks:
            if self._out:
                self._out[-1] = self._out[-1].rstrip(" ")
                self._out.append("\n" * self._breaks)
            self._breaks = 0
        self._out.append(data)
        self._line_empty = data.endswith("\n")


def _defuse(content: str) -> str:
    """Escape what html.parser would read again up to the end of the text for each
    occurrence, which takes minutes on 100 kB (Python 3.11): a "<" with no ">" after it,
    a "<!--" with no "-->" after it, marked sections "<![" (which may also make it raise).
    The parser would give them out as text anyway. And replace impossible charrefs."""
    content = _HUGE_CHARREF.sub("\ufffd", content).replace("<![", "&lt;![")
    closed = content.rfind("-->")
    content = _COMMENT_OPEN.sub(lambda m: m[0] if m.start() + 4 <= closed else "&lt;!--", content)
    last = content.rfind(">")
    return content[: last + 1] + content[last + 1 :].replace("<", "&lt;")


def html_to_text(content: str) -> str:
    """Status HTML (sanitised by Mastodon, or anything else) as plain text."""
    if not content:
        return ""
    content = _defuse(content)
    parser = _TextExtractor()
    try:
        parser.feed(content)
        parser.close()
    except Exception:  # not expected after _defuse; never let one status break a page
        log.warning("Mastodon: HTML that html.parser could not read; its tags were stripped instead")
        return _clean(_HTML_SPACES.sub(" ", html.unescape(_LOOSE_TAG.sub(" ", content))))
    return parser.text()


def status_text(content: str, spoiler_text: str = "") -> str:
    """The plain text of a status, its content warning first: "[CW: …]" and a blank line."""
    text = html_to_text(content)
    warning = _clean(spoiler_text)
    return f"[CW: {warning}]\n\n{text}".strip() if warning else text


def _clean(text: str) -> str:
    """Plain text from the network, without control characters or surrounding spaces."""
    return _CONTROLS.sub("", text).strip()


def _get(obj: object, name: str) -> Any:
    """A field of a JSON object, or None when the answer does not have that shape."""
    return obj.get(name) if isinstance(obj, Mapping) else None


def _positive_int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def _http_status(exc: MastodonAPIError) -> int | None:
    """Mastodon.py raises HTTP errors as (text, status, reason, error); others have no status."""
    return exc.args[1] if len(exc.args) >= 4 and isinstance(exc.args[1], int) else None


def _server_message(exc: MastodonAPIError) -> str | None:
    message = exc.args[3] if _http_status(exc) is not None else None
    return str(message) if message else None


def _describe(exc: MastodonAPIError) -> str:
    status = _http_status(exc)
    if status is None:
        return type(exc).__name__
    return f"{status} {_server_message(exc) or exc.args[2] or ''}".strip()

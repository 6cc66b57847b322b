"""Collecting replies: read each network forward from the stored position, keep what
belongs to a campaign (it carries one of its hashtags, or answers one of its posts),
hold what the campaign's rules say needs a look, store it with the new position in one
transaction. Acknowledging replies is not its business: it waits for a moderator's
approval, and goes through its own queue (``bot.services.acknowledgements``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.clock import Clock
from bot.domain import Campaign, ForwardLink, Network, Removal, Reply
from bot.ports import ChannelError, MastodonSource, Page, PermanentError, RateLimited, TelegramSource
from bot.services.moderation import auto_flags
from bot.store.comments import Collected, CollectorLock, CommentStore, SaveResult
from bot.store.db import store_failure

log = logging.getLogger(__name__)
Run = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class CollectorTiming:
    poll: float = 30.0  # seconds between two rounds of Mastodon reading
    context_every: int = 10  # rounds between two readings of the replies under our posts
    recheck_every: int = 20  # rounds between two checks of recent replies for edits and deletions
    recheck_limit: int = 200  # replies looked at again per recheck, oldest-checked first
    context_age: timedelta = timedelta(days=30)
    long_poll: float = 25.0  # Telegram getUpdates timeout
    federation_delay: timedelta = timedelta(minutes=10)  # how late a remote status may arrive
    pages_per_round: int = 1000
    longest_backoff: float = 300.0


class Collector:
    def __init__(
        self,
        store: CommentStore,
        clock: Clock,
        db: Run,
        campaigns: Callable[[], Sequence[Campaign]],
        timing: CollectorTiming | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.db = db
        self.campaigns = campaigns
        self.timing = timing or CollectorTiming()

    # -- deciding what to keep ---------------------------------------------------------

    def _by_tag(self) -> dict[str, Campaign]:
        tags: dict[str, Campaign] = {}
        for campaign in self.campaigns():
            for tag in campaign.hashtags:
                tags.setdefault(tag.lower(), campaign)
        return tags

    async def keep(
        self, network: Network, replies: Sequence[Reply], links: Sequence[ForwardLink] = ()
    ) -> list[Collected]:
        """The replies that belong to a campaign, with the publication each one answers.

        A reply answers a publication when the message it answers, or the message its thread
        started from (Telegram), stands for one: the publication itself, its copy in a
        discussion group, or a reply already tied to one. That message may be stored, or be
        in this very page, before or after the reply: the page is resolved as a whole, each
        reply following its chain of parents through the page (a chain that loops ends).

        Nothing is held for a parent that may come later, so nothing unrelated is kept: a
        parent comes before its replies on Telegram (in the same page or an earlier one,
        then stored), and a reply in a channel's discussion group names its thread, the
        post's copy, which is stored whatever happens to the comments in between (a parent
        older than Telegram's 24 hours, or set aside). On Mastodon, a reply with neither
        hashtag nor mention is only read among the replies under our status, all of them
        at once, again every ``context_every`` rounds for ``context_age``: a chain resolves
        within that page, and a reply kept earlier by its hashtag is tied to the post then.
        """
        if not replies:
            return []
        local_links = {link.remote_id: link.original for link in links}
        in_page = {r.remote_id: r for r in replies}
        asked = {r.in_reply_to for r in replies if r.in_reply_to} | {r.thread for r in replies if r.thread}
        answered = await self.db(self.store.answered, network, asked | set(local_links.values()))
        for copy, original in local_links.items():
            if original in answered:
                answered[copy] = answered[original]
        by_tag = self._by_tag()
        by_slug = {c.slug: c for c in self.campaigns()}
        seen_texts = await self.db(self.store.texts_by, network, {r.author_id for r in replies})
        kept = []
        for reply in replies:
            publication = _answered_by(reply, answered, in_page)
            campaign = by_slug.get(publication.split("/", 1)[0]) if publication else None
            if campaign is None:
                campaign = next((by_tag[t] for t in reply.hashtags if t in by_tag), None)
            if campaign is None:
                if reply.edited_at is not None:  # its author may have edited the hashtag out
                    kept.append(Collected(reply, None, None, update_only=True))
                continue  # neither a campaign hashtag nor an answer to a campaign post
            repeated = (reply.author_id, reply.text) in seen_texts and reply.edited_at is None
            seen_texts.add((reply.author_id, reply.text))
            flags = auto_flags(reply, campaign.moderation, repeated=repeated)
            kept.append(Collected(reply, campaign.slug, publication, flags))
        return kept

    async def save(
        self,
        network: Network,
        position: str | None,
        page: Page,
        source: MastodonSource | TelegramSource | None = None,
        *,
        origin: str | None = None,
    ) -> SaveResult:
        """Keep what belongs to a campaign and store it with the page's cursor (``origin``
        names where a page without a position was read, for what the store sets aside)."""
        replies = [i for i in page.items if isinstance(i, Reply)]
        links = [i for i in page.items if isinstance(i, ForwardLink)]
        removals = [i for i in page.items if isinstance(i, Removal)]
        collected = await self.keep(network, replies, links)
        result = await self.db(
            self.store.save_page,
            position,
            page.cursor,
            collected,
            removals,
            links,
            now=self.clock.now(),
            origin=origin,
        )
        if result.new or result.edited or result.removed or result.set_aside:
            log.info(
                "%s: %d new replies, %d edited, %d deleted, %d set aside",
                network,
                len(result.new),
                result.edited,
                result.removed,
                result.set_aside,
            )
        return result

    # -- Mastodon --------------------------------------------------------------------------

    async def run_mastodon(self, source: MastodonSource, lock: CollectorLock, stop: asyncio.Event) -> None:
        rounds = 0
        backoff = 0.0
        while not stop.is_set():
            try:
                if await self.db(lock.acquire):
                    await self.mastodon_round(source, rounds)
                    rounds += 1
                backoff = 0.0
            except RateLimited as error:
                backoff = error.retry_after
                log.warning("mastodon collector: rate limited; next round in %.0f s", backoff)
            except PermanentError as error:
                backoff = self.timing.longest_backoff
                log.error("mastodon collector: %s", error)
            except ChannelError as error:
                backoff = min(max(2 * backoff, self.timing.poll), self.timing.longest_backoff)
                log.warning("mastodon collector: %s; next round in %.0f s", error, backoff)
            except Exception as error:  # the store, or a bug: never let the collector die silently
                backoff = min(max(2 * backoff, self.timing.poll), self.timing.longest_backoff)
                _log_failure("mastodon collector", error, f"next round in {backoff:.0f} s")
            await _pause(stop, max(backoff, self.timing.poll))

    async def mastodon_round(self, source: MastodonSource, round_number: int = 0) -> None:
        """One reading of every hashtag and of the mentions; the replies under our posts and
        the edits and deletions of recent replies every so many rounds."""
        for tag in sorted(self._by_tag()):
            await self._drain(
                f"mastodon:tag:{tag}",
                lambda after, tag=tag: source.hashtag_page(tag, after),
                source,
                rewind=self.timing.federation_delay,
            )
        await self._drain("mastodon:mentions", source.mentions_page, source)
        if round_number % self.timing.context_every == 0:
            since = self.clock.now() - self.timing.context_age
            for status_id in await self.db(self.store.published_statuses, Network.MASTODON, since):
                replies = await source.replies_to(status_id)
                origin = f"mastodon:context:{status_id}"
                await self.save(Network.MASTODON, None, Page(list(replies), None), source, origin=origin)
        if round_number % self.timing.recheck_every == 0:
            await self.recheck(source)

    async def recheck(self, source: MastodonSource) -> None:
        """Look again at the replies seen longest ago: an edit updates one, a deletion
        deletes it (in turn, every stored reply is looked at again, however old)."""
        remote_ids = await self.db(self.store.to_recheck, Network.MASTODON, self.timing.recheck_limit)
        items = [await source.lookup(remote_id) for remote_id in remote_ids]
        changed = [i for i in items if isinstance(i, Removal) or i.edited_at is not None]
        if changed:
            await self.save(Network.MASTODON, None, Page(list(changed), None), origin="mastodon:recheck")
        await self.db(self.store.mark_checked, Network.MASTODON, remote_ids, self.clock.now())

    async def _drain(
        self,
        position: str,
        fetch: Callable[[str | None], Awaitable[Page]],
        source: MastodonSource,
        rewind: timedelta | None = None,
    ) -> None:
        """Read forward from the stored position, storing each page with its cursor.

        With ``rewind``, first read again the statuses of that long before the position: a
        status from another instance gets an id made from the time it was written, so one
        that arrives late sorts before statuses already read (the store keeps each once)."""
        after = await self.db(self.store.position, position)
        if rewind and after:
            await self._catch_up(fetch, source, after, rewind)
        for _ in range(self.timing.pages_per_round):
            page = await fetch(after)
            await self.save(Network.MASTODON, position, page, source)
            after = page.cursor or after
            if not page.more:
                return

    async def _catch_up(
        self,
        fetch: Callable[[str | None], Awaitable[Page]],
        source: MastodonSource,
        stored: str,
        rewind: timedelta,
    ) -> None:
        after = _rewound(stored, rewind)
        for _ in range(self.timing.pages_per_round):
            page = await fetch(after)
            origin = f"a catch-up before {stored}"
            # the position stays
            await self.save(Network.MASTODON, None, Page(page.items, None), source, origin=origin)
            if not page.more or page.cursor is None or int(page.cursor) >= int(stored):
                return
            after = page.cursor

    # -- Telegram --------------------------------------------------------------------------

    async def run_telegram(self, source: TelegramSource, lock: CollectorLock, stop: asyncio.Event) -> None:
        backoff = 0.0
        while not stop.is_set():
            try:
                if not await self.db(lock.acquire):
                    await _pause(stop, self.timing.poll)
                    continue
                offset = await self.db(self.store.position, "telegram:updates")
                page = await source.updates(offset, self.timing.long_poll)
                await self.save(Network.TELEGRAM, "telegram:updates", page, source)
                backoff = 0.0
            except RateLimited as error:
                await _pause(stop, error.retry_after)
            except PermanentError as error:
                log.error("telegram collector: %s", error)
                await _pause(stop, self.timing.longest_backoff)
            except ChannelError as error:
                backoff = min(max(2 * backoff, 1.0), self.timing.longest_backoff)
                log.warning("telegram collector: %s; trying again in %.0f s", error, backoff)
                await _pause(stop, backoff)
            except Exception as error:  # the store, or a bug: never let the collector die silently
                backoff = min(max(2 * backoff, 1.0), self.timing.longest_backoff)
                _log_failure("telegram collector", error, f"trying again in {backoff:.0f} s")
                await _pause(stop, backoff)


def _answered_by(reply: Reply, answered: dict[str, str], in_page: dict[str, Reply]) -> str | None:
    """The publication ``reply`` answers: through its parent or its thread, or its parent's
    (when the parent is in the same page), and so on up the chain."""
    seen: set[str] = set()
    current: Reply | None = reply
    while current is not None and current.remote_id not in seen:
        seen.add(current.remote_id)
        for above in (current.in_reply_to, current.thread):
            if above and above in answered:
                return answered[above]
        current = in_page.get(current.in_reply_to or "")
    return None


def _log_failure(collector: str, error: Exception, then: str) -> None:
    """A failure of the store in one line (``store_failure``: no reply's text in it);
    anything else is a bug, logged with its traceback."""
    failure = store_failure(error)
    if failure is not None:
        log.error("%s: %s; %s", collector, failure, then)
    else:
        log.exception("%s: unexpected error; %s", collector, then)


def _rewound(cursor: str | None, delta: timedelta) -> str | None:
    """A Mastodon status id ``delta`` earlier (ids are milliseconds << 16)."""
    if cursor is None or not cursor.isdigit() or int(cursor) >> 16 < 10**12:
        return cursor  # not a time-based id
    milliseconds = (int(cursor) >> 16) - int(delta.total_seconds() * 1000)
    return str(max(milliseconds, 0) << 16)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if the bot is stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)

"""Collecting replies: read each network forward from the stored position, keep what
belongs to a campaign (it carries one of its hashtags, or answers one of its posts),
hold what the campaign's rules say needs a look, store it with the new position in one
transaction. Acknowledging replies is not its business: it waits for a moderator's
approval, and goes through its own queue (``bot.services.acknowledgements``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from bot.clock import Clock, wait_until
from bot.domain import Campaign, ForwardLink, PublicationKey, Removal, Reply
from bot.ports import (
    ChannelError,
    Page,
    PermanentError,
    RateLimited,
    Streams,
    TimelineSource,
    UpdatesSource,
)
from bot.services import language
from bot.services.backoff import Backoff
from bot.services.moderation import after_edit, auto_flags
from bot.store.comments import Collected, CollectorLock, SaveResult
from bot.store.database import store_failure
from bot.store.handle import Store

log = logging.getLogger(__name__)
MENTIONS = "mentions"  # the name of the user stream, which carries the mentions


@dataclass(frozen=True)
class Feed:
    """Something a collector reads again and again: a hashtag's timeline, the mentions,
    the replies under our posts, the recheck of stored replies, a stream, a feed of
    updates."""

    name: str
    read: Callable[[], Awaitable[object]]
    every: float  # seconds from one round to its next reading; 0: at once (a long poll waits itself)


@dataclass(frozen=True)
class Feeds:
    """One network's collector: its feeds, read in turn (one account, one rate limit), and
    the words of its log lines."""

    label: str  # "<network> collector"
    feeds: tuple[Feed, ...]
    first_retry: float  # seconds before a failing feed is read again, doubling to the longest back-off
    then: str = "next round in"
    longest: float | None = None  # its own longest back-off (None: ``CollectorTiming.longest_backoff``)


@dataclass(frozen=True)
class CollectorTiming:
    poll: float = 30.0  # seconds between two readings of a timeline
    context_every: int = 10  # polls between two readings of the replies under our posts
    recheck_every: int = 20  # polls between two checks of recent replies for edits and deletions
    recheck_limit: int = 200  # replies looked at again per recheck, oldest-checked first
    context_age: timedelta = timedelta(days=30)
    # The long poll of a feed of updates: also how long an empty read takes to answer, so what
    # bounds how soon a send in doubt is told "not sent" (``DoubtTiming.read_within``)
    long_poll: float = 10.0
    federation_delay: timedelta = timedelta(minutes=10)  # how late a remote status may arrive
    pages_per_round: int = 1000
    longest_backoff: float = 300.0
    updates_backoff: float = 30.0  # the longest back-off of a feed of updates
    stream_wait: float = 2.0  # seconds the stream feed waits for events before the other feeds' turn
    stream_backstop: float = 300.0  # seconds between two REST readings of a feed whose stream is up
    gap_every: float = 10.0  # seconds between two readings of the gap of a stream that keeps reconnecting
    # The recheck of stored replies for edits and deletions that no stream reported: each
    # minute at most ``recheck_budget`` lookups (the account's rate limit, e.g. 300 requests in
    # 5 minutes, is shared with publishing and polling), taken by risk: a reply is due again
    # once it was last looked at longer ago than its age's interval (young replies often, old
    # ones rarely).
    recheck_seconds: float = 60.0
    recheck_budget: int = 20
    recheck_tiers: tuple[tuple[timedelta, timedelta], ...] = (
        (timedelta(hours=1), timedelta(minutes=2)),
        (timedelta(days=1), timedelta(minutes=15)),
        (timedelta(days=7), timedelta(hours=2)),
        (timedelta.max, timedelta(days=1)),
    )


class Collector:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        campaigns: Callable[[], Sequence[Campaign]],
        timing: CollectorTiming | None = None,
    ) -> None:
        self.store = store
        self.comments = store.comments
        self.clock = clock
        self.campaigns = campaigns
        self.timing = timing or CollectorTiming()
        self._live: set[str] = set()  # the streams connected now ("mentions", or a hashtag)
        self._polled: dict[str, datetime] = {}  # when each stream's feed was last read by REST
        self._gap_read: dict[str, datetime] = {}  # when each stream's gap was last read
        self._gap_due: dict[str, datetime] = {}  # streams reconnected whose gap is read then
        self._started = clock.now()  # what was looked at before was not followed by this process's streams

    # -- deciding what to keep ---------------------------------------------------------

    def _by_tag(self) -> dict[str, Campaign]:
        tags: dict[str, Campaign] = {}
        for campaign in self.campaigns():
            for tag in campaign.hashtags:
                tags.setdefault(tag.lower(), campaign)
        return tags

    async def keep(
        self, network: str, replies: Sequence[Reply], links: Sequence[ForwardLink] = ()
    ) -> list[Collected]:
        """The replies that belong to a campaign, with the publication each one answers.

        A reply answers a publication when the message it answers, or the message its thread
        started from (a feed of updates), stands for one: the publication itself, its copy in a
        discussion group, or a reply already tied to one. That message may be stored, or be
        in this very page, before or after the reply: the page is resolved as a whole, each
        reply following its chain of parents through the page (a chain that loops ends).

        Nothing is held for a parent that may come later, so nothing unrelated is kept: a
        parent comes before its replies in a feed of updates (in the same page or an earlier
        one, then stored), and a reply in a channel's discussion group names its thread, the
        post's copy, which is stored whatever happens to the comments in between (a parent
        older than the feed keeps, or set aside). On timelines, a reply with neither
        hashtag nor mention is only read among the replies under our status, all of them
        at once, again every ``context_every`` rounds for ``context_age``: a chain resolves
        within that page, and a reply kept earlier by its hashtag is tied to the post then.
        """
        if not replies:
            return []
        local_links = {link.remote_id: link.original for link in links}
        in_page = {r.remote_id: r for r in replies}
        asked = {r.in_reply_to for r in replies if r.in_reply_to} | {r.thread for r in replies if r.thread}
        answered = await self.store.run(self.comments.answered, network, asked | set(local_links.values()))
        for copy, original in local_links.items():
            if original in answered:
                answered[copy] = answered[original]
        by_tag = self._by_tag()
        by_slug = {c.slug: c for c in self.campaigns()}
        seen_texts = await self.store.run(self.comments.texts_by, network, {r.author_id for r in replies})
        kept = []
        for reply in replies:
            publication = _answered_by(reply, answered, in_page)
            campaign = by_slug.get(PublicationKey.parse(publication).campaign) if publication else None
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
        network: str,
        position: str | None,
        page: Page,
        source: TimelineSource | UpdatesSource | None = None,
        *,
        origin: str | None = None,
    ) -> SaveResult:
        """Keep what belongs to a campaign and store it with the page's cursor (``origin``
        names where a page without a position was read, for what the store sets aside)."""
        replies = [i for i in page.items if isinstance(i, Reply)]
        if replies:  # in a worker thread: the first reply without a language loads the model
            replies = await asyncio.to_thread(language.with_languages, replies)
        links = [i for i in page.items if isinstance(i, ForwardLink)]
        removals = [i for i in page.items if isinstance(i, Removal)]
        collected = await self.keep(network, replies, links)
        result = await self.store.run(
            self.comments.save_page,
            position,
            page.cursor,
            collected,
            removals,
            links,
            now=self.clock.now(),
            origin=origin,
            after_edit=after_edit,
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

    # -- the loop ------------------------------------------------------------------------

    async def follow(self, feeds: Feeds, lock: CollectorLock, stop: asyncio.Event) -> None:
        """Read ``feeds`` on the clock until ``stop``, while this process owns ``lock``.

        Each feed is read when it is due, then is due again ``every`` seconds after the
        round. A feed that fails waits on its own, the longest back-off after a refusal,
        else a back-off that doubles, while the others keep their pace; a rate limit holds
        them all (it is the account's) for what the network asks. Nothing a feed raises
        ends the loop."""
        longest = self.timing.longest_backoff
        backoffs = {feed.name: Backoff(feeds.first_retry, feeds.longest or longest) for feed in feeds.feeds}
        holding = Backoff(feeds.first_retry, longest)  # the lock's own failures (the store's)
        due = dict.fromkeys(backoffs, self.clock.now())
        while not stop.is_set():
            try:
                ours = await self.store.run(lock.acquire)
            except Exception as error:
                wait = holding.failed()
                _log_failure(feeds.label, error, f"{feeds.then} {wait:.0f} s")
                await wait_until(self.clock, self._after(wait), stop)
                continue
            holding.succeeded()
            if not ours:  # another process collects this network
                await wait_until(self.clock, self._after(self.timing.poll), stop)
                continue
            waits: dict[str, float] = {}
            limited = 0.0
            for feed in feeds.feeds:
                if stop.is_set():
                    break
                if due[feed.name] <= self.clock.now():
                    try:
                        waits[feed.name] = await self._read(feeds, feed, backoffs[feed.name])
                    except RateLimited as error:
                        log.warning("%s: rate limited; %s %.0f s", feeds.label, feeds.then, error.retry_after)
                        limited = max(error.retry_after, feeds.first_retry)
                        break
            end = self.clock.now()
            for name, wait in waits.items():
                due[name] = end + timedelta(seconds=wait)
            if limited:
                due = {name: max(when, end + timedelta(seconds=limited)) for name, when in due.items()}
            if (next_round := min(due.values(), default=end)) > end:
                await wait_until(self.clock, next_round, stop)

    async def _read(self, feeds: Feeds, feed: Feed, backoff: Backoff) -> float:
        """Read ``feed`` once; the seconds until it is due again. Raises ``RateLimited``."""
        try:
            await feed.read()
        except RateLimited:
            raise
        except PermanentError as error:
            log.error("%s: %s", feeds.label, error)
            return feeds.longest or self.timing.longest_backoff
        except ChannelError as error:
            wait = backoff.failed()
            log.warning("%s: %s; %s %.0f s", feeds.label, error, feeds.then, wait)
            return wait
        except Exception as error:  # the store, or a bug: never let the collector die silently
            wait = backoff.failed()
            _log_failure(feeds.label, error, f"{feeds.then} {wait:.0f} s")
            return wait
        backoff.succeeded()
        return feed.every

    def _after(self, seconds: float) -> datetime:
        return self.clock.now() + timedelta(seconds=seconds)

    # -- timelines -------------------------------------------------------------------------

    def timeline_feeds(self, source: TimelineSource, streams: Streams | None = None) -> Feeds:
        """Every hashtag's timeline and the mentions each ``poll`` (every ``stream_backstop``
        while their stream is up); the replies under our posts every so many polls; the
        recheck of stored replies on its budget. With ``streams``, what they carry as it
        comes, and at each (re)connection of one the gap since its feed's stored position."""
        timing = self.timing
        poll = timing.poll
        network = source.network
        feeds: tuple[Feed, ...] = (
            Feed(f"{network}:hashtags", partial(self._read_hashtags, source), poll),
            Feed(f"{network}:mentions", partial(self._read_mentions, source), poll),
            Feed(f"{network}:contexts", partial(self._read_contexts, source), poll * timing.context_every),
            Feed(f"{network}:recheck", partial(self.recheck_due, source), timing.recheck_seconds),
        )
        if streams is not None:
            feeds = (Feed(f"{network}:streams", partial(self._read_streams, source, streams), 0.0), *feeds)
        return Feeds(f"{network} collector", feeds, first_retry=poll)

    async def run_timelines(self, source: TimelineSource, lock: CollectorLock, stop: asyncio.Event) -> None:
        """Collect from a network read as timelines (and its streams, if it has any), until
        ``stop``."""
        streams = await source.streams()
        try:
            await self.follow(self.timeline_feeds(source, streams), lock, stop)
        finally:
            if streams is not None:
                await streams.close()

    # -- a timeline source's streams ---------------------------------------------------------

    async def _read_streams(self, source: TimelineSource, streams: Streams) -> None:
        """Store what the streams carried, in order; read the gap of a stream that
        (re)connected; note a stream that went down (its feed is polled again)."""
        streams.follow(sorted(self._by_tag()))  # opens the streams the first time, follows the campaigns
        batch: list[Reply | Removal] = []
        for event in await streams.next(self.timing.stream_wait):
            batch.extend(event.items)
            if event.connected or event.down:
                await self._store_streamed(source.network, batch)
                batch = []
            if event.connected:
                await self._reconnected(source, event.stream)
            elif event.down:
                self._live.discard(event.stream)
                mode = f"polling: {event.down}" if event.polling else f"reconnecting: {event.down}"
                await self.store.run(
                    self.comments.note_stream,
                    f"stream:{source.network}:{event.stream}",
                    mode,
                    self.clock.now(),
                )
        await self._store_streamed(source.network, batch)
        for stream, due in list(self._gap_due.items()):
            if due <= self.clock.now():
                del self._gap_due[stream]
                await self._caught_up(source, stream)

    async def _reconnected(self, source: TimelineSource, stream: str) -> None:
        """Read the gap of a stream that (re)connected, at most once every ``gap_every``: a
        stream that keeps reconnecting has its gap read later (it is not ``_live`` meanwhile,
        what it carries is stored)."""
        last = self._gap_read.get(stream)
        due = self.clock.now() if last is None else last + timedelta(seconds=self.timing.gap_every)
        if due <= self.clock.now():
            self._gap_due.pop(stream, None)
            await self._caught_up(source, stream)
        else:
            self._gap_due.setdefault(stream, due)

    async def _store_streamed(self, network: str, items: list[Reply | Removal]) -> None:
        if not items:
            return
        try:
            await self.save(network, None, Page(list(items), None), origin=f"{network}:stream")
        except Exception:
            self._live.clear()  # what they carried is read again by REST, from the positions
            raise

    async def _caught_up(self, source: TimelineSource, stream: str) -> None:
        """A stream is up: read its feed from the stored position, so that nothing said
        while it was down is missed; then the stream carries it."""
        self._gap_read[stream] = self.clock.now()
        try:
            if stream == MENTIONS:
                await self._drain(f"{source.network}:mentions", source.mentions_page, source)
            else:
                rewind = self.timing.federation_delay
                await self._drain(
                    f"{source.network}:tag:{stream}", partial(source.hashtag_page, stream), source, rewind
                )
        except ChannelError as error:  # the poll reads it instead
            log.warning(
                "%s collector: the gap of stream %s could not be read: %s", source.network, stream, error
            )
            return
        self._polled[stream] = self.clock.now()
        self._live.add(stream)
        await self.store.run(
            self.comments.note_stream, f"stream:{source.network}:{stream}", "streaming", self.clock.now()
        )

    def _streamed(self, stream: str) -> bool:
        """Whether ``stream`` is up and its feed was read by REST not long ago."""
        last = self._polled.get(stream)
        backstop = timedelta(seconds=self.timing.stream_backstop)
        return stream in self._live and last is not None and self.clock.now() - last < backstop

    async def timeline_round(self, source: TimelineSource, round_number: int = 0) -> None:
        """Each timeline feed once, in the loop's order, by hand: the replies under our posts
        on rounds that are a multiple of ``context_every``, the recheck of ``recheck_every``."""
        await self._read_hashtags(source)
        await self._read_mentions(source)
        if round_number % self.timing.context_every == 0:
            await self._read_contexts(source)
        if round_number % self.timing.recheck_every == 0:
            await self.recheck(source)

    async def _read_hashtags(self, source: TimelineSource) -> None:
        for tag in sorted(self._by_tag()):
            if self._streamed(tag):
                continue
            self._polled[tag] = self.clock.now()
            await self._drain(
                f"{source.network}:tag:{tag}",
                partial(source.hashtag_page, tag),
                source,
                rewind=self.timing.federation_delay,
            )

    async def _read_mentions(self, source: TimelineSource) -> None:
        if self._streamed(MENTIONS):
            return
        self._polled[MENTIONS] = self.clock.now()
        await self._drain(f"{source.network}:mentions", source.mentions_page, source)

    async def _read_contexts(self, source: TimelineSource) -> None:
        since = self.clock.now() - self.timing.context_age
        network = source.network
        for status_id in await self.store.run(self.comments.published_statuses, network, since):
            replies = await source.replies_to(status_id)
            origin = f"{network}:context:{status_id}"
            await self.save(network, None, Page(list(replies), None), source, origin=origin)

    async def recheck(self, source: TimelineSource) -> None:
        """Look again at the replies seen longest ago: an edit updates one, a deletion
        deletes it (in turn, every stored reply is looked at again, however old)."""
        limit, network = self.timing.recheck_limit, source.network
        remote_ids = await self.store.run(self.comments.to_recheck, network, limit)
        items = [await source.lookup(remote_id) for remote_id in remote_ids]
        changed = [i for i in items if isinstance(i, Removal) or i.edited_at is not None]
        if changed:
            await self.save(network, None, Page(list(changed), None), origin=f"{network}:recheck")
        await self.store.run(self.comments.mark_checked, network, remote_ids, self.clock.now())

    async def recheck_due(self, source: TimelineSource) -> None:
        """Look again at the replies due by risk (``CollectorTiming.recheck_tiers``), at most
        ``recheck_budget`` of them: an edit updates one, a deletion deletes it."""
        timing = self.timing
        remote_ids = await self.store.run(
            self.comments.due_for_recheck,
            source.network,
            self.clock.now(),
            timing.recheck_tiers,
            timing.recheck_budget,
            stale_before=self._started,
        )
        await self._look_again(source, remote_ids)

    async def _look_again(self, source: TimelineSource, remote_ids: Sequence[str]) -> None:
        checked: list[str] = []
        changed: list[Reply | Removal] = []
        try:
            for remote_id in remote_ids:
                item = await source.lookup(remote_id)
                checked.append(remote_id)
                if isinstance(item, Removal) or item.edited_at is not None:
                    changed.append(item)
        finally:  # what was looked at before a failure (a rate limit) counts as checked
            if changed:
                network = source.network
                await self.save(network, None, Page(list(changed), None), origin=f"{network}:recheck")
            if checked:
                await self.store.run(self.comments.mark_checked, source.network, checked, self.clock.now())

    async def _drain(
        self,
        position: str,
        fetch: Callable[[str | None], Awaitable[Page]],
        source: TimelineSource,
        rewind: timedelta | None = None,
    ) -> None:
        """Read forward from the stored position, storing each page with its cursor.

        With ``rewind``, first read again the statuses of that long before the position: a
        status from another instance gets an id made from the time it was written, so one
        that arrives late sorts before statuses already read (the store keeps each once)."""
        after = await self.store.run(self.comments.position, position)
        if rewind and after:
            await self._catch_up(fetch, source, after, rewind)
        for _ in range(self.timing.pages_per_round):
            page = await fetch(after)
            await self.save(source.network, position, page, source)
            after = page.cursor or after
            if not page.more:
                return

    async def _catch_up(
        self,
        fetch: Callable[[str | None], Awaitable[Page]],
        source: TimelineSource,
        stored: str,
        rewind: timedelta,
    ) -> None:
        after = _rewound(stored, rewind)
        for _ in range(self.timing.pages_per_round):
            page = await fetch(after)
            origin = f"a catch-up before {stored}"
            # the position stays
            await self.save(source.network, None, Page(page.items, None), source, origin=origin)
            if not page.more or page.cursor is None or int(page.cursor) >= int(stored):
                return
            after = page.cursor

    # -- a feed of updates -------------------------------------------------------------------

    def updates_feeds(self, source: UpdatesSource) -> Feeds:
        """The updates, read again as soon as a page is stored: the long poll is the wait.
        A failing read waits at most ``updates_backoff``: replies are due within seconds, and
        the feed has no rate limit to spare."""
        feed = Feed(f"{source.network}:updates", partial(self._read_updates, source), 0.0)
        return Feeds(
            f"{source.network} collector",
            (feed,),
            first_retry=1.0,
            then="trying again in",
            longest=self.timing.updates_backoff,
        )

    async def run_updates(self, source: UpdatesSource, lock: CollectorLock, stop: asyncio.Event) -> None:
        """Collect from a network read as one feed of updates, until ``stop``."""
        await self.follow(self.updates_feeds(source), lock, stop)

    async def _read_updates(self, source: UpdatesSource) -> None:
        position = f"{source.network}:updates"
        offset = await self.store.run(self.comments.position, position)
        page = await source.updates(offset, self.timing.long_poll)
        answered = self.clock.now()
        await self.save(source.network, position, page, source)
        if not page.more:  # what the network held when it answered is stored: a send in doubt relies on it
            await self.store.run(self.comments.note_read, position, answered)


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
    """A time-based status id ``delta`` earlier (ids made of milliseconds << 16)."""
    if cursor is None or not cursor.isdigit() or int(cursor) >> 16 < 10**12:
        return cursor  # not a time-based id
    milliseconds = (int(cursor) >> 16) - int(delta.total_seconds() * 1000)
    return str(max(milliseconds, 0) << 16)

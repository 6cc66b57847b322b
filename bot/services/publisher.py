"""Publishing: claim a due publication in the ledger, send it once, record what happened.

The publisher never sends a row it has not claimed, claims before calling the network,
and never repeats a send whose outcome is unknown. Retries (network errors, 5xx, rate
limits) happen here, with tenacity, within the publication's deadline: its grace period,
or the start of its livestream for a reminder.

When is a send in doubt? Only once a request may have reached the network. A sender waits
for its network's rate limits (Telegram's flood limiter: minutes, for a burst to one
channel) before it writes anything, so the publisher hands it an ``on_wire`` callback, which
the sender awaits right before each request that may publish is written, after that wait.
The callback records the attempt in the ledger (``Ledger.wire``) and only then lets the
request go; it is also where a Mastodon post whose idempotency key the server may have
forgotten is stopped, whatever path led to sending it. Pacing stays in the adapters, which
know their networks' limits; the publisher only learns when the wait is over.

So a claimed row whose sender is still waiting is not in doubt: after a crash it goes back
to ``pending`` (``Ledger.recover``), and a stop cancels that wait and gives the row back at
once (``release``), while a request already on the wire gets its timeout, no more.

The store may be unreachable for a while (an outage, a failover): an outcome that could not
be written is kept by its task, which writes it when the store answers again; and
``watch`` sweeps, every few seconds, the rows no task is sending any more (a dead process's,
or this one's), so that none stays ``sending`` unnoticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from bot.clock import Clock
from bot.domain import Campaign, Publication, PublicationState
from bot.ports import OutcomeUnknown, PermanentError, RateLimited, Receipt, Sender, TemporaryError
from bot.services.doubts import Doubts, NotSent, Seen, Unsure
from bot.store.handle import Store
from bot.store.ledger import Row, Wire, key_forgotten

log = logging.getLogger(__name__)
T = TypeVar("T")
CLAIM_RETRY_SECONDS = 5.0
SWEEP_SECONDS = 5.0  # how often rows no one sends any more are looked for
STORE_RETRY_SECONDS = (0.5, 1.0, 2.0)  # waits between writes of an outcome while the store is away
STOP_RECORD_SECONDS = 5.0  # how long a stop keeps trying to write outcomes to an unreachable store
Redact = Callable[[str], str]


class _NotOurs(Exception):
    """The row is no longer this process's to send (another one took it over)."""


class _KeyForgotten(Exception):
    """A post tried too long ago to be retried under its idempotency key; the ledger made it
    ``unknown``."""


class _StoreDown(TemporaryError):
    """The attempt could not be recorded, so its request was not written."""


class _Send:
    """One publication being sent: whether a request of the current attempt may be on
    the wire (a stop then lets the attempt finish instead of cancelling it)."""

    __slots__ = ("on_wire",)

    def __init__(self) -> None:
        self.on_wire = False


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    initial: float = 1.0  # seconds before the first retry, doubling with jitter
    maximum: float = 60.0
    longest_rate_limit_wait: float = 15 * 60.0


def lateness(publication: Publication, now: datetime, grace: timedelta) -> str | None:
    """Why ``publication`` may no longer go out at ``now``, or None if it still may."""
    if publication.not_after is not None and now > publication.not_after:
        if publication.id.endswith("@start"):
            return "its livestream had ended"
        return "its livestream had already started"
    late = now - publication.at
    if late >= grace:
        return f"it was due {_human(late)} ago, more than the grace period of {_human(grace)}"
    return None


def outcome(key: str, state: str, url: str | None = None) -> dict[str, str | None]:
    """The fields of a publication's outcome in a log record (JSON logs show them)."""
    return {"publication": key, "outcome": state, "url": url}


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d}"
    days = seconds // 86400
    return f"{days} day{'s' * (days > 1)}"


class Publisher:
    """Sends the due publications of the campaigns it was given (``load``). Its state
    changes only through its methods; the store and the clock come in, and outcomes
    that need telling go out through ``on_outcome`` (the alerts)."""

    def __init__(
        self,
        store: Store,
        senders: Mapping[str, Sender],  # by network name
        clock: Clock,
        *,
        retry: RetryPolicy | None = None,
        redact: Redact = lambda text: text,
        on_outcome: Callable[[], Awaitable[None]] | None = None,
        doubts: Doubts | None = None,
    ) -> None:
        self._store = store
        self._ledger = store.ledger
        self._senders = senders
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._backoff = wait_exponential_jitter(
            multiplier=self._retry.initial, max=self._retry.maximum, jitter=self._retry.initial
        )
        self._redact = redact
        self._on_outcome = on_outcome
        self._doubts = doubts  # settles a send in doubt by looking, where that can be seen
        self._publications: dict[str, Publication] = {}
        self._resends: set[str] = set()  # a person asked to send these again: past their grace
        self._graces: dict[str, timedelta] = {}  # by campaign
        self._due: list[str] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()  # keys being claimed or sent by this process's tasks
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._give_up_at: datetime | None = None  # stopping: when to stop retrying the store
        self._store_away = False

    @property
    def clock(self) -> Clock:
        return self._clock

    def grace(self, publication: Publication) -> timedelta:
        return self._graces.get(publication.campaign, timedelta(minutes=15))

    # -- what there is to publish -----------------------------------------------------

    async def load(self, campaigns: Iterable[Campaign], now: datetime) -> dict[str, Row]:
        """Take the publications of ``campaigns`` as the ones to send (a timer that fires
        for any other is ignored), each with its ledger row as of ``now``; the rows."""
        campaigns = list(campaigns)
        wanted = {p.key: p for c in campaigns for p in c.publications}
        self._graces = {c.slug: c.grace for c in campaigns}
        rows = await self._store.run(self._ledger.sync, wanted.values(), now)
        self._publications = wanted
        self._resends = {
            key
            for key, row in rows.items()
            if key in self._resends or (row.resend and row.state == PublicationState.PENDING)
        }
        return rows

    async def resend(self, keys: Iterable[str]) -> list[str]:
        """Send now the publications among ``keys`` that a person asked to send again
        (``Ledger.resolve``), past their grace period; through the ledger's claim, so that
        no other process sends them too. Returns the keys taken up (those of the campaigns
        loaded)."""
        taken = [key for key in keys if key in self._publications]
        self._resends.update(taken)
        for key in taken:
            await self.fire(key)
        return taken

    async def miss(self, key: str, now: datetime, reason: str) -> str | None:
        """Record that publication ``key`` came due too long ago (``Ledger.miss``)."""
        return await self._store.run(self._ledger.miss, key, now, reason)

    # -- due publications ------------------------------------------------------------

    async def fire(self, key: str) -> None:
        """A timer's callback. Publications due at the same instant are claimed together,
        in one transaction."""
        if self._stopping:
            return
        self._due.append(key)
        if len(self._due) == 1:
            self._spawn(self._claim_due())

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._inflight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "publishing stopped on an unexpected error (the store?); a restart recovers it",
                exc_info=task.exception(),
            )

    async def _claim_due(self) -> None:
        await asyncio.sleep(0)  # let the other timers of this instant add their keys
        keys, self._due = self._due, []
        known = list(dict.fromkeys(k for k in keys if k in self._publications and k not in self._busy))
        if not known:
            return
        self._busy.update(known)  # before the claim: a sweep queued after it must not take them
        try:
            claimed = set(await self._store.run(self._ledger.claim, known, self._clock.now()))
        except Exception:  # the store is unreachable: try these again shortly, in order
            self._busy.difference_update(known)
            log.exception(
                "could not claim %d due publication(s); trying again in %.0f s",
                len(known),
                CLAIM_RETRY_SECONDS,
            )
            await self._sleep(CLAIM_RETRY_SECONDS)
            for key in known:
                await self.fire(key)
            return
        self._busy.difference_update(set(known) - claimed)
        for key in known:  # in the order they came due
            if key in claimed:
                self._spawn(self._send(self._publications[key]))
        if len(claimed) < len(known) and self._on_outcome is not None:
            await self._on_outcome()  # some may have been closed as unknown (a forgotten key)

    # -- rows no one is sending any more -----------------------------------------------

    async def sweep(self) -> list[Row]:
        """Take over the ``sending`` rows no task sends any more, a dead process's or this
        one's (``Ledger.recover``); send again those given back to ``pending``, and the due
        ``pending`` rows that a claim skipped while another process held them
        (``Ledger.overdue``). Also makes sure this process is still seen alive. Returns the
        rows changed."""
        busy = frozenset(self._busy)  # read now: the store calls run in order, after the claims

        def run() -> tuple[list[Row], list[str], list[str]]:
            if not self._ledger.heartbeat():
                log.warning("the store connection that shows this process alive was lost; taken again")
            now = self._clock.now()
            return self._ledger.recover(now, busy), self._ledger.overdue(now), self._ledger.resends()

        rows, overdue, resends = await self._store.run(run)
        wanted = [key for key in resends if key not in self._busy and key in self._publications]
        for key in wanted:
            log.info("%s: to be sent again, as a person asked (relais resolve --resend)", key)
        self._resends.update(wanted)  # before the fire below: past their grace period
        for row in rows:
            log.warning("%s: no longer being sent by the process that claimed it: now %s", row.key, row.state)
        for key in dict.fromkeys([r.key for r in rows if r.state == PublicationState.PENDING] + overdue):
            await self.fire(key)  # the claim decides: send, missed, or another process's already
        if any(row.state != PublicationState.PENDING for row in rows) and self._on_outcome is not None:
            await self._on_outcome()
        return rows

    async def watch(self, every: float = SWEEP_SECONDS) -> None:
        """``sweep`` every ``every`` seconds on the clock, until the publisher stops."""
        while not self._stopping:
            await self._sleep(every)
            if self._stopping:
                return
            try:
                await self.sweep()
            except Exception as error:
                if not self._store_away:
                    log.warning(
                        "cannot look for abandoned sends: the store is unreachable (%s); trying again "
                        "every %.0f s",
                        type(error).__name__,
                        every,
                    )
                self._store_away = True
            else:
                if self._store_away:
                    log.info("the store answers again")
                self._store_away = False

    async def drain(self) -> None:
        """Wait until every send in flight has finished (and its outcome is recorded)."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def stop(self) -> None:
        """Take no new publication; give back at once the ones whose request is not on the
        wire (waiting for a rate limit or a retry), let the requests on the wire finish."""
        self._stopping = True
        self._give_up_at = self._clock.now() + timedelta(seconds=STOP_RECORD_SECONDS)
        self._stop_event.set()
        await self.drain()

    # -- one send ----------------------------------------------------------------------

    async def _send(self, publication: Publication) -> None:
        try:
            await self._send_claimed(publication)
        finally:
            self._busy.discard(publication.key)

    async def _send_claimed(self, publication: Publication) -> None:
        key = publication.key
        late = lateness(publication, self._clock.now(), self.grace(publication))
        reason = None if key in self._resends else late
        if reason is not None:
            log.warning("%s: missed: %s", key, reason, extra=outcome(key, "missed"))
            await self._finish(key, PublicationState.MISSED, error=f"missed: {reason}")
            return
        sender = self._senders.get(publication.channel.network)
        if sender is None:
            reason = (
                f"this relais run has no {publication.channel.network} account: restart it with its settings"
            )
            log.error("%s: failed: %s", key, reason, extra=outcome(key, "failed"))
            await self._finish(key, PublicationState.FAILED, error=reason)
            return
        send = _Send()
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(TemporaryError),
                wait=self._wait,
                stop=partial(self._stop, publication),
                before_sleep=partial(self._before_retry, key),
                sleep=self._sleep,
                reraise=True,
            ):
                with attempt:
                    if self._stopping:  # woken from a retry wait by a stop: do not start another
                        raise TemporaryError("not sent: the bot was stopping")
                    receipt = await self._attempt_or_look(sender, publication, send)
        except _NotOurs:
            log.warning("%s: taken over by another process: not sent by this one", key)
        except _KeyForgotten:
            forgotten = key_forgotten(publication.channel.network)
            log.error(
                "%s: unknown whether it was published, not sent again: %s",
                key,
                forgotten,
                extra=outcome(key, "unknown"),
            )
            if self._on_outcome is not None:
                await self._on_outcome()
        except PermanentError as error:
            log.error("%s: failed: %s", key, self._redact(str(error)), extra=outcome(key, "failed"))
            await self._finish(key, PublicationState.FAILED, error=str(error))
        except OutcomeUnknown as error:
            log.error(
                "%s: unknown whether it was published, not sent again: %s",
                key,
                self._redact(str(error)),
                extra=outcome(key, "unknown"),
            )
            await self._finish(key, PublicationState.UNKNOWN, error=str(error))
        except TemporaryError as error:
            if self._stopping:  # nothing of it is on the wire: it goes out at the next start
                log.warning("%s: not sent before stopping (%s); left pending", key, self._redact(str(error)))
                await self._record(
                    key, "its release", self._ledger.release, key, self._clock.now(), self._redact(str(error))
                )
                return
            log.error(
                "%s: failed after retries: %s", key, self._redact(str(error)), extra=outcome(key, "failed")
            )
            await self._finish(key, PublicationState.FAILED, error=f"gave up retrying: {error}")
        except Exception as error:  # a bug: never risk sending it twice
            log.exception("%s: unexpected error, marked unknown", key, extra=outcome(key, "unknown"))
            await self._finish(key, PublicationState.UNKNOWN, error=f"unexpected error: {error!r}")
        else:
            link = receipt.url or receipt.remote_id
            log.info("%s: published %s", key, link, extra=outcome(key, "published", link))
            await self._finish(
                key, PublicationState.PUBLISHED, remote_id=receipt.remote_id, remote_url=receipt.url
            )

    async def _attempt_or_look(self, sender: Sender, publication: Publication, send: _Send) -> Receipt:
        """One call of the sender; if its outcome is unknown, look whether it was published
        (``Doubts``): seen, its receipt; not seen where it would be, a TemporaryError (sent
        again, within its grace); else the OutcomeUnknown as it is."""
        since = self._clock.now()
        try:
            return await self._attempt(sender, publication, send)
        except OutcomeUnknown as error:
            if self._doubts is None:
                raise
            doubt = self._redact(str(error))
            key = publication.key
            log.warning("%s: in doubt (%s); looking for its copy in the discussion group", key, doubt)
            found = await self._doubts.settle(publication, since)
            if isinstance(found, Seen):
                log.info("%s: its copy appeared in the discussion group: it was published", key)
                return found.receipt
            if isinstance(found, NotSent):
                raise TemporaryError(
                    f"in doubt ({doubt}), but no copy appeared in the discussion group within "
                    f"{found.waited:.0f} s, where every post of the channel appears: it was not published"
                ) from None
            if isinstance(found, Unsure):
                raise OutcomeUnknown(f"{doubt}; {found.why}") from None
            raise

    async def _attempt(self, sender: Sender, publication: Publication, send: _Send) -> Receipt:
        """One call of the sender. A stop while it has nothing on the wire (it waits for a
        rate limit, or uploads) cancels it: nothing was sent."""
        send.on_wire = False
        call = asyncio.ensure_future(
            sender.publish(publication, on_wire=partial(self._on_wire, publication.key, send))
        )
        stopping = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait({call, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not call.done() and not send.on_wire:  # read with nothing in between: no race
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call
            if call.cancelled():
                raise TemporaryError("not sent: the bot was stopping")
        return await call  # on the wire: it gets its timeout

    async def _on_wire(self, key: str, send: _Send) -> None:
        """The sender is about to write a request that may publish: record the attempt
        first. Raising here keeps the request from being written."""
        if send.on_wire:  # a second request of the same attempt (a long text's next part)
            return
        send.on_wire = True  # from here a stop waits for this attempt instead of cancelling it
        log.debug("%s: on the wire", key)
        try:
            found = await self._store.run(self._ledger.wire, key, self._clock.now())
        except Exception as error:
            send.on_wire = False
            raise _StoreDown(
                f"not sent: the store could not record the attempt ({type(error).__name__})"
            ) from None
        if found is not Wire.OK:
            send.on_wire = False
            raise _KeyForgotten() if found is Wire.EXPIRED else _NotOurs()

    async def _finish(
        self,
        key: str,
        state: PublicationState,
        *,
        error: str | None = None,
        remote_id: str | None = None,
        remote_url: str | None = None,
    ) -> None:
        recorded = await self._record(
            key,
            f"its outcome ({state.value}{', ' + remote_id if remote_id else ''})",
            self._ledger.finish,
            key,
            state,
            self._clock.now(),
            remote_id=remote_id,
            remote_url=remote_url,
            error=self._redact(error) if error else None,
        )
        if recorded is not None and state is not PublicationState.PUBLISHED and self._on_outcome is not None:
            with contextlib.suppress(Exception):  # an alert must not lose the outcome's log line
                await self._on_outcome()

    async def _record(
        self, key: str, what: str, function: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T | None:
        """A store write that must not be lost: while the store is unreachable, keep it and
        try again (until ``STOP_RECORD_SECONDS`` after a stop). None if it was given up."""
        waits = iter(STORE_RETRY_SECONDS)
        warned = False
        while True:
            try:
                result = await self._store.run(function, *args, **kwargs)
            except Exception as error:
                if self._give_up_at is not None and self._clock.now() >= self._give_up_at:
                    log.error(
                        "%s: stopped before the store came back; %s was not recorded (%s): the next "
                        "start treats the send as interrupted",
                        key,
                        what,
                        type(error).__name__,
                    )
                    return None
                if not warned:
                    log.warning(
                        "%s: the store is unreachable (%s); %s is kept until it answers",
                        key,
                        type(error).__name__,
                        what,
                    )
                    warned = True
                seconds = next(waits, STORE_RETRY_SECONDS[-1])
                await self._clock.sleep_until(self._clock.now() + timedelta(seconds=seconds))
                continue
            if warned:
                log.info("%s: %s recorded now that the store answers", key, what)
            return result

    async def _sleep(self, seconds: float) -> None:
        """Wait before a retry, on the clock; a stop cuts the wait short."""
        until = self._clock.now() + timedelta(seconds=seconds)
        waiting = asyncio.ensure_future(self._clock.sleep_until(until))
        stopping = asyncio.ensure_future(self._stop_event.wait())
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        stopping.cancel()

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited):
            return min(max(error.retry_after, 0.0), self._retry.longest_rate_limit_wait)
        return self._backoff(state)

    def _stop(self, publication: Publication, state: RetryCallState) -> bool:
        """Give up after the last attempt, or when the next one would come too late."""
        if state.attempt_number >= self._retry.attempts or self._stopping:
            return True
        upcoming = self._clock.now() + timedelta(seconds=state.upcoming_sleep)
        return lateness(publication, upcoming, self.grace(publication)) is not None

    async def _before_retry(self, key: str, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        message = self._redact(str(error))
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.1f s",
            key,
            state.attempt_number,
            message,
            state.upcoming_sleep,
        )
        await self._record(key, "the error", self._ledger.note_error, key, message)

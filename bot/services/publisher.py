"""Publishing: claim a due publication in the ledger, send it once, record what happened.

The publisher never sends a row it has not claimed, claims before calling the network,
and never repeats a send whose outcome is unknown. Retries (network errors, 5xx, rate
limits) happen here, with tenacity, within the publication's deadline: its grace period,
or the start of its livestream for a reminder.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from bot.channels import OutcomeUnknown, PermanentError, RateLimited, Sender, TemporaryError
from bot.clock import Clock
from bot.domain import Network, Publication, PublicationState
from bot.store.ledger import Ledger

log = logging.getLogger(__name__)
T = TypeVar("T")
CLAIM_RETRY_SECONDS = 5.0
Redact = Callable[[str], str]


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
    def __init__(
        self,
        ledger: Ledger,
        senders: Mapping[Network, Sender],
        clock: Clock,
        *,
        retry: RetryPolicy | None = None,
        redact: Redact = lambda text: text,
        on_outcome: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.ledger = ledger
        self.senders = senders
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self._backoff = wait_exponential_jitter(
            multiplier=self.retry.initial, max=self.retry.maximum, jitter=self.retry.initial
        )
        self.redact = redact
        self.on_outcome = on_outcome
        self.publications: dict[str, Publication] = {}
        self.graces: dict[str, timedelta] = {}  # by campaign
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relais-db")
        self._due: list[str] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._stop_event = asyncio.Event()

    async def db(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store call off the event loop, one at a time (SQLite has one writer)."""
        return await asyncio.get_running_loop().run_in_executor(self._db, partial(function, *args, **kwargs))

    def grace(self, publication: Publication) -> timedelta:
        return self.graces.get(publication.campaign, timedelta(minutes=15))

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
        known = [k for k in keys if k in self.publications]
        if not known:
            return
        try:
            claimed = set(await self.db(self.ledger.claim, known, self.clock.now()))
        except Exception:  # the store is unreachable: try these again shortly, in order
            log.exception(
                "could not claim %d due publication(s); trying again in %.0f s",
                len(known),
                CLAIM_RETRY_SECONDS,
            )
            await self.clock.sleep_until(self.clock.now() + timedelta(seconds=CLAIM_RETRY_SECONDS))
            for key in known:
                await self.fire(key)
            return
        for key in known:  # in the order they came due
            if key in claimed:
                self._spawn(self._send(self.publications[key]))

    async def drain(self) -> None:
        """Wait until every send in flight has finished (and its outcome is recorded)."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def stop(self) -> None:
        """Take no new publication; let the ones in flight finish."""
        self._stopping = True
        self._stop_event.set()
        await self.drain()
        self._db.shutdown(wait=True)

    # -- one send ----------------------------------------------------------------------

    async def _send(self, publication: Publication) -> None:
        key = publication.key
        reason = lateness(publication, self.clock.now(), self.grace(publication))
        if reason is not None:
            log.warning("%s: missed: %s", key, reason)
            await self._finish(key, PublicationState.MISSED, error=f"missed: {reason}")
            return
        sender = self.senders.get(publication.channel.network)
        if sender is None:
            reason = (
                f"this relais run has no {publication.channel.network} account: restart it with its settings"
            )
            log.error("%s: failed: %s", key, reason)
            await self._finish(key, PublicationState.FAILED, error=reason)
            return
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
                    await self.db(self.ledger.attempt, key, self.clock.now())
                    receipt = await sender.publish(publication)
        except PermanentError as error:
            log.error("%s: failed: %s", key, self.redact(str(error)))
            await self._finish(key, PublicationState.FAILED, error=str(error))
        except OutcomeUnknown as error:
            log.error(
                "%s: unknown whether it was published, not sent again: %s", key, self.redact(str(error))
            )
            await self._finish(key, PublicationState.UNKNOWN, error=str(error))
        except TemporaryError as error:
            if self._stopping:  # nothing reached the network: the next start sends it
                log.warning("%s: not sent before stopping (%s); left pending", key, self.redact(str(error)))
                await self.db(self.ledger.release, key, self.clock.now(), self.redact(str(error)))
                return
            log.error("%s: failed after retries: %s", key, self.redact(str(error)))
            await self._finish(key, PublicationState.FAILED, error=f"gave up retrying: {error}")
        except Exception as error:  # a bug: never risk sending it twice
            log.exception("%s: unexpected error, marked unknown", key)
            await self._finish(key, PublicationState.UNKNOWN, error=f"unexpected error: {error!r}")
        else:
            log.info("%s: published %s", key, receipt.url or receipt.remote_id)
            await self._finish(
                key, PublicationState.PUBLISHED, remote_id=receipt.remote_id, remote_url=receipt.url
            )

    async def _finish(
        self,
        key: str,
        state: PublicationState,
        *,
        error: str | None = None,
        remote_id: str | None = None,
        remote_url: str | None = None,
    ) -> None:
        await self.db(
            self.ledger.finish,
            key,
            state,
            self.clock.now(),
            remote_id=remote_id,
            remote_url=remote_url,
            error=self.redact(error) if error else None,
        )
        if state is not PublicationState.PUBLISHED and self.on_outcome is not None:
            await self.on_outcome()

    async def _sleep(self, seconds: float) -> None:
        """Wait before a retry, on the clock; a stop cuts the wait short."""
        waiting = asyncio.ensure_future(self.clock.sleep_until(self.clock.now() + timedelta(seconds=seconds)))
        stopping = asyncio.ensure_future(self._stop_event.wait())
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        stopping.cancel()

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited):
            return min(max(error.retry_after, 0.0), self.retry.longest_rate_limit_wait)
        return self._backoff(state)

    def _stop(self, publication: Publication, state: RetryCallState) -> bool:
        """Give up after the last attempt, or when the next one would come too late."""
        if state.attempt_number >= self.retry.attempts or self._stopping:
            return True
        upcoming = self.clock.now() + timedelta(seconds=state.upcoming_sleep)
        return lateness(publication, upcoming, self.grace(publication)) is not None

    async def _before_retry(self, key: str, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        message = self.redact(str(error))
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.1f s",
            key,
            state.attempt_number,
            message,
            state.upcoming_sleep,
        )
        await self.db(self.ledger.note_error, key, message)

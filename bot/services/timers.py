"""Timers that call back at an instant: APScheduler on real time, or a simulated clock.

The runner only needs ``set``, ``cancel`` and ``keys``; both implementations give them, so
the same publishing code runs for real and in a rehearsal.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import SimulatedClock

Callback = Callable[[str], Awaitable[None]]


class Timers(Protocol):
    def arm(self, key: str, at: datetime, callback: Callback) -> None:
        """Call ``callback(key)`` at ``at`` (now if it is past); replaces a timer of that key."""
        ...

    def cancel(self, key: str) -> None: ...

    def keys(self) -> set[str]: ...


class SchedulerTimers:
    """APScheduler's ``AsyncIOScheduler``, in UTC, one date job per key.

    Jobs are rebuilt from the campaign files and the ledger at each start, never pickled
    (PITFALLS: a persistent job store is not a record of what was published). Lateness is
    judged by the publisher (the grace rule), so APScheduler never drops a late job.
    """

    def __init__(self, on_error: Callable[[str, BaseException | None], None] | None = None) -> None:
        self.scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
        )
        self._on_error = on_error
        self.scheduler.add_listener(self._listen, EVENT_JOB_ERROR | EVENT_JOB_MISSED)

    def start(self) -> None:
        """Start the scheduler; must be called inside the running event loop."""
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def arm(self, key: str, at: datetime, callback: Callback) -> None:
        self.scheduler.add_job(callback, "date", run_date=at, args=[key], id=key, replace_existing=True)

    def cancel(self, key: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(key)

    def keys(self) -> set[str]:
        return {job.id for job in self.scheduler.get_jobs()}

    def _listen(self, event: JobExecutionEvent) -> None:
        if self._on_error is not None:
            self._on_error(event.job_id, getattr(event, "exception", None))


class SimulatedTimers:
    """Timers on a ``SimulatedClock``: ``run()`` fires them in time order, moving the clock."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self._heap: list[tuple[datetime, int, str]] = []
        self._timers: dict[str, tuple[datetime, int, Callback]] = {}
        self._order = itertools.count()

    def arm(self, key: str, at: datetime, callback: Callback) -> None:
        entry = (at, next(self._order), callback)
        self._timers[key] = entry
        heapq.heappush(self._heap, (at, entry[1], key))

    def cancel(self, key: str) -> None:
        self._timers.pop(key, None)

    def keys(self) -> set[str]:
        return set(self._timers)

    async def run(self, after_each: Callable[[], Awaitable[None]] | None = None) -> None:
        """Fire every timer in order until none is left; ``after_each`` runs after each
        instant (the rehearsal waits there for the sends of that instant to finish)."""
        while self._heap:
            at, order, key = heapq.heappop(self._heap)
            entry = self._timers.get(key)
            if entry is None or entry[1] != order:
                continue  # cancelled or replaced
            del self._timers[key]
            await self.clock.sleep_until(at)
            await entry[2](key)
            if after_each is not None and (not self._heap or self._heap[0][0] > at):
                await after_each()

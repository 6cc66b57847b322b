"""Time comes in as a clock object, so a campaign can be rehearsed on a simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio

# asyncio is imported where something waits: the commands that never wait (validate, plan,
# --help) would otherwise import it for nothing (a tenth of relais --help).


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once ``now() >= when``."""
        ...


class SystemClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        import asyncio

        while (delay := (when - self.now()).total_seconds()) > 0:
            await asyncio.sleep(delay)


class SimulatedClock:
    """Virtual time starting at ``start``.

    With ``speed=None`` waiting is instantaneous (time jumps to the deadline); with a
    speed of N, one real second is N simulated seconds.
    """

    def __init__(self, start: datetime, speed: float | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs an aware start time")
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self._now = start.astimezone(UTC)
        self.speed = speed

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        delta = (when - self._now).total_seconds()
        if delta <= 0:
            return
        if self.speed is not None:
            import asyncio

            await asyncio.sleep(delta / self.speed)
        self._now = when.astimezone(UTC)


async def wait_until(clock: Clock, when: datetime, stop: asyncio.Event) -> None:
    """Wait on ``clock`` until ``when``, or less if ``stop`` is set (the bot is stopping)."""
    import asyncio

    if stop.is_set():
        return
    sleeper = asyncio.ensure_future(clock.sleep_until(when))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        stopper.cancel()

"""Keeps the timers in step with the campaign files and the ledger.

At start and after each change of ``schedules/`` or ``messages/``: every publication gets
a ledger row; pending ones get a timer (moved when their time moved, removed when they
left the files); overdue ones are sent now if within their grace period, else marked
missed. A campaign file that no longer validates keeps its last good version running.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.campaigns import load_campaigns
from bot.domain import Campaign, Publication, PublicationState
from bot.problems import Problem
from bot.services.publisher import Publisher, lateness
from bot.services.timers import Timers

log = logging.getLogger(__name__)


@dataclass
class ApplyReport:
    scheduled: int = 0
    overdue_sent: int = 0
    missed: list[str] = field(default_factory=list)
    unscheduled: int = 0


class Runner:
    def __init__(
        self,
        publisher: Publisher,
        timers: Timers,
        schedules: Path,
        messages: Path,
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.publisher = publisher
        self.timers = timers
        self.schedules = schedules
        self.messages = messages
        self.on_change = on_change
        self.campaigns: dict[Path, Campaign] = {}

    def fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        """What the campaign files look like on disk (names, sizes, modification times)."""
        found = []
        for directory in (self.schedules, self.messages):
            if directory.is_dir():
                for path in sorted(directory.rglob("*")):
                    if path.is_file():
                        info = path.stat()
                        found.append((str(path), info.st_size, info.st_mtime_ns))
        return tuple(found)

    async def reload(self) -> list[Problem]:
        """Read the campaign files again and apply them. Returns the problems found; files
        with problems keep their last good version."""
        result = load_campaigns([self.schedules], self.messages)
        good = {c.source: c for c in result.campaigns}
        for problem in result.problems:
            log.warning("%s", problem)
        for source, previous in self.campaigns.items():
            if source not in good and source.exists():
                log.warning("%s does not validate: its last good version keeps running", source)
                good[source] = previous
        self.campaigns = good
        await self.apply(list(good.values()))
        return result.problems

    async def apply(self, campaigns: list[Campaign]) -> ApplyReport:
        publisher = self.publisher
        wanted: dict[str, Publication] = {p.key: p for c in campaigns for p in c.publications}
        now = publisher.clock.now()
        rows = await publisher.load(campaigns, now)
        report = ApplyReport()
        for key in self.timers.keys() - wanted.keys():
            self.timers.cancel(key)
            report.unscheduled += 1
        for key, publication in wanted.items():
            if rows[key].state != PublicationState.PENDING:
                self.timers.cancel(key)
                continue
            if rows[key].resend:  # a person asked to send it again: now, whatever its lateness
                self.timers.arm(key, now, publisher.fire)
                report.overdue_sent += 1
                continue
            if publication.at > now:
                self.timers.arm(key, publication.at, publisher.fire)
                report.scheduled += 1
                continue
            reason = lateness(publication, now, publisher.grace(publication))
            if reason is None:
                self.timers.arm(key, now, publisher.fire)
                report.overdue_sent += 1
            elif state := await publisher.miss(key, now, f"missed: {reason}"):
                log.warning("%s: %s: %s", key, state, reason)
                report.missed.append(key)
        if report.missed and self.on_change is not None:
            await self.on_change()
        log.info(
            "%d publications scheduled, %d overdue sent now, %d missed, %d unscheduled",
            report.scheduled,
            report.overdue_sent,
            len(report.missed),
            report.unscheduled,
        )
        return report

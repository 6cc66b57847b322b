"""What the benchmarks share: their figures, how they print them, and small measures."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class BenchmarkError(Exception):
    """A run that produced no valid figure (the bot failed, stalled or started too late)."""


@dataclass(frozen=True)
class Figure:
    part: str
    name: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: for information, no target

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("ok" if self.ok else "MISSED")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated linearly between order statistics."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def revision() -> str:
    """The commit of the working tree, and whether it has uncommitted changes."""
    try:
        git = partial(subprocess.run, cwd=ROOT, capture_output=True, text=True, timeout=10, check=True)
        head = git(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = git(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown revision"
    return f"{head}{' with uncommitted changes' if dirty else ''}"


def show(title: str, figures: list[Figure], *, width: int = 36) -> None:
    print(title)
    for f in figures:
        target = f"  (target {f.target}: {f.verdict})" if f.target else ""
        print(f"  {f.name:<{width}} {f.value}{target}".rstrip())
    print(flush=True)


def summary(figures: list[Figure]) -> None:
    """The figures that have a target, as a table."""
    rows = [("part", "figure", "value", "target", "result")]
    rows += [
        (f.part, f.name.strip(), f.value.strip(), f.target, f.verdict) for f in figures if f.ok is not None
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print("Summary")
    for n, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  " + "  ".join("-" * width for width in widths))


def run_parts(
    heading: str,
    runs: dict[str, tuple[str, Callable[[], list[Figure]]]],
    parts: list[str],
    *,
    width: int = 36,
) -> int:
    """Print ``heading``, then each part's figures (a part that raises ``BenchmarkError``
    prints why and counts as missed), then the summary; the exit status (1: a part failed)."""
    every: list[Figure] = []
    failed = False
    began = time.monotonic()
    print(f"{heading}\n", flush=True)
    for part in dict.fromkeys(parts):
        title, run = runs[part]
        started = time.monotonic()
        try:
            figures = run()
        except BenchmarkError as error:
            print(f"{title}: no figures: {error}\n", flush=True)
            every.append(Figure(part, title, "error", "a run", False))
            failed = True
            continue
        show(f"{title}  ({time.monotonic() - started:.0f} s)", figures, width=width)
        every += figures
    summary(every)
    print(f"\n{len(parts)} part(s) in {time.monotonic() - began:.0f} s")
    return 1 if failed else 0

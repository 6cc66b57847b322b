"""Back-off, written once: how long a loop that keeps failing waits before it tries again."""

from __future__ import annotations


class Backoff:
    """After failures in a row, wait ``first`` seconds, then twice as long each time, at
    most ``longest``; a success starts again from ``first``."""

    def __init__(self, first: float, longest: float) -> None:
        self.first = first
        self.longest = longest
        self.current = 0.0  # the last wait; 0 after a success

    def failed(self) -> float:
        """One more failure: the seconds to wait now."""
        self.current = min(max(2 * self.current, self.first), self.longest)
        return self.current

    def succeeded(self) -> None:
        self.current = 0.0

"""Problems found in user files, reported as ``file:line:column: message``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in one file. ``line`` and ``column`` are 1-based; 0 means unknown."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column or 1}: {self.message}"
        return f"{self.file}: {self.message}"

"""Problems found in user files, reported as ``file:line:column: message``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """An error stops a file from being used; a warning is printed and the file is used
    (``--strict`` makes warnings fatal)."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in one file. ``line`` and ``column`` are 1-based; 0 means unknown."""

    file: str
    line: int
    column: int
    message: str
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        message = self.message if self.is_error else f"warning: {self.message}"
        if self.line:
            return f"{self.file}:{self.line}:{self.column or 1}: {message}"
        return f"{self.file}: {message}"

"""Problems found in user files, reported as ``file:line:column: message``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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


def shown(value: Any) -> str:
    """A value as YAML writes it, for a message: ``true``, ``'x'``, ``a list``."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "a map"
    return repr(value)

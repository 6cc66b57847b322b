"""What ``relais check`` finds: one finding a check, each problem with its fix. The store's
checks (``bot.services.check``) and each network's (its profile's ``check``) write them;
``ask`` turns a question a network could not answer into the finding that says so."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from bot.ports import ChannelError, PermanentError

T = TypeVar("T")


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"  # works, but not as well as it could: exit 0
    ERROR = "error"  # will fail: exit 1


@dataclass(frozen=True)
class Finding:
    level: Level
    subject: str  # what was checked: "<network>", "<network> <chat>", "alerts", "store"
    message: str
    fix: str | None = None


class Unreachable(Exception):
    """A question could not be answered; the finding that says so is in ``finding``."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def failed(findings: Iterable[Finding]) -> bool:
    return any(f.level is Level.ERROR for f in findings)


async def ask(
    subject: str,
    question: Callable[[], Awaitable[T]],
    *,
    server: str,
    fixes: Callable[[str], str | None] = lambda message: None,
) -> T:
    """The answer to ``question`` (asked of the network that starts ``subject``), or
    ``Unreachable`` with the finding that names the fix: for a refusal, what ``fixes`` says
    of its message; for no answer, to check the machine's network access and ``server``
    (the setting that names the network's server)."""
    try:
        return await question()
    except PermanentError as error:
        raise Unreachable(Finding(Level.ERROR, subject, str(error), fixes(str(error)))) from None
    except ChannelError as error:
        network = subject.split()[0]
        raise Unreachable(
            Finding(
                Level.ERROR,
                subject,
                f"{network} did not answer: {error}",
                f"check the machine's network access and {server}, then run relais check again",
            )
        ) from None

"""What the services need from a network: the ``Sender`` protocol, which adapters implement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.domain import Publication


@dataclass(frozen=True)
class Receipt:
    """What the network says about a message it accepted."""

    remote_id: str
    url: str | None = None


class Sender(Protocol):
    async def publish(self, publication: Publication) -> Receipt:
        """Send one publication; raise on failure."""
        ...

"""The store, open: one database's engine, its tables, and the one thread its calls run on.

Whoever opens a ``Store`` owns it and closes it (``with Store.open(url) as store:``); the
services only receive it. Their calls go through ``run``, one at a time, off the event
loop: SQLite has one writer, and a call that waits for a lock must not hold up the loop.
Every service of a process shares that one thread (the publisher, the collectors, the
alerts, the acknowledgements and a web page beside them): none lends it to another.

``owner`` names the process (its rows in the ledger, its claims in the acknowledgement
queue); each ``Store`` has its own, so two stores stand for two processes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property, partial
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import Engine

from bot.store import database
from bot.store.acknowledgements import AcknowledgementQueue
from bot.store.comments import CollectorLock, CommentStore
from bot.store.ledger import Ledger

T = TypeVar("T")
WRITER_THREAD = "relais-db"


class Store:
    def __init__(self, engine: Engine, owner: str | None = None) -> None:
        self.engine = engine
        self.owner = owner or uuid.uuid4().hex
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=WRITER_THREAD)
        self._closed = False

    @classmethod
    def open(cls, url: str, owner: str | None = None) -> Store:
        """The store at ``url`` (absolute: see ``bot.store``), as it is: migrating it is
        the opener's decision (``database.upgrade``)."""
        return cls(database.create(url), owner)

    # -- its tables ---------------------------------------------------------------------

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.engine, self.owner)

    @cached_property
    def comments(self) -> CommentStore:
        return CommentStore(self.engine)

    @cached_property
    def acknowledgements(self) -> AcknowledgementQueue:
        return AcknowledgementQueue(self.engine, self.owner)

    def lock(self, name: str) -> CollectorLock:
        """The lock that gives collector ``name`` one owner across processes."""
        return CollectorLock(self.engine, name)

    # -- its writer ---------------------------------------------------------------------

    async def run(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` on the store's thread, after the calls before it."""
        call = partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._writer, call)

    def close(self) -> None:
        """Let the calls under way finish, then let go of everything: this process's
        registration in the ledger, the connections, the thread."""
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.shutdown(wait=True)
            if "ledger" in self.__dict__:  # opened: it may hold this process's registration
                self.ledger.close()
        finally:
            self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

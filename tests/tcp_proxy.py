"""A TCP proxy a test controls, to cut a service off (a store outage) and bring it back.

``TcpProxy`` listens on a free port of 127.0.0.1 and forwards every connection to
``target``, from an asyncio loop in a thread of its own. ``cut()`` drops every open
connection and refuses new ones (they are accepted and closed at once, as when a server
restarts), ``restore()`` forwards again. It keeps listening throughout, so that its port
stays its own. Its methods are safe to call from any thread::

    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
        ...
        proxy.cut()      # every client of the store loses its connection
        ...
        proxy.restore()
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType

_CHUNK = 64 * 1024


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0  # known once started
        self._up = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self.connections = 0  # accepted while up, in all

    def __repr__(self) -> str:
        state = "up" if self._up else "cut"
        return f"<TcpProxy 127.0.0.1:{self.port} -> {self.target[0]}:{self.target[1]} ({state})>"

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> TcpProxy:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="tcp-proxy")
            self._thread.start()
            self._run(self._listen())
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._run(self._close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # -- control -------------------------------------------------------------------------
    @property
    def up(self) -> bool:
        return self._up

    def cut(self) -> None:
        """Drop every connection open now and refuse new ones until ``restore()``."""
        self._run(self._cut())

    def restore(self) -> None:
        """Forward new connections again."""
        self._up = True

    # -- inside the loop -----------------------------------------------------------------
    def _run(self, coroutine: object) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        await self._cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _cut(self) -> None:
        self._up = False
        for writer in list(self._writers):
            _abort(writer)
        self._writers.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        if not self._up:
            _abort(client)
            return
        try:
            server_reader, server = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(client)
            return
        if not self._up:  # cut while connecting
            _abort(client)
            _abort(server)
            return
        self.connections += 1
        pair = {client, server}
        self._writers |= pair
        try:
            await asyncio.gather(self._pipe(client_reader, server), self._pipe(server_reader, client))
        finally:
            for writer in pair:
                self._writers.discard(writer)
                _abort(writer)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
        _abort(writer)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close at once, without waiting for buffered data: what a dead server does."""
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()

"""A PostgreSQL server that accepts the connection and never answers (a host half down, a
firewall that drops the replies) must not hang a command or the bot: the store gives up
after ``CONNECT_TIMEOUT`` seconds with a one-line error, unless the URL sets its own."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import OperationalError

from bot.services.check import Level, check_store
from bot.store import database


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections, reads, and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def _connect(url: str, within: float) -> tuple[BaseException | None, float]:
    """Try to connect, in a thread so that a hang fails the test instead of stalling it."""
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        engine = database.create(url)
        try:
            with engine.connect():
                outcome.append(None)
        except BaseException as error:
            outcome.append(error)
        finally:
            engine.dispose()

    started = time.monotonic()
    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(within)
    assert outcome, f"still connecting after {within:.0f} s: no connect timeout"
    return outcome[0], time.monotonic() - started


@pytest.mark.slow
def test_a_silent_server_is_given_up_after_the_default_timeout(silent_server: int) -> None:
    error, took = _connect(f"postgresql+psycopg://relais@127.0.0.1:{silent_server}/relais", within=60)
    assert isinstance(error, OperationalError)
    assert database.CONNECT_TIMEOUT - 1 <= took < database.CONNECT_TIMEOUT + 10


def test_the_url_may_set_its_own_timeout(silent_server: int) -> None:
    url = f"postgresql+psycopg://relais@127.0.0.1:{silent_server}/relais?connect_timeout=2"
    error, took = _connect(url, within=30)
    assert isinstance(error, OperationalError)
    assert took < database.CONNECT_TIMEOUT - 1


@pytest.mark.slow
def test_relais_check_says_so_in_one_line(silent_server: int) -> None:
    found = check_store(f"postgresql+psycopg://relais:secret@127.0.0.1:{silent_server}/relais")
    (error,) = [f for f in found if f.level is Level.ERROR]
    assert "timeout" in error.message
    assert "\n" not in error.message
    assert "secret" not in error.message

"""The web desk over HTTP, in process: every route, its security and its rules."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import Engine

from tests.webdesk import Desk, add_replies, open_desk, reply


@pytest.fixture
async def desk(engine: Engine) -> AsyncIterator[Desk]:
    add_replies(engine, [reply(n, f"Réponse {n} #gautrinweb2") for n in range(1, 8)])
    async for opened in open_desk(engine):
        yield opened


async def test_a_moderator_logs_in_and_sees_the_queue(desk: Desk) -> None:
    first = await desk.client.get("/")
    assert (first.status_code, first.headers["location"]) == (303, "/login")
    logged = await desk.login("bob")
    assert (logged.status_code, logged.headers["location"]) == (303, "/")
    page = await desk.page("/")
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    assert soup.select_one(".shown").text == "1–7 de 7"
    assert [a["id"] for a in soup.select("article.reply")] == [f"r{n}" for n in range(1, 8)]

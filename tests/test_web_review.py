"""The desk's defects found by the hostile review of issue 10, each shown over HTTP, in
process: sessions that outlive their account or their logout, bulk decisions on replies
never seen, undo, bad ids and dates, and the page's headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import Engine

from bot.clock import SimulatedClock
from bot.domain import CommentState
from bot.services.accounts import Accounts
from bot.services.moderation import ModerationService
from bot.store.comments import CommentStore
from bot.store.moderators import ModeratorStore
from bot.web.queue import CLIP
from tests.webdesk import CHEAP, NOW, PASSWORD, Desk, add_replies, open_desk, reply


@pytest.fixture
async def desk(engine: Engine) -> AsyncIterator[Desk]:
    add_replies(engine, [reply(n, f"Réponse {n} #gautrinweb2") for n in range(1, 8)])
    async for opened in open_desk(engine):
        yield opened


def soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


def service(engine: Engine) -> ModerationService:
    return ModerationService(CommentStore(engine), SimulatedClock(NOW))


def accounts(engine: Engine) -> Accounts:
    return Accounts(ModeratorStore(engine), SimulatedClock(NOW), CHEAP)


# -- sessions -----------------------------------------------------------------------------


async def test_a_removed_moderators_session_does_not_pass_to_the_next_account(desk: Desk) -> None:
    accounts(desk.engine).add("temp", PASSWORD)
    await desk.login("temp")
    assert (await desk.client.get("/")).status_code == 200
    accounts(desk.engine).remove("temp")
    newguy = accounts(desk.engine).add("newguy", PASSWORD, admin=True)
    assert newguy.name == "newguy"
    assert (await desk.client.get("/")).headers.get("location") == "/login"
    assert (await desk.client.get("/moderators")).status_code == 303



async def test_a_cookie_copied_before_logging_out_is_no_session_after(desk: Desk) -> None:
    await desk.login("bob")
    await desk.page("/")
    copied = desk.client.cookies["relais_session"]
    csrf = desk.csrf
    assert (await desk.post("/logout", {})).headers["location"] == "/login"
    desk.client.cookies.set("relais_session", copied)
    assert (await desk.client.get("/")).headers.get("location") == "/login"
    replayed = await desk.client.post("/decide", data={"csrf": csrf, "one": "1:approve"})
    assert replayed.status_code in (303, 401)
    assert replayed.headers.get("location", "/login").startswith("/login")


def test_accounts_made_before_session_keys_get_one_each(database_url: str) -> None:
    """Migration 0012 gives each existing account a key of its own, and the store is current."""
    from alembic import command
    from sqlalchemy import text

    from bot.store import database

    engine = database.create(database_url)
    config = database._alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0011")
        for name in ("ana", "bob"):
            connection.execute(
                text(
                    "INSERT INTO moderators (name, password_hash, admin, session_epoch, created_at) "
                    "VALUES (:name, 'x', true, 1, :at)"
                ),
                {"name": name, "at": NOW.replace(tzinfo=None)},
            )
    database.upgrade(engine)
    assert database.is_current(engine)
    store = ModeratorStore(engine)
    keys = {store.session_key(m.id) for m in store.all()}
    assert len(keys) == 2
    assert None not in keys
    engine.dispose()


# -- all N matching -------------------------------------------------------------------------


async def test_all_matching_refuses_when_other_replies_now_make_up_the_same_number(engine: Engine) -> None:
    add_replies(engine, [reply(n, "rapport" if n % 2 else "autre") for n in range(1, 11)])
    async for desk in open_desk(engine):
        await desk.login("bob")
        await desk.page("/?q=rapport")
        asked = await desk.post(
            "/decide", {"scope": "matching", "action": "approve", "tab": "pending", "q": "rapport"}
        )
        form = soup(asked.text).select('form[action="/decide/matching"] input')
        fields = {i["name"]: i["value"] for i in form}
        assert fields["expected"] == "5"
        service(engine).decide([1], CommentState.APPROVED, actor="ana")  # a colleague takes one
        add_replies(engine, [reply(99, "rapport jamais vu")])  # and one nobody saw arrives: 5 again
        refused = await desk.post("/decide/matching", fields)
        assert refused.status_code == 409
        assert "ont changé depuis" in refused.text
        assert service(engine).show(11).comment.state == "pending"
        asked = await desk.post(
            "/decide", {"scope": "matching", "action": "approve", "tab": "pending", "q": "rapport"}
        )
        again = soup(asked.text)
        fields = {i["name"]: i["value"] for i in again.select('form[action="/decide/matching"] input')}
        assert (await desk.post("/decide/matching", fields)).status_code == 303
        assert service(engine).counts()[CommentState.APPROVED] == 6


# -- undo -----------------------------------------------------------------------------------


async def test_undoing_a_colleagues_decision_is_refused_saying_whose_unless_forced(desk: Desk) -> None:
    decided = service(desk.engine).decide([2], CommentState.REJECTED, actor="ana", reason_code="spam")
    await desk.login("bob")
    await desk.page("/")
    refused = await desk.post("/undo", {"decision": str(decided.id), "back": "/"})
    assert refused.status_code == 409
    page = soup(refused.text)
    assert "rejetée par ana" in page.select_one(".meanwhile").text
    assert service(desk.engine).show(2).comment.state == "rejected"
    fields = {i["name"]: i["value"] for i in page.select('form[action="/undo"] input')}
    assert fields["decision"] == str(decided.id)
    forced = await desk.post("/undo", {**fields, "force": "1"})
    assert forced.status_code == 303
    assert service(desk.engine).show(2).comment.state == "pending"
    fetched = await desk.fetch("/undo", {"decision": str(decided.id)})
    assert fetched.status_code == 400  # undone already


@pytest.mark.slow
async def test_undo_without_a_decision_named_undoes_only_a_decision_of_the_last_moments(desk: Desk) -> None:
    await desk.login("bob")
    await desk.page("/")
    for n in (1, 2):
        assert (await desk.fetch("/decide", {"one": f"{n}:approve"})).status_code == 200
    desk.clock._now += timedelta(minutes=10)  # a reload later, the `u` key
    old = await desk.fetch("/undo", {})
    assert old.status_code == 404
    assert [service(desk.engine).show(n).comment.state for n in (1, 2)] == ["approved", "approved"]
    assert (await desk.fetch("/decide", {"one": "3:approve"})).status_code == 200
    desk.clock._now += timedelta(seconds=5)
    undone = await desk.fetch("/undo", {})
    assert (undone.status_code, undone.json()["undoes"]) == (200, 3)
    assert (await desk.fetch("/undo", {})).status_code == 404  # not one further back, ten minutes old
    assert service(desk.engine).show(2).comment.state == "approved"


# -- bad input --------------------------------------------------------------------------------


async def test_ids_and_dates_out_of_range_get_clear_pages(desk: Desk) -> None:
    await desk.login("bob")
    huge = await desk.client.get("/replies/999999999999999999999")
    assert huge.status_code == 404
    assert "pas de réponse portant ce numéro" in huge.text
    for dates in ("until=9999-12-31", "since=9999-12-31", "since=0001-01-01&tab=all"):
        answer = await desk.client.get(f"/?{dates}")
        assert answer.status_code in (200, 400), dates
    assert (await desk.client.get("/?until=9999-12-31")).status_code == 400


async def test_ids_are_ascii_digits_only(desk: Desk) -> None:
    await desk.login("bob")
    await desk.page("/")
    one = await desk.post("/decide", {"one": "\u0661:approve"})
    some = await desk.post("/decide", {"ids": "\u0662", "action": "approve"})
    assert (one.status_code, some.status_code) == (400, 400)
    seen = await desk.post("/decide", {"one": "3:approve", "v": "3:\u0661"})  # a version not read: as it stands
    assert seen.status_code == 303
    assert [service(desk.engine).show(n).comment.state for n in (1, 2, 3)] == ["pending", "pending", "approved"]
    assert (await desk.client.get("/?after=\u0661&tab=all")).status_code == 200


# -- long replies ------------------------------------------------------------------------------


async def test_a_100_kb_reply_is_clipped_in_lists_and_whole_on_its_page(engine: Engine) -> None:
    text = "<i>" + "x" * 100_000 + "</i>"
    add_replies(engine, [reply(1, text), reply(2, "court"), reply(3, "y" * CLIP)])
    async for desk in open_desk(engine):
        await desk.login("bob")
        queue = (await desk.page("/")).text
        assert len(queue.encode()) < 40_000
        shown = soup(queue).select_one("#r1 .text").text
        assert shown == text[:CLIP] + "…"
        assert soup(queue).select_one("#r1 a.more")["href"] == "/replies/1"
        assert soup(queue).select_one("#r3 .text").text == "y" * CLIP  # not longer: whole
        assert soup(queue).select_one("#r3 a.more") is None
        page = soup((await desk.page("/replies/1")).text)
        parts = page.select("#r1 .text")
        assert "".join(p.text for p in parts) == text
        assert parts[1].find_parent("details") is not None
        author = soup((await desk.page("/authors/mastodon/@alice@example.org")).text)
        assert author.select_one("#r1 .text").text == text[:CLIP] + "…"


async def test_an_authors_link_holds_a_handle_with_slashes_and_dots(engine: Engine) -> None:
    add_replies(engine, [reply(1, "piège", author="x/../../moderators"), reply(2, "autre", author="bob")])
    async for desk in open_desk(engine):
        await desk.login("bob")
        page = soup((await desk.page("/")).text)
        link = page.select_one("#r1 a.author")["href"]
        assert link == "/authors/mastodon/%40x%2F..%2F..%2Fmoderators%40example.org"
        author = await desk.page(link)
        assert author.status_code == 200
        assert [a["id"] for a in soup(author.text).select("article.reply")] == ["r1"]


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\n/evil.example", "/\r\\evil.example", "/\x00/x", "/ /evil"])
async def test_where_to_go_next_is_never_another_site(desk: Desk, target: str) -> None:
    await desk.page("/login")
    logged = await desk.post("/login", {"name": "bob", "password": PASSWORD, "next": target})
    assert logged.headers["location"] == "/"
    await desk.page("/")
    refused = await desk.post("/decide", {"one": "999:approve", "back": target})
    assert refused.status_code == 404
    assert [a["href"] for a in soup(refused.text).select("section.error a")] == ["/"]


# -- what the page says --------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_forged_start_does_not_make_up_positions(engine: Engine) -> None:
    add_replies(engine, [reply(n, f"Réponse {n}") for n in range(1, 61)])
    async for desk in open_desk(engine):
        await desk.login("bob")
        first = soup((await desk.page("/")).text)
        assert first.select_one(".shown").text == "1–50 de 60"
        after = first.select_one('a[rel="next"]')["href"]
        assert soup((await desk.page(after)).text).select_one(".shown").text == "51–60 de 60"
        forged = after.replace("start=51", "start=999999999999")
        assert soup((await desk.page(forged)).text).select_one(".shown").text == "51–60 de 60"
        alone = soup((await desk.page("/?start=999999999999")).text)
        assert alone.select_one(".shown").text == "1–50 de 60"


async def test_pages_are_not_kept_by_caches_and_say_they_vary_by_accept(desk: Desk) -> None:
    await desk.login("bob")
    for path in ("/", "/replies/1", "/login"):
        answer = await desk.client.get(path)
        assert answer.headers["cache-control"] == "no-store", path
        assert "Accept" in answer.headers["vary"], path
    styles = await desk.client.get("/static/desk.css")
    assert styles.headers.get("cache-control") != "no-store"



async def test_account_errors_are_in_french_on_the_french_page(desk: Desk) -> None:
    await desk.login("ana")
    await desk.page("/moderators")
    taken = await desk.post("/moderators", {"do": "add", "name": "bob", "password": "a long password!"})
    short = await desk.post("/moderators", {"do": "add", "name": "dan", "password": "court"})
    last = await desk.post("/moderators", {"do": "moderator", "name": "ana"})
    nobody = await desk.post("/moderators", {"do": "remove", "name": "zoe"})
    said = [soup(a.text).select_one("section.error p").text for a in (taken, short, last, nobody)]
    assert said == [
        "Un modérateur porte déjà ce nom.",
        "Un mot de passe compte au moins 10 caractères.",
        "C’est le dernier administrateur : nommez d’abord un autre administrateur.",
        "Aucun modérateur ne porte ce nom.",
    ]


async def test_the_filters_past_the_search_are_folded_unless_one_is_set(desk: Desk) -> None:
    await desk.login("bob")
    plain = soup((await desk.page("/")).text)
    folded = plain.select_one("form.filters details")
    assert folded is not None
    assert not folded.has_attr("open")
    assert folded.select_one('select[name="campaign"]') is not None
    assert plain.select_one("form.filters > label #q") is not None  # the search stays in sight
    narrowed = soup((await desk.page("/?tab=all&network=mastodon")).text)
    assert narrowed.select_one("form.filters details").has_attr("open")

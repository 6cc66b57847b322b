"""The web desk over HTTP, in process: every route, its security and its rules."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import Engine

from bot.clock import SimulatedClock
from bot.domain import CommentState
from bot.services.accounts import Accounts
from bot.services.moderation import ModerationService, ReasonCode
from bot.store.comments import CommentStore
from bot.store.moderators import ModeratorStore
from bot.web import i18n
from bot.web.queue import CLIP
from tests.webdesk import NOW, Desk, add_replies, open_desk, reply


@pytest.fixture
async def desk(engine: Engine) -> AsyncIterator[Desk]:
    add_replies(engine, [reply(n, f"Réponse {n} #gautrinweb2") for n in range(1, 8)])
    async for opened in open_desk(engine):
        yield opened


def soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


def service(engine: Engine) -> ModerationService:
    return ModerationService(CommentStore(engine), SimulatedClock(NOW))


def state(engine: Engine, reply_id: int) -> str:
    return service(engine).show(reply_id).comment.state


async def versions(desk: Desk, path: str = "/") -> dict[int, str]:
    page = soup((await desk.page(path)).text)
    found = {}
    for field in page.select('input[name="v"]'):
        reply_id, _, _ = field["value"].partition(":")
        found[int(reply_id)] = field["value"]
    return found


# -- logging in ---------------------------------------------------------------------------


async def test_a_moderator_logs_in_and_sees_the_queue_oldest_first(desk: Desk) -> None:
    first = await desk.client.get("/")
    assert (first.status_code, first.headers["location"]) == (303, "/login")
    logged = await desk.login("bob")
    assert (logged.status_code, logged.headers["location"]) == (303, "/")
    cookie = logged.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie
    page = soup((await desk.page("/")).text)
    assert page.select_one(".shown").text == "1–7 de 7"
    assert [a["id"] for a in page.select("article.reply")] == [f"r{n}" for n in range(1, 8)]
    tabs = {a["data-tab"]: a.select_one(".count").text for a in page.select(".tabs a")}
    assert tabs == {"pending": "7", "flagged": "0", "approved": "0", "rejected": "0", "all": "7"}


async def test_over_https_the_cookie_is_secure(desk: Desk) -> None:
    desk.client.base_url = "https://desk.test"
    logged = await desk.login("bob")
    assert logged.status_code == 303
    assert "Secure" in logged.headers["set-cookie"]


async def test_a_page_asked_for_before_logging_in_comes_back_after(desk: Desk) -> None:
    asked = await desk.client.get("/replies/3")
    assert asked.headers["location"] == "/login?next=/replies/3"
    await desk.page(asked.headers["location"])
    logged = await desk.post(
        "/login", {"name": "ana", "password": "correct horse battery", "next": "/replies/3"}
    )
    assert logged.headers["location"] == "/replies/3"
    await desk.page("/login")  # a new session at login: a new token
    elsewhere = await desk.post(
        "/login", {"name": "ana", "password": "correct horse battery", "next": "//evil.example"}
    )
    assert elsewhere.headers["location"] == "/"


async def test_a_fetch_without_a_session_gets_401_json(desk: Desk) -> None:
    answer = await desk.client.get("/live", headers={"Accept": "application/json"})
    assert answer.status_code == 401
    assert answer.json()["status"] == 401


async def test_a_wrong_password_says_so_and_repeated_failures_are_slowed(desk: Desk) -> None:
    for _ in range(3):
        wrong = await desk.login("bob", "not the password")
        assert wrong.status_code == 401
        assert "Ce nom et ce mot de passe ne correspondent à aucun compte." in wrong.text
    waited = await desk.login("bob")  # the right password, too soon: not even checked
    assert waited.status_code == 429
    assert waited.headers["retry-after"] == "2"
    desk.clock._now += timedelta(seconds=2)
    assert (await desk.login("bob")).status_code == 303


async def test_failures_from_one_address_slow_every_name(desk: Desk) -> None:
    for name in ("x1", "x2", "x3"):
        assert (await desk.login(name, "guess guess guess")).status_code == 401
    assert (await desk.login("ana")).status_code == 429


@pytest.mark.slow
async def test_a_new_password_ends_the_session(desk: Desk) -> None:
    await desk.login("bob")
    assert (await desk.client.get("/")).status_code == 200
    Accounts(ModeratorStore(desk.engine), SimulatedClock(NOW)).change_password("bob", "another long password")
    assert (await desk.client.get("/")).headers["location"] == "/login"


async def test_a_forged_cookie_is_no_session(desk: Desk) -> None:
    await desk.login("bob")
    desk.client.cookies.set("relais_session", desk.client.cookies["relais_session"][:-2] + "xx")
    assert (await desk.client.get("/")).status_code == 303


async def test_logging_out(desk: Desk) -> None:
    await desk.login("bob")
    await desk.page("/")
    out = await desk.post("/logout", {})
    assert out.headers["location"] == "/login"
    assert (await desk.client.get("/")).status_code == 303


# -- CSRF and roles ---------------------------------------------------------------------

POSTS = ["/login", "/logout", "/language", "/decide", "/decide/matching", "/undo", "/moderators"]


@pytest.mark.parametrize("path", POSTS)
async def test_a_post_without_the_csrf_token_is_refused(desk: Desk, path: str) -> None:
    await desk.login("ana")
    await desk.page("/")
    missing = await desk.client.post(path, data={"one": "1:approve", "name": "x", "do": "remove"})
    forged = await desk.client.post(path, data={"csrf": "0" * 64, "one": "1:approve", "do": "remove"})
    assert (missing.status_code, forged.status_code) == (403, 403)
    assert "Ce formulaire a expiré" in missing.text
    assert state(desk.engine, 1) == "pending"


async def test_a_moderator_cannot_reach_admin_actions(desk: Desk) -> None:
    await desk.login("bob")
    await desk.page("/")
    assert (await desk.client.get("/moderators")).status_code == 403
    removed = await desk.post("/moderators", {"do": "remove", "name": "ana"})
    assert removed.status_code == 403
    names = await desk.client.get("/export/download?format=csv&status=all&authors=1")
    assert names.status_code == 403
    assert "Seul un administrateur" in names.text
    assert "authors" not in (await desk.page("/export")).text


async def test_an_admin_manages_moderators_from_the_page(desk: Desk) -> None:
    await desk.login("ana")
    await desk.page("/moderators")
    added = await desk.post("/moderators", {"do": "add", "name": "chloe", "password": "a long password!"})
    assert added.headers["location"] == "/moderators?done=add"
    page = soup((await desk.page("/moderators")).text)
    assert [row.td.text for row in page.select("tbody tr")] == ["ana", "bob", "chloe"]
    short = await desk.post("/moderators", {"do": "add", "name": "dan", "password": "short"})
    assert short.status_code == 400
    assert (await desk.post("/moderators", {"do": "remove", "name": "ana"})).status_code == 400
    assert (await desk.post("/moderators", {"do": "remove", "name": "chloe"})).status_code == 303
    assert (await desk.post("/moderators", {"do": "admin", "name": "bob"})).status_code == 303
    bob = next(m for m in Accounts(ModeratorStore(desk.engine), SimulatedClock(NOW)).all() if m.name == "bob")
    assert bob.admin


# -- escaping -----------------------------------------------------------------------------

HOSTILE = [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ('<img src=x onerror="alert(1)">', "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;"),
    ("{{ 7*7 }} {% raw %}", "{{ 7*7 }} {% raw %}"),
    ("\u202egnp.exe\u202c fin", "\u202egnp.exe\u202c fin"),
    ("zéro\u200blargeur\ufeff", "zéro\u200blargeur\ufeff"),
    ("ligne 1\nligne 2\r\n  ligne 3", "ligne 1\nligne 2\r\n  ligne 3"),
    ("a & b 'c'", "a &amp; b &#39;c&#39;"),
]


async def test_hostile_text_is_shown_as_text_exactly(engine: Engine) -> None:
    add_replies(
        engine,
        [reply(n, text, author=f"<b>x{n}</b>") for n, (text, _) in enumerate(HOSTILE, start=1)],
    )
    async for desk in open_desk(engine):
        await desk.login("bob")
        page = (await desk.page("/")).text
        for n, (_, escaped) in enumerate(HOSTILE, start=1):
            assert f'<div class="text" dir="auto">{escaped}</div>' in page
            assert f"<bdi>Nom &lt;b&gt;x{n}&lt;/b&gt;</bdi>" in page
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "49" not in soup(page).select_one("#r3 .text").text
        detail = (await desk.page("/replies/1")).text
        assert '<div class="text" dir="auto">&lt;script&gt;alert(1)&lt;/script&gt;</div>' in detail


async def test_a_100_kb_reply_is_shown_whole_and_escaped(engine: Engine) -> None:
    text = "<i>" + "é" * 100_000 + "</i>"
    add_replies(engine, [reply(1, text)])
    async for desk in open_desk(engine):
        await desk.login("bob")
        page = (await desk.page("/replies/1")).text  # whole on its page; clipped in lists
        assert f'<div class="text" dir="auto">&lt;i&gt;{"é" * (CLIP - 3)}</div>' in page
        assert f'<div class="text" dir="auto">{"é" * (100_003 - CLIP)}&lt;/i&gt;</div>' in page


async def test_a_link_is_shown_only_if_it_is_http(engine: Engine) -> None:
    from dataclasses import replace

    item = reply(1, "lien")
    add_replies(engine, [replace(item, reply=replace(item.reply, url="javascript:alert(1)"))])
    async for desk in open_desk(engine):
        await desk.login("bob")
        page = (await desk.page("/")).text
        assert "javascript:" not in page


# -- the queue ----------------------------------------------------------------------------


@pytest.mark.slow
async def test_paging_50_at_a_time_with_a_stable_cursor(engine: Engine) -> None:
    add_replies(engine, [reply(n, f"r{n}") for n in range(1, 121)])
    async for desk in open_desk(engine):
        await desk.login("bob")
        page = soup((await desk.page("/")).text)
        assert page.select_one(".shown").text == "1–50 de 120"
        following = page.select_one('a[rel="next"]')["href"]
        add_replies(engine, [reply(n, f"r{n}") for n in range(121, 131)])  # arrive meanwhile
        second = soup((await desk.page(following)).text)
        assert second.select_one(".shown").text == "51–100 de 130"
        assert [a["data-id"] for a in second.select("article.reply")] == [str(n) for n in range(51, 101)]


@pytest.mark.slow
async def test_filters_and_search(engine: Engine) -> None:
    add_replies(
        engine,
        [
            reply(1, "Bravo pour le rapport"),
            reply(2, "casino gratuit", author="spam", flags=("contains a banned word (casino)",)),
            reply(3, "Un autre rapport", author="bob"),
        ],
    )
    async for desk in open_desk(engine):
        await desk.login("bob")
        found = soup((await desk.page("/?tab=all&q=rapport")).text)
        assert [a["data-id"] for a in found.select("article.reply")] == ["1", "3"]
        flagged = soup((await desk.page("/?tab=flagged")).text)
        assert [li.text for li in flagged.select("#r2 .flags li")] == ["contient un mot interdit (casino)"]
        by = soup((await desk.page("/?tab=all&author=@bob@example.org")).text)
        assert [a["data-id"] for a in by.select("article.reply")] == ["3"]
        none = await desk.page("/?tab=all&since=2099-01-01")
        assert "Aucune réponse ici." in none.text
        bad = await desk.page("/?tab=all&since=hier")
        assert bad.status_code == 400
        assert "Une date s’écrit ainsi" in bad.text
        assert (await desk.page("/?tab=nope")).status_code == 400


async def test_why_a_reply_is_held_is_said_in_the_moderators_language(engine: Engine) -> None:
    """Relais's own reasons are translated; a moderator's own words are shown as written."""
    reasons = (
        "edited after it was approved",
        "contains a banned word (casino, {jeton})",
        "contains a link",
        "the same text was already posted by this author",
        "à revoir : contains a link",
    )
    add_replies(engine, [reply(1, "Casino ! https://x.example", flags=reasons)])
    async for desk in open_desk(engine):
        await desk.login("bob")
        page = soup((await desk.page("/?tab=flagged")).text)
        assert [li.text for li in page.select("#r1 .flags li")] == [
            "modifiée après avoir été approuvée",
            "contient un mot interdit (casino, {jeton})",
            "contient un lien",
            "le même texte a déjà été publié par cette personne",
            "à revoir : contains a link",
        ]
        await desk.post("/language", {"language": "en", "back": "/"})
        page = soup((await desk.page("/?tab=flagged")).text)
        assert [li.text for li in page.select("#r1 .flags li")] == list(reasons)


async def test_the_flag_reason_filter_understands_the_moderators_language(engine: Engine) -> None:
    """Relais stores its own reasons in English and shows them translated: a French
    moderator filters by what the page says (``lien``), and finds them; English words and a
    moderator's own notes are found as typed."""
    add_replies(engine, [reply(1, "a", flags=("contains a link",))])
    add_replies(engine, [reply(2, "b", flags=("contains a banned word (casino)",))])
    add_replies(engine, [reply(3, "c", flags=("lien douteux, à vérifier",))])
    add_replies(engine, [reply(4, "d", flags=("the same text was already posted by this author",))])
    add_replies(engine, [reply(5, "e", flags=("edited after it was approved",))])
    async for desk in open_desk(engine):
        await desk.login("bob")

        async def shown(reason: str, desk: Desk = desk) -> list[str]:
            page = soup((await desk.page(f"/?tab=flagged&reason={reason}")).text)
            return sorted(str(a["id"]) for a in page.select("article.reply"))

        assert await shown("lien") == ["r1", "r3"]
        assert await shown("LIEN") == ["r1", "r3"]
        assert await shown("mot%20interdit") == ["r2"]
        assert await shown("déjà%20été%20publié") == ["r4"]
        assert await shown("link") == ["r1"]
        assert await shown("douteux") == ["r3"]
        assert await shown("contient") == ["r1", "r2"]
        # a flag copied from the page, details included: that one reason
        assert await shown("contient%20un%20mot%20interdit%20(casino)") == ["r2"]
        assert await shown("Modifi%C3%A9e%20apr%C3%A8s%20avoir%20%C3%A9t%C3%A9%20approuv%C3%A9e") == ["r5"]
        await desk.post("/language", {"language": "en", "back": "/"})
        assert await shown("lien") == ["r3"]  # the English page: "lien" is only a note's word


def test_the_flags_named_in_a_language_are_found_by_their_stored_words() -> None:
    from bot.services import moderation

    assert i18n.flags_named("lien", "fr") == (moderation.HAS_LINK,)
    assert i18n.flags_named("interdit", "fr") == ("contains a banned word",)
    assert i18n.flags_named(" Mot  interdit ", "fr") == ("contains a banned word",)  # spaces as typed
    assert i18n.flags_named("modifiée après", "fr") == ("edited after it was",)
    assert i18n.flags_named("modifiée après avoir été rejetée", "fr") == ("edited after it was rejected",)
    assert i18n.flags_named("Contient un mot interdit (Casino, jeton)", "fr") == (
        "contains a banned word (casino, jeton)",
    )
    assert i18n.flags_named("  ", "fr") == ()
    assert i18n.flags_named("casino", "fr") == ()  # a flag's detail is not its name
    assert all(moderation.BANNED_WORDS.startswith(w) for w in i18n.flags_named("mot", "fr"))


def test_the_desk_knows_each_reason_relais_gives_as_it_is_stored() -> None:
    from bot.services import moderation

    stored = {moderation.BANNED_WORDS, moderation.HAS_LINK, moderation.REPEATED, moderation.EDITED}
    assert set(i18n.FLAG_WORDS) == stored
    assert all(english == shown for english, shown in i18n.FLAG_WORDS.items())


# -- decisions ------------------------------------------------------------------------------


async def test_a_decision_from_the_form_records_the_moderator(desk: Desk) -> None:
    await desk.login("bob")
    seen = await versions(desk)
    done = await desk.post("/decide", {"one": "2:approve", "v": list(seen.values()), "back": "/?tab=pending"})
    assert done.status_code == 303
    assert done.headers["location"].startswith("/?tab=pending&done=1&as=approved&decision=")
    detail = service(desk.engine).show(2)
    assert (detail.comment.state, detail.comment.decided_by) == ("approved", "bob")
    notice = soup((await desk.page(done.headers["location"])).text)
    assert "1 réponse est maintenant : approuvée." in notice.select_one(".done").text
    assert notice.select_one("#undo")["value"] == done.headers["location"].rsplit("=", 1)[1]


async def test_a_rejection_needs_a_reason_code(desk: Desk) -> None:
    await desk.login("bob")
    seen = await versions(desk)
    refused = await desk.post("/decide", {"ids": ["1"], "action": "reject", "v": seen[1]})
    assert refused.status_code == 400
    assert state(desk.engine, 1) == "pending"
    done = await desk.post(
        "/decide", {"ids": ["1"], "action": "reject", "code": "spam", "note": "pub", "v": seen[1]}
    )
    assert done.status_code == 303
    comment = service(desk.engine).show(1).comment
    assert (comment.state, comment.reason_code, comment.reason) == ("rejected", "spam", "pub")


async def test_a_colleague_deciding_meanwhile_gets_409_naming_them(desk: Desk) -> None:
    await desk.login("bob")
    seen = await versions(desk)
    service(desk.engine).decide([3], CommentState.FLAGGED, actor="ana")
    answer = await desk.fetch("/decide", {"one": "3:approve", "v": seen[3]})
    assert answer.status_code == 409
    body = answer.json()
    assert body["kind"] == "decided_meanwhile"
    assert body["comments"][0]["id"] == 3
    assert (body["comments"][0]["state"], body["comments"][0]["decided_by"]) == ("flagged", "ana")
    assert state(desk.engine, 3) == "flagged"
    page = await desk.post("/decide", {"one": "3:approve", "v": seen[3]})
    assert page.status_code == 409
    said = " ".join(soup(page.text).select_one(".meanwhile").text.split())
    assert said == "Réponse 3 : signalée par ana, 2 mai 2012, 18 h 00"  # no campaign known: UTC


async def test_a_batch_is_all_or_nothing(desk: Desk) -> None:
    await desk.login("bob")
    seen = await versions(desk)
    service(desk.engine).decide([5], CommentState.FLAGGED, actor="ana")
    answer = await desk.post(
        "/decide", {"ids": ["4", "5", "6"], "action": "approve", "v": list(seen.values())}
    )
    assert answer.status_code == 409
    assert [state(desk.engine, i) for i in (4, 5, 6)] == ["pending", "flagged", "pending"]
    fetched = await desk.fetch("/decide", {"ids": ["4", "6"], "action": "approve", "v": list(seen.values())})
    assert fetched.status_code == 200
    assert [r["state"] for r in fetched.json()["comments"]] == ["approved", "approved"]


async def test_overturning_a_colleague_asks_and_then_forces(desk: Desk) -> None:
    service(desk.engine).decide([1], CommentState.APPROVED, actor="ana")
    await desk.login("bob")
    seen = await versions(desk, "/?tab=approved")
    refused = await desk.post("/decide", {"one": "1:reject", "code": "abusive", "v": seen[1]})
    assert refused.status_code == 409
    retry = soup(refused.text).select_one('form[action="/decide"]')
    fields = {i["name"]: i["value"] for i in retry.select("input")}
    assert (fields["action"], fields["ids"]) == ("reject", "1")
    forced = await desk.post("/decide", {**fields, "force": "1"})
    assert forced.status_code == 303
    assert state(desk.engine, 1) == "rejected"


async def test_all_matching_a_filter_after_a_confirmation(engine: Engine) -> None:
    add_replies(engine, [reply(n, "rapport" if n % 2 else "autre") for n in range(1, 61)])
    async for desk in open_desk(engine):
        await desk.login("bob")
        await desk.page("/?q=rapport")
        asked = await desk.post(
            "/decide", {"scope": "matching", "action": "approve", "tab": "pending", "q": "rapport"}
        )
        confirm = soup(asked.text)
        assert "30" in confirm.h1.text
        fields = {i["name"]: i["value"] for i in confirm.select('form[action="/decide/matching"] input')}
        assert fields["expected"] == "30"
        add_replies(engine, [reply(99, "rapport de plus")])  # the filter now selects 31
        changed = await desk.post("/decide/matching", fields)
        assert changed.status_code == 409
        assert service(engine).counts()[CommentState.APPROVED] == 0
        asked = await desk.post(  # asked again: 31, those now matching
            "/decide", {"scope": "matching", "action": "approve", "tab": "pending", "q": "rapport"}
        )
        fields = {i["name"]: i["value"] for i in soup(asked.text).select('form[action="/decide/matching"] input')}
        assert fields["expected"] == "31"
        done = await desk.post("/decide/matching", fields)
        assert done.status_code == 303
        assert service(engine).counts()[CommentState.APPROVED] == 31


async def test_rejecting_all_matching_a_flag_reason(engine: Engine) -> None:
    """The filter "flag reason" and the reason of a rejection are two fields of one form."""
    add_replies(engine, [reply(n, f"lien {n}", flags=("contains a link",)) for n in range(1, 4)])
    add_replies(engine, [reply(9, "autre", flags=("contains a banned word (casino)",))])
    async for desk in open_desk(engine):
        await desk.login("bob")
        page = soup((await desk.page("/?tab=flagged&reason=link")).text)
        form = page.select_one("form#queue")
        fields = {i["name"]: i["value"] for i in form.select("input[type=hidden]") if i["name"] != "v"}
        asked = await desk.post(
            "/decide", {**fields, "scope": "matching", "action": "reject", "code": "spam"}
        )
        confirm = soup(asked.text)
        assert "3" in confirm.h1.text
        sent = {i["name"]: i["value"] for i in confirm.select('form[action="/decide/matching"] input')}
        assert (await desk.post("/decide/matching", sent)).status_code == 303
        states = [(c.id, c.state, c.reason_code) for c in service(engine).page(limit=None).comments]
        assert states == [
            (1, "rejected", "spam"),
            (2, "rejected", "spam"),
            (3, "rejected", "spam"),
            (4, "flagged", None),
        ]


async def test_undo_from_the_notice_and_the_u_key(desk: Desk) -> None:
    await desk.login("bob")
    seen = await versions(desk)
    done = await desk.fetch("/decide", {"ids": ["1", "2"], "action": "flag", "v": list(seen.values())})
    decision = done.json()["decision"]
    undone = await desk.fetch("/undo", {"decision": str(decision)})
    assert undone.status_code == 200
    assert [state(desk.engine, i) for i in (1, 2)] == ["pending", "pending"]
    await desk.fetch("/decide", {"one": "3:approve", "v": seen[3]})
    last = await desk.fetch("/undo", {})
    assert last.json()["comments"][0]["id"] == 3
    assert state(desk.engine, 3) == "pending"


async def test_undo_from_the_history(desk: Desk) -> None:
    await desk.login("bob")
    seen = await versions(desk)
    await desk.post("/decide", {"one": "4:approve", "v": seen[4]})
    history = soup((await desk.page("/replies/4")).text)
    button = history.select_one('button[form="history"]')
    assert button is not None
    back = await desk.post("/undo", {"decision": button["value"], "back": "/replies/4"})
    assert back.headers["location"].startswith("/replies/4?done=1&as=undo")
    assert state(desk.engine, 4) == "pending"
    again = soup((await desk.page("/replies/4")).text)
    assert again.select('button[form="history"]') == []


async def test_the_decisions_page_undoes_any_of_them(desk: Desk) -> None:
    service(desk.engine).decide([1], CommentState.FLAGGED, actor="ana")
    await desk.login("bob")
    seen = await versions(desk)
    await desk.post("/decide", {"ids": ["2", "3"], "action": "approve", "v": [seen[2], seen[3]]})
    page = soup((await desk.page("/decisions")).text)
    rows = [[td.text.strip() for td in tr.select("td")][1:5] for tr in page.select("tbody tr")]
    assert rows == [["bob", "approuvée", "2", ""], ["ana", "signalée", "1", ""]]
    mine = soup((await desk.page("/decisions?mine=1")).text)
    assert len(mine.select("tbody tr")) == 1
    ana = page.select("tbody tr")[1].button["value"]
    refused = await desk.post("/undo", {"decision": ana, "back": "/decisions"})
    assert refused.status_code == 409  # a colleague's: undone only when forced
    undone = await desk.post("/undo", {"decision": ana, "back": "/decisions", "force": "1"})
    assert undone.headers["location"].startswith("/decisions?done=1&as=undo")
    assert state(desk.engine, 1) == "pending"
    after = soup((await desk.page("/decisions")).text)
    assert [tr.select("td")[2].text for tr in after.select("tbody tr")] == [
        f"a annulé la décision {ana}",
        "approuvée",
        "signalée",
    ]
    assert after.select("tbody tr")[2].select("td")[5].text == "annulée"


async def test_unknown_ids_get_a_clear_page(desk: Desk) -> None:
    await desk.login("bob")
    missing = await desk.page("/replies/999")
    assert missing.status_code == 404
    assert "Il n’y a pas de réponse portant ce numéro" in missing.text
    nothing = await desk.post("/decide", {"one": "999:approve"})
    assert nothing.status_code == 404
    no_route = await desk.page("/nowhere")
    assert (no_route.status_code, "Cette page n’existe pas." in no_route.text) == (404, True)
    not_a_number = await desk.post("/decide", {"one": "x:approve"})
    assert not_a_number.status_code == 400


# -- other pages ------------------------------------------------------------------------


async def test_the_author_view(engine: Engine) -> None:
    add_replies(engine, [reply(1, "un", author="eve"), reply(2, "deux", author="eve"), reply(3, "trois")])
    service(engine).decide([1], CommentState.REJECTED, actor="ana", reason_code="spam")
    async for desk in open_desk(engine):
        await desk.login("bob")
        page = soup((await desk.page("/authors/mastodon/%40eve%40example.org")).text)
        assert [a["data-id"] for a in page.select("article.reply")] == ["2", "1"]
        assert "rejetée 1" in page.select_one(".counts").text
        assert (await desk.page("/authors/mastodon/nobody")).status_code == 404


async def test_export_pseudonymised_and_with_names_for_admins(desk: Desk) -> None:
    service(desk.engine).decide([1, 2], CommentState.APPROVED, actor="ana")
    await desk.login("bob")
    plain = await desk.client.get("/export/download?format=csv&unverified=1")
    assert plain.status_code == 200
    assert plain.headers["content-disposition"] == 'attachment; filename="relais-replies-pseudonymised.csv"'
    rows = list(csv.DictReader(io.StringIO(plain.content.decode("utf-8-sig"))))
    assert [r["author"] for r in rows] == ["participant 1", "participant 1"]
    assert "alice" not in plain.text
    await desk.login("ana")
    named = await desk.client.get("/export/download?format=json&status=all&authors=1&unverified=1")
    document = json.loads(named.text)
    assert len(document["replies"]) == 7
    assert document["replies"][0]["author_handle"] == "@alice@example.org"
    assert (await desk.client.get("/export/download?format=pdf")).status_code == 400


async def test_publications_page_and_language(desk: Desk) -> None:
    await desk.login("bob")
    page = await desk.page("/publications")
    assert "Aucune publication prévue." in page.text
    switched = await desk.post("/language", {"language": "en", "back": "/publications"})
    assert switched.headers["location"] == "/publications"
    english = await desk.page("/publications")
    assert "No publication planned." in english.text
    assert '<html lang="en-CA">' in english.text


async def test_the_plan_with_what_was_missed_and_why(engine: Engine) -> None:
    from pathlib import Path

    from bot.core.campaigns import load_campaigns
    from bot.store.ledger import Ledger

    root = Path(__file__).resolve().parent.parent
    campaigns = load_campaigns([root / "schedules"], root / "messages").campaigns
    publications = [p for c in campaigns for p in c.publications]
    ledger = Ledger(engine, "test")
    ledger.sync(publications, NOW)
    ledger.miss(publications[0].key, NOW, "came due while <b>nothing</b> ran")
    async for desk in open_desk(engine, campaigns):
        await desk.login("bob")
        page = soup((await desk.page("/publications")).text)
        rows = page.select("table.plan tbody tr")
        assert len(rows) == len(publications)
        first = [td.text for td in rows[0].select("td")]
        assert first[3:] == ["manquée", "came due while <b>nothing</b> ran"]
        assert first[0] == "19 sept. 2011, 10 h 00"  # the campaign's zone, America/Montreal
        assert {tr["class"][0] for tr in rows[1:]} == {"pending"}


async def test_a_cross_site_post_is_refused_even_with_a_token(desk: Desk) -> None:
    await desk.login("bob")
    seen = await versions(desk)
    answer = await desk.post(
        "/decide", {"one": "1:approve", "v": seen[1]}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert answer.status_code == 403
    assert state(desk.engine, 1) == "pending"


async def test_live_counts_and_new_replies(desk: Desk) -> None:
    await desk.login("bob")
    live = await desk.client.get("/live?tab=pending&seen=7", headers={"Accept": "application/json"})
    assert live.json() == {
        "counts": {"pending": 7, "approved": 0, "rejected": 0, "flagged": 0, "all": 7},
        "new": 0,
        "more": False,
    }
    add_replies(desk.engine, [reply(8, "nouvelle"), reply(9, "encore")])
    again = await desk.client.get("/live?tab=pending&seen=7", headers={"Accept": "application/json"})
    assert (again.json()["new"], again.json()["counts"]["pending"]) == (2, 9)


async def test_the_pages_json_is_the_services_document(desk: Desk) -> None:
    await desk.login("bob")
    json_please = {"Accept": "application/json"}
    queue = (await desk.client.get("/?tab=pending", headers=json_please)).json()
    assert (queue["shown"], queue["total"], queue["next"], queue["counts"]["pending"]) == (7, 7, None, 7)
    assert queue["comments"][0]["text"] == "Réponse 1 #gautrinweb2"
    detail = (await desk.client.get("/replies/2", headers=json_please)).json()
    assert (detail["comment"]["id"], detail["history"][0]["kind"]) == (2, "collected")
    author = (await desk.client.get("/authors/mastodon/@alice@example.org", headers=json_please)).json()
    assert author["total"] == 7


async def test_every_answer_carries_the_security_headers(desk: Desk) -> None:
    for path in ("/login", "/nowhere", "/static/desk.css", "/static/desk.js"):
        answer = await desk.client.get(path)
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"


def test_the_reason_codes_are_the_services() -> None:
    assert set(i18n.REASON_WORDS) == {code.value for code in ReasonCode}


@pytest.mark.parametrize(
    ("network", "handle", "link"),
    [
        ("mastodon", "@alice@example.org", "https://example.org/@alice"),
        ("mastodon", "@alice", None),
        ("telegram", "@alice_qc", "https://t.me/alice_qc"),
        ("telegram", "Alice", None),
        ("gone", "@alice", None),  # a network no longer registered
    ],
)
def test_an_authors_profile_link_is_their_networks(network: str, handle: str, link: str | None) -> None:
    from types import SimpleNamespace

    from bot.web.queue import profile

    assert profile(SimpleNamespace(network=network, author_handle=handle)) == link  # type: ignore[arg-type]

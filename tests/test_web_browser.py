"""The desk in a real browser: Debian's Chromium, headless, driven by Playwright (never a
browser Playwright downloads). A moderator logs in, works the queue with the keyboard,
sees a new reply arrive, approves all the replies a search finds, undoes, and exports."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.clock import SystemClock
from bot.services.accounts import Accounts
from bot.store import database
from bot.store.handle import Store
from bot.store.moderators import ModeratorStore
from tests.webdesk import PASSWORD, add_replies, reply

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update"]


def _serve(tmp_path: Path, count: int = 12) -> Iterator[tuple[str, Store]]:
    """The desk under uvicorn on a free port of the loopback, on a store of ``count`` replies."""
    import uvicorn

    from bot.web.app import create_app

    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
    engine = database.create(f"sqlite:///{tmp_path / 'relais.db'}")
    database.upgrade(engine)
    texts = ["Bravo pour le rapport", "Question sur la diffusion", "Le rapport est clair", "Merci"]
    add_replies(engine, [reply(n, f"{texts[n % 4]} ({n})") for n in range(1, count + 1)])
    Accounts(ModeratorStore(engine), SystemClock()).add("ana", PASSWORD, admin=True)
    store = Store(engine)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(store, SystemClock()), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.05):
        if server.started:
            started.set()
    try:
        yield f"http://127.0.0.1:{port}", store
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    yield from _serve(tmp_path)


def test_a_moderator_works_the_queue_with_the_keyboard(served: tuple[str, Store], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, store = served
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        page.goto(f"{base}/")
        page.fill("#name", "ana")
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Se connecter')")
        expect(page.locator(".shown")).to_have_text("1–12 de 12")

        page.keyboard.press("j")
        expect(page.locator("#r1")).to_be_focused()
        page.keyboard.press("a")  # approve: the focus moves to the next reply
        expect(page.locator("#r2")).to_be_focused()
        expect(page.locator("#r1")).to_have_class("reply approved")
        expect(page.locator(".tabs a[data-tab=approved] .count")).to_have_text("1", timeout=10_000)
        page.keyboard.press("r")  # reject: a reason, by its number
        expect(page.locator("#reasons")).to_be_visible()
        page.keyboard.press("1")
        expect(page.locator("#r3")).to_be_focused()
        expect(page.locator("#r2 .state")).to_have_text("rejetée")
        page.keyboard.press("u")  # undo the rejection
        expect(page.locator("#r2 .state")).to_have_text("à examiner")
        page.keyboard.press("x")
        expect(page.locator("#r2 input.pick")).to_be_checked()

        add_replies(store.engine, [reply(13, "Une nouvelle réponse sur le rapport")])
        expect(page.locator("#banner")).to_be_visible(timeout=15_000)
        expect(page.locator("#banner a")).to_contain_text("1")
        expect(page.locator("article.reply")).to_have_count(12)  # nothing moved under the eyes

        page.keyboard.press("/")
        expect(page.locator("#q")).to_be_focused()
        page.keyboard.type("rapport")
        page.keyboard.press("Enter")
        expect(page.locator(".shown")).to_have_text("1–7 de 7")  # the new reply among them
        page.click("button[name=scope][value=matching]")
        expect(page.locator("h1")).to_contain_text("7")
        page.click("button:has-text('Oui, décider de toutes')")
        expect(page.locator(".done")).to_contain_text("7 réponses sont maintenant : approuvée.")
        page.click("#undo")
        expect(page.locator(".done")).to_contain_text("Décision annulée")

        page.click("nav a[href='/export']")
        page.select_option("select[name=status]", "all")
        # The desk has no Mastodon account here to look the replies up again: the
        # moderator exports without checking, and the file says so.
        page.check("input[name=unverified]")
        with page.expect_download() as download:
            page.click("button:has-text('Télécharger')")
        saved = tmp_path / "export.csv"
        download.value.save_as(saved)
        exported = saved.read_text(encoding="utf-8-sig")
        assert exported.count("participant 1") == 13
        assert "@alice" not in exported
        assert exported.splitlines()[0].endswith(",verification")
        browser.close()
    assert problems == []


def test_past_the_last_reply_the_next_page_counts_what_left(tmp_path: Path) -> None:
    """j past the last reply opens the next page, which starts one earlier for each reply
    decided out of the tab: 50 shown, one approved, the next page is 50–54 of 54."""
    from playwright.sync_api import expect, sync_playwright

    for base, _store in _serve(tmp_path, 55):
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.goto(f"{base}/login")
            page.fill("#name", "ana")
            page.fill("#password", PASSWORD)
            page.click("button:has-text('Se connecter')")
            expect(page.locator(".shown")).to_have_text("1–50 de 55")
            page.keyboard.press("j")
            page.keyboard.press("a")
            expect(page.locator("#r2")).to_be_focused()
            for _ in range(49):
                page.keyboard.press("j")
            expect(page.locator(".shown")).to_have_text("50–54 de 54")
            browser.close()

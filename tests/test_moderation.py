"""The moderation service, on SQLite and PostgreSQL: the queue's filters and paging, one
reply in context, and decisions that are all or nothing and refused when stale."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from bot.clock import SimulatedClock
from bot.domain import Channel, CommentState, Publication, PublicationState, Reply
from bot.services.moderation import (
    CommentQuery,
    DecidedMeanwhile,
    InvalidRequest,
    ModerationService,
    NoSuchReply,
    Overturning,
    after_edit,
)
from bot.store import database
from bot.store.acknowledgements import AcknowledgementQueue
from bot.store.comments import Collected, CommentStore, Verdict
from bot.store.ledger import Ledger
from tests.data import Network

NOW = datetime(2012, 5, 2, 18, 0, tzinfo=UTC)
APPROVED, REJECTED, FLAGGED, PENDING = (
    CommentState.APPROVED,
    CommentState.REJECTED,
    CommentState.FLAGGED,
    CommentState.PENDING,
)


def reply(
    remote_id: str,
    text: str = "Bravo #gautrinweb2",
    *,
    network: Network = Network.MASTODON,
    author: str = "1",
    minutes: int = 0,
    **extra: object,
) -> Reply:
    return Reply(
        network=network,
        remote_id=remote_id,
        text=text,
        created_at=NOW + timedelta(minutes=minutes),
        author_id=author,
        author_handle=f"@user{author}@example.org",
        author_name=f"User {author}",
        hashtags=("gautrinweb2",),
        **extra,
    )  # type: ignore[arg-type]


def save(store: CommentStore, *replies: Reply, campaign: str = "c", publication: str | None = None) -> None:
    store.save_page(
        None, None, [Collected(r, campaign, publication) for r in replies], now=NOW, after_edit=after_edit
    )


@pytest.fixture
def store(engine: Engine) -> CommentStore:
    return CommentStore(engine)


@pytest.fixture
def moderation(store: CommentStore) -> ModerationService:
    return ModerationService(store, SimulatedClock(NOW))


def ids(store: CommentStore) -> dict[str, int]:
    return {c.remote_id: c.id for c in store.find(limit=None)}


def history(store: CommentStore, comment_id: int) -> list[tuple[str, str]]:
    found = store.get(comment_id)
    assert found is not None
    return [(e.kind, e.actor) for e in found[1]]


# -- decisions -------------------------------------------------------------------------


def test_a_decision_on_a_reply_decided_meanwhile_is_refused(
    store: CommentStore, moderation: ModerationService
) -> None:
    save(store, reply("1"))
    [seen] = store.find()
    assert seen.version == 1
    [decided] = moderation.decide(
        [seen.id], REJECTED, actor="bob", reason="pourriel", reason_code="spam", seen={seen.id: 1}
    ).comments
    assert (decided.state, decided.version) == ("rejected", 2)
    with pytest.raises(DecidedMeanwhile) as refused:  # ana saw version 1 and approves
        moderation.decide([seen.id], APPROVED, actor="ana", seen={seen.id: 1})
    assert str(refused.value) == (
        f"changed since you saw it: reply {seen.id} is rejected by bob at 2012-05-02 18:00 UTC (version 2)"
    )
    assert [(c.id, c.state, c.decided_by) for c in refused.value.replies] == [(seen.id, "rejected", "bob")]
    [now] = store.find()
    assert (now.state, now.decided_by, now.version) == ("rejected", "bob", 2)
    assert history(store, seen.id) == [("collected", "relais"), ("rejected", "bob")]
    assert AcknowledgementQueue(store.engine, "t").entries() == []  # no approval went through
    # having seen version 2, she still needs to force it to overturn bob's rejection
    with pytest.raises(Overturning) as colleague:
        moderation.decide([seen.id], APPROVED, actor="ana", seen={seen.id: 2})
    assert str(colleague.value) == (
        f"a colleague decided it: reply {seen.id} is rejected by bob at 2012-05-02 18:00 UTC (version 2)"
    )
    [overturned] = moderation.decide([seen.id], APPROVED, actor="ana", seen={seen.id: 2}, force=True).comments
    assert (overturned.state, overturned.version) == ("approved", 3)


def test_an_edit_moves_the_version_on(store: CommentStore, moderation: ModerationService) -> None:
    save(store, reply("1", "Bravo #gautrinweb2"))
    [seen] = store.find()
    save(store, reply("1", "Achetez ici #gautrinweb2", edited_at=NOW))
    with pytest.raises(DecidedMeanwhile, match=r"is pending \(version 2\)"):
        moderation.decide([seen.id], APPROVED, actor="ana", seen={seen.id: seen.version})
    assert store.find()[0].state == "pending"


def test_a_bulk_decision_is_all_or_nothing(store: CommentStore, moderation: ModerationService) -> None:
    save(store, *(reply(str(i), author=str(i)) for i in range(1, 6)))
    by_remote = ids(store)
    all_ids = sorted(by_remote.values())
    moderation.decide([by_remote["3"]], FLAGGED, actor="bob")
    with pytest.raises(NoSuchReply, match=r"^no reply 998, 999$"):
        moderation.decide([*all_ids, 999, 998], APPROVED, actor="ana")
    with pytest.raises(DecidedMeanwhile) as refused:
        moderation.decide(all_ids, APPROVED, actor="ana", seen=dict.fromkeys(all_ids, 1))
    assert [c.id for c in refused.value.replies] == [by_remote["3"]]
    assert {c.remote_id: c.state for c in store.find(limit=None)} == {
        "1": "pending",
        "2": "pending",
        "3": "flagged",
        "4": "pending",
        "5": "pending",
    }
    assert AcknowledgementQueue(store.engine, "t").entries() == []
    decided = moderation.decide(all_ids, APPROVED, actor="ana", reason="ok").comments
    assert [(c.id, c.state, c.version) for c in decided] == [
        (i, "approved", 3 if i == by_remote["3"] else 2) for i in all_ids
    ]
    assert {c.state for c in store.find(limit=None)} == {"approved"}
    assert len(AcknowledgementQueue(store.engine, "t").entries()) == 5


@pytest.mark.slow
def test_a_big_bulk_decision_goes_through_in_one_piece(
    store: CommentStore, moderation: ModerationService
) -> None:
    save(store, *(reply(str(i), author=str(i % 7)) for i in range(1200)))
    all_ids = sorted(ids(store).values())
    decided = moderation.decide(
        all_ids, REJECTED, actor="ana", reason_code="spam", seen=dict.fromkeys(all_ids, 1)
    ).comments
    assert len(decided) == 1200
    assert moderation.counts()[REJECTED] == 1200


def test_two_moderators_deciding_the_same_replies_at_once_one_wins(engine: Engine) -> None:
    """Each in its own process's engine: the second waits for the first, then sees that the
    replies moved on, and decides nothing."""
    store = CommentStore(engine)
    save(store, *(reply(str(i), author=str(i)) for i in range(50)))
    all_ids = sorted(ids(store).values())
    outcomes: dict[str, str] = {}
    start = threading.Barrier(2)

    def moderate(name: str, state: CommentState) -> None:
        own = database.create(engine.url.render_as_string(hide_password=False))
        service = ModerationService(CommentStore(own), SimulatedClock(NOW))
        start.wait()
        try:
            code = "spam" if state == REJECTED else None
            service.decide(all_ids, state, actor=name, reason_code=code, seen=dict.fromkeys(all_ids, 1))
            outcomes[name] = "decided"
        except DecidedMeanwhile:
            outcomes[name] = "refused"
        finally:
            own.dispose()

    threads = [
        threading.Thread(target=moderate, args=("ana", APPROVED)),
        threading.Thread(target=moderate, args=("bob", REJECTED)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["decided", "refused"]
    winner = next(name for name, outcome in outcomes.items() if outcome == "decided")
    assert {(c.decided_by, c.version) for c in store.find(limit=None)} == {(winner, 2)}


def test_a_decision_needs_a_moderator(moderation: ModerationService, store: CommentStore) -> None:
    save(store, reply("1"))
    with pytest.raises(InvalidRequest, match="needs the moderator's name"):
        moderation.decide(list(ids(store).values()), APPROVED, actor="  ")
    with pytest.raises(InvalidRequest, match="at most 200 characters"):
        moderation.decide(list(ids(store).values()), APPROVED, actor="a" * 201)
    assert store.find()[0].state == "pending"


def test_an_edit_after_a_decision_goes_back_to_review_and_a_flagged_one_stays() -> None:
    approved = "edited after it was approved"
    assert after_edit("approved", ()) == Verdict(FLAGGED, approved, approved)
    rejected = "edited after it was rejected"
    assert after_edit("rejected", ("contains a link",)) == Verdict(
        FLAGGED, f"{rejected}; contains a link", rejected
    )
    assert after_edit("pending", ("contains a link",)) == Verdict(
        FLAGGED, "contains a link", "contains a link"
    )
    assert after_edit("pending", ()) is None
    assert after_edit("flagged", ("contains a link",)) is None


# -- the queue -------------------------------------------------------------------------


def test_pages_follow_a_stable_cursor_oldest_first(
    store: CommentStore, moderation: ModerationService
) -> None:
    save(store, *(reply(str(i), author=str(i), minutes=i) for i in range(1, 8)))
    first = moderation.page(limit=3)
    assert ([c.remote_id for c in first.comments], first.total) == (["1", "2", "3"], 7)
    save(store, reply("8", author="8", minutes=8))  # arrives while the moderator reads
    moderation.decide([first.comments[0].id], APPROVED, actor="ana")
    second = moderation.page(after=first.next, limit=3)
    assert ([c.remote_id for c in second.comments], second.total) == (["4", "5", "6"], 8)
    last = moderation.page(after=second.next, limit=3)
    assert ([c.remote_id for c in last.comments], last.next) == (["7", "8"], None)
    newest = moderation.page(limit=3, newest_first=True)
    assert [c.remote_id for c in newest.comments] == ["8", "7", "6"]
    assert [c.remote_id for c in moderation.page(after=newest.next, limit=3, newest_first=True).comments] == [
        "5",
        "4",
        "3",
    ]
    pending = CommentQuery(states=("pending",))
    assert [c.remote_id for c in moderation.page(pending, limit=2).comments] == ["2", "3"]
    everything = moderation.page(limit=None)
    assert (len(everything.comments), everything.total, everything.next) == (8, 8, None)


def test_filters_narrow_the_queue(engine: Engine, store: CommentStore, moderation: ModerationService) -> None:
    save(
        store,
        reply("1", "Le gouvernement ouvert", author="ana", minutes=0, language="fr-CA"),
        reply("2", "Open government", author="bob", minutes=10, language="en"),
        reply(
            "-1:3", "Gouvernement, encore", network=Network.TELEGRAM, author="42", minutes=20, language="fr"
        ),
    )
    save(store, reply("4", "Autre campagne", author="ana", minutes=30), campaign="autre")

    def remote_ids(**criteria: object) -> list[str]:
        return [c.remote_id for c in moderation.page(CommentQuery(**criteria)).comments]  # type: ignore[arg-type]

    assert remote_ids(network="telegram") == ["-1:3"]
    assert remote_ids(language="fr") == ["1", "-1:3"]
    assert remote_ids(language="f%") == []  # no pattern from the user
    assert remote_ids(author="@userana@example.org") == ["1", "4"]
    assert remote_ids(author="42") == ["-1:3"]
    assert remote_ids(campaign="autre") == ["4"]
    assert remote_ids(since=NOW + timedelta(minutes=10), until=NOW + timedelta(minutes=30)) == ["2", "-1:3"]
    assert remote_ids(search="gouvernement") == ["1", "-1:3"]
    assert remote_ids(search="gouvernement", network="mastodon") == ["1"]
    assert remote_ids(search="!!!") == []
    searched = moderation.page(CommentQuery(search="gouvernement"), limit=1)
    assert (searched.total, [c.remote_id for c in searched.comments]) == (2, ["1"])
    rest = moderation.page(CommentQuery(search="gouvernement"), after=searched.next, limit=1)
    assert ([c.remote_id for c in rest.comments], rest.next) == (["-1:3"], None)
    with pytest.raises(InvalidRequest, match="date range is empty"):
        moderation.page(CommentQuery(since=NOW, until=NOW))
    with pytest.raises(InvalidRequest, match="at least one reply"):
        moderation.page(limit=0)


def test_counts_per_state_for_the_tabs(store: CommentStore, moderation: ModerationService) -> None:
    save(store, *(reply(str(i), author=str(i)) for i in range(4)))
    save(store, reply("9", "Autre", author="9"), campaign="autre")
    by_remote = ids(store)
    moderation.decide([by_remote["0"]], APPROVED, actor="ana")
    moderation.decide([by_remote["1"]], REJECTED, actor="ana", reason_code="off_topic")
    assert moderation.counts() == {PENDING: 3, APPROVED: 1, REJECTED: 1, FLAGGED: 0}
    # the tabs of a filtered queue: its own state set aside
    assert moderation.counts(CommentQuery(states=("pending",), campaign="c")) == {
        PENDING: 2,
        APPROVED: 1,
        REJECTED: 1,
        FLAGGED: 0,
    }


# -- one reply -------------------------------------------------------------------------


def test_a_reply_is_shown_with_what_it_answers_and_its_history(
    engine: Engine, store: CommentStore, moderation: ModerationService
) -> None:
    masto = Channel("masto", Network.MASTODON)
    post = Publication(
        campaign="c",
        id="annonce",
        channel=masto,
        at=NOW,
        timezone=ZoneInfo("UTC"),
        text="x",
        length=1,
        limit=500,
        language="fr",
    )
    ledger = Ledger(engine, "me")
    ledger.sync([post], NOW)
    ledger.claim([post.key], NOW)
    ledger.finish(
        post.key, PublicationState.PUBLISHED, NOW, remote_id="100", remote_url="https://m.example/100"
    )
    save(store, reply("1", in_reply_to="100"), publication=post.key)
    save(store, reply("2", "Je réponds à 1", author="2", in_reply_to="1"), publication=post.key)
    by_remote = ids(store)
    moderation.decide([by_remote["2"]], FLAGGED, actor="ana", reason="à voir")
    shown = moderation.show(by_remote["2"])
    assert (shown.comment.remote_id, shown.comment.state, shown.comment.version) == ("2", "flagged", 2)
    assert shown.answers is not None
    assert (shown.answers.key, shown.answers.remote_url) == ("c/annonce/masto", "https://m.example/100")
    assert shown.parent is not None
    assert shown.parent.remote_id == "1"
    assert [(e.kind, e.actor, e.reason) for e in shown.history] == [
        ("collected", "relais", None),
        ("flagged", "ana", "à voir"),
    ]
    first = moderation.show(by_remote["1"])
    assert first.parent is None
    with pytest.raises(NoSuchReply, match=r"^no reply 999$"):
        moderation.show(999)


# -- the store's migration ---------------------------------------------------------------


def test_replies_stored_before_versions_start_at_one_and_stay_searchable(database_url: str) -> None:
    from alembic import command

    engine = database.create(database_url)
    config = database._alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        connection.execute(
            text(
                "INSERT INTO comments (network, remote_id, author_id, author_handle, author_name, "
                "author_nobot, text, hashtags, private, created_at, collected_at, state) VALUES "
                "('mastodon', '1', 'a', '@a', 'A', false, 'Gouvernement ouvert', '', false, "
                ":at, :at, 'pending')"
            ),
            {"at": NOW.replace(tzinfo=None)},
        )
    database.upgrade(engine)
    store = CommentStore(engine)
    [old] = store.find(CommentQuery(search="gouvernement"))
    assert old.version == 1
    save(store, reply("1", "Données ouvertes", author="a", edited_at=NOW))
    assert [c.version for c in store.find(CommentQuery(search="ouvertes"))] == [2]
    assert store.find(CommentQuery(search="gouvernement")) == []
    engine.dispose()

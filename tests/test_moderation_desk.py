"""The moderation service as the desk and the CLI use it, on SQLite and PostgreSQL:
filters by reason and moderator, decisions on a filter, colleagues' decisions, reason
codes, undo, the decision history and the author view."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bot.clock import SimulatedClock
from bot.domain import CommentState
from bot.services.moderation import (
    CommentQuery,
    DecidedMeanwhile,
    InvalidRequest,
    MatchChanged,
    ModerationService,
    NoSuchDecision,
    Overturning,
    ReasonCode,
)
from bot.store.acknowledgements import AcknowledgementQueue
from bot.store.comments import Collected, CommentStore
from tests.data import Network
from tests.test_moderation import NOW, ids, reply, save

APPROVED, REJECTED, FLAGGED, PENDING = (
    CommentState.APPROVED,
    CommentState.REJECTED,
    CommentState.FLAGGED,
    CommentState.PENDING,
)


@pytest.fixture
def store(engine: Engine) -> CommentStore:
    return CommentStore(engine)


@pytest.fixture
def moderation(store: CommentStore) -> ModerationService:
    return ModerationService(store, SimulatedClock(NOW))


def states(store: CommentStore) -> dict[str, str]:
    return {c.remote_id: c.state for c in store.find(limit=None)}


def acknowledged(store: CommentStore) -> list[int]:
    return sorted(e.comment_id for e in AcknowledgementQueue(store.engine, "t").entries())


def test_the_queue_filters_by_reason_code_and_moderator(
    store: CommentStore, moderation: ModerationService
) -> None:
    save(store, reply("1", "Voir https://spam.example", author="1"), reply("2", author="2"))
    store.save_page(
        None, None, [Collected(reply("3", "Casino", author="3"), "c", None, ("contains a link",))], now=NOW
    )
    by_remote = ids(store)
    moderation.decide([by_remote["1"]], REJECTED, actor="ana", reason_code="spam", reason="pub")
    moderation.decide([by_remote["2"]], FLAGGED, actor="bob", reason="Données PERSONNELLES?")

    def remote_ids(**criteria: object) -> list[str]:
        return [c.remote_id for c in moderation.page(CommentQuery(**criteria)).comments]  # type: ignore[arg-type]

    assert remote_ids(reason="link") == ["3"]
    assert remote_ids(reason="personnelles") == ["2"]
    assert remote_ids(reason="%") == []  # no pattern from the user
    assert remote_ids(reason_code="spam") == ["1"]
    assert remote_ids(decided_by="bob") == ["2"]
    assert remote_ids(decided_by="relais") == ["3"]
    flagged = CommentQuery(states=("flagged",), decided_by="bob")
    assert moderation.counts(flagged) == {PENDING: 0, APPROVED: 0, REJECTED: 0, FLAGGED: 1}
    with pytest.raises(InvalidRequest, match="no reason code 'rude': spam, off_topic, abusive"):
        moderation.page(CommentQuery(reason_code="rude"))


def test_a_rejection_takes_a_reason_code_from_the_list(
    store: CommentStore, moderation: ModerationService
) -> None:
    save(store, reply("1"))
    [only] = ids(store).values()
    with pytest.raises(InvalidRequest, match=r"^a rejection needs a reason code: spam, off_topic, abusive, "):
        moderation.decide([only], REJECTED, actor="ana")
    with pytest.raises(InvalidRequest, match="no reason code 'rude'"):
        moderation.decide([only], REJECTED, actor="ana", reason_code="rude")
    with pytest.raises(InvalidRequest, match="only a rejection takes a reason code"):
        moderation.decide([only], APPROVED, actor="ana", reason_code="spam")
    with pytest.raises(InvalidRequest, match="Relais's own name"):
        moderation.decide([only], APPROVED, actor="relais")
    assert [c.version for c in store.find()] == [1]  # nothing was recorded
    decision = moderation.decide(
        [only], REJECTED, actor="ana", reason_code=ReasonCode.PERSONAL_INFORMATION, reason="un numéro"
    )
    assert (decision.state, decision.reason_code, decision.reason) == (
        "rejected",
        "personal_information",
        "un numéro",
    )
    [c] = store.find()
    assert (c.state, c.reason_code, c.reason, c.decided_by) == (
        "rejected",
        "personal_information",
        "un numéro",
        "ana",
    )
    # back to review, by the same moderator: no reason code is left behind
    moderation.decide([only], PENDING, actor="ana")
    [c] = store.find()
    assert (c.state, c.reason_code, c.reason) == ("pending", None, None)


def test_overturning_a_colleague_needs_force_and_says_whose(
    store: CommentStore, moderation: ModerationService
) -> None:
    save(store, *(reply(str(i), author=str(i)) for i in range(1, 5)))
    by_remote = ids(store)
    moderation.decide([by_remote["1"]], REJECTED, actor="bob", reason_code="abusive")
    moderation.decide([by_remote["2"]], APPROVED, actor="bob")
    moderation.decide([by_remote["3"]], FLAGGED, actor="bob", reason="à voir")
    everything = sorted(by_remote.values())
    with pytest.raises(Overturning) as refused:
        moderation.decide(everything, PENDING, actor="ana")
    assert [(c.id, c.state, c.decided_by) for c in refused.value.replies] == [
        (by_remote["1"], "rejected", "bob"),
        (by_remote["2"], "approved", "bob"),
    ]
    assert str(refused.value).startswith(
        f"a colleague decided it: reply {by_remote['1']} is rejected by bob at "
    )
    assert states(store) == {"1": "rejected", "2": "approved", "3": "flagged", "4": "pending"}
    # the same decision again is no overturning; a flag asks for exactly this decision
    moderation.decide([by_remote["2"], by_remote["3"], by_remote["4"]], APPROVED, actor="ana")
    assert states(store)["3"] == "approved"
    # bob may overturn his own decision
    moderation.decide([by_remote["1"]], APPROVED, actor="bob")
    done = moderation.decide(everything, PENDING, actor="ana", force=True)
    assert [c.state for c in done.comments] == ["pending"] * 4
    assert states(store) == dict.fromkeys("1234", "pending")


def test_all_matching_a_filter_is_decided_at_once_or_not_at_all(
    store: CommentStore, moderation: ModerationService
) -> None:
    save(store, *(reply(str(i), f"Casino {i}" if i % 2 else f"Bravo {i}", author=str(i)) for i in range(10)))
    casino = CommentQuery(states=("pending",), search="casino")
    assert moderation.page(casino).total == 5
    save(store, reply("11", "Casino 11", author="11"))  # arrives after the moderator counted 5
    with pytest.raises(MatchChanged, match="the filter now selects 6 replies, not the 5 you saw"):
        moderation.decide_matching(casino, REJECTED, actor="ana", reason_code="spam", expected=5)
    assert set(states(store).values()) == {"pending"}
    bob_approved = ids(store)["1"]
    moderation.decide([bob_approved], APPROVED, actor="bob")
    everything = CommentQuery(search="casino")
    with pytest.raises(Overturning):  # one of them is bob's approval: nothing is decided
        moderation.decide_matching(everything, REJECTED, actor="ana", reason_code="spam", expected=6)
    assert sorted(states(store).values()).count("rejected") == 0
    decision = moderation.decide_matching(casino, REJECTED, actor="ana", reason_code="spam", expected=5)
    assert sorted(c.remote_id for c in decision.comments) == ["11", "3", "5", "7", "9"]
    assert moderation.counts(everything) == {PENDING: 0, APPROVED: 1, REJECTED: 5, FLAGGED: 0}
    with pytest.raises(InvalidRequest, match="no reply matches this filter"):
        moderation.decide_matching(casino, REJECTED, actor="ana", reason_code="spam")


def test_undo_puts_back_what_each_reply_had(store: CommentStore, moderation: ModerationService) -> None:
    save(store, *(reply(str(i), author=str(i)) for i in range(1, 4)))
    by_remote = ids(store)
    first = moderation.decide([by_remote["1"]], FLAGGED, actor="ana", reason="à voir")
    second = moderation.decide(sorted(by_remote.values()), REJECTED, actor="ana", reason_code="spam")
    assert states(store) == dict.fromkeys("123", "rejected")
    undone = moderation.undo_last("ana")
    assert (undone.undoes, undone.state) == (second.id, "undo")
    assert states(store) == {"1": "flagged", "2": "pending", "3": "pending"}
    [c1] = [c for c in store.find(limit=None) if c.remote_id == "1"]
    assert (c1.reason, c1.decided_by, c1.reason_code) == ("à voir", "ana", None)
    found = store.get(c1.id)
    assert found is not None
    assert [(e.kind, e.actor, e.decision, e.undoes) for e in found[1]] == [
        ("collected", "relais", None, None),
        ("flagged", "ana", first.id, None),
        ("rejected", "ana", second.id, None),
        ("flagged", "ana", undone.id, second.id),
    ]
    again = moderation.undo_last("ana")  # one further back: the flag
    assert again.undoes == first.id
    assert states(store) == dict.fromkeys("123", "pending")
    with pytest.raises(NoSuchDecision, match=r"^ana has no decision left to undo$"):
        moderation.undo_last("ana")
    with pytest.raises(InvalidRequest, match=f"decision {second.id} was already undone"):
        moderation.undo(second.id, actor="bob")
    with pytest.raises(NoSuchDecision, match=r"^no decision 999$"):
        moderation.undo(999, actor="bob")
    history = moderation.decisions()
    assert [(d.id, d.state, d.undoes, d.undone_by) for d in history] == [
        (again.id, "undo", first.id, None),
        (undone.id, "undo", second.id, None),
        (second.id, "rejected", None, undone.id),
        (first.id, "flagged", None, again.id),
    ]
    assert [d.id for d in moderation.decisions(before=undone.id, limit=1)] == [second.id]


def test_undo_from_the_history_is_refused_once_a_reply_moved_on(
    store: CommentStore, moderation: ModerationService
) -> None:
    save(store, reply("1", author="1"), reply("2", author="2"))
    by_remote = ids(store)
    approval = moderation.decide(sorted(by_remote.values()), APPROVED, actor="ana")
    assert acknowledged(store) == sorted(by_remote.values())
    moderation.decide([by_remote["2"]], FLAGGED, actor="bob", reason="à revoir", force=True)
    with pytest.raises(DecidedMeanwhile, match=f"reply {by_remote['2']} is flagged by bob"):
        moderation.undo(approval.id, actor="carole")
    assert states(store) == {"1": "approved", "2": "flagged"}
    undone = moderation.undo(approval.id, actor="carole", force=True)
    assert states(store) == {"1": "pending", "2": "pending"}
    assert undone.actor == "carole"
    moderation.undo(undone.id, actor="carole")  # undoing the undo puts back what it replaced
    assert states(store) == {"1": "approved", "2": "flagged"}


def test_an_approval_queues_the_acknowledgement_only_where_the_campaign_asks(
    store: CommentStore,
) -> None:
    save(store, reply("1", author="1"), campaign="merci")
    save(store, reply("2", author="2"), campaign="silence")
    service = ModerationService(store, SimulatedClock(NOW), acknowledges=lambda campaign: campaign == "merci")
    service.decide(sorted(ids(store).values()), APPROVED, actor="ana")
    assert acknowledged(store) == [ids(store)["1"]]


def test_the_author_view_gathers_every_reply_across_campaigns(
    store: CommentStore, moderation: ModerationService
) -> None:
    save(store, reply("1", "Casino", author="7", minutes=0), reply("2", author="8"))
    save(store, reply("3", "Casino encore", author="7", minutes=5), campaign="autre")
    save(store, reply("-1:4", network=Network.TELEGRAM, author="7", minutes=9))
    by_remote = ids(store)
    moderation.decide([by_remote["1"]], REJECTED, actor="ana", reason_code="spam")
    view = moderation.author("mastodon", "@user7@example.org")
    assert [c.remote_id for c in view.comments] == ["3", "1"]  # newest first, this network only
    assert (view.total, view.name) == (2, "User 7")
    assert (view.counts[REJECTED], view.counts[PENDING]) == (1, 1)
    assert [e.kind for e in view.histories[by_remote["1"]]] == ["collected", "rejected"]
    assert moderation.author("mastodon", "7").total == 2  # the network's id of the author
    assert moderation.author("mastodon", "@nobody@example.org").comments == []


def test_a_page_keeps_its_place_newest_first_while_replies_arrive(
    store: CommentStore, moderation: ModerationService
) -> None:
    save(store, *(reply(str(i), author=str(i), minutes=i) for i in range(1, 6)))
    first = moderation.page(limit=2, newest_first=True)
    save(store, reply("6", author="6", minutes=6))
    rest = moderation.page(after=first.next, limit=10, newest_first=True)
    assert [c.remote_id for c in first.comments + rest.comments] == ["5", "4", "3", "2", "1"]
    assert NOW + timedelta(minutes=6) == moderation.page(limit=1, newest_first=True).comments[0].created_at


def test_the_queue_gives_a_page_its_total_and_the_tabs_at_once(
    store: CommentStore, moderation: ModerationService
) -> None:
    save(store, *(reply(str(i), f"Casino {i}" if i % 2 else "Bravo", author=str(i)) for i in range(7)))
    moderation.decide([ids(store)["1"]], APPROVED, actor="ana")
    pending = CommentQuery(states=("pending",), search="casino")
    first = moderation.queue(pending, limit=1)
    assert ([c.remote_id for c in first.page.comments], first.page.total) == (["3"], 2)
    assert first.counts == {PENDING: 2, APPROVED: 1, REJECTED: 0, FLAGGED: 0}
    rest = moderation.queue(pending, after=first.page.next, limit=1)
    assert ([c.remote_id for c in rest.page.comments], rest.page.next) == (["5"], None)
    everything = moderation.queue(newest_first=True)
    assert (everything.page.total, everything.page.comments[0].remote_id) == (7, "6")
    assert moderation.queue(CommentQuery(search="!!!")).page.total == 0


def test_the_documents_give_times_in_the_campaign_zone_and_text_as_written(
    store: CommentStore, moderation: ModerationService
) -> None:
    import json
    from zoneinfo import ZoneInfo

    from bot.services import documents

    hostile = "<script>alert(1)</script> \u202eevil\u200b {{ 7*7 }}"
    save(store, reply("1", hostile, author="1"), reply("2", author="2"))
    montreal = ZoneInfo("America/Montreal")

    def zones(campaign: str | None) -> ZoneInfo:
        return montreal if campaign == "c" else ZoneInfo("UTC")

    queue = documents.queue_document(moderation.queue(limit=1), zones=zones)
    assert (queue["shown"], queue["total"], queue["order"]) == (1, 2, "oldest")
    assert queue["next"] == queue["comments"][0]["id"]
    assert queue["counts"] == {"pending": 2, "approved": 0, "rejected": 0, "flagged": 0}
    [item] = queue["comments"]
    assert (item["text"], item["created"], item["timezone"]) == (
        hostile,
        "2012-05-02T14:00:00-04:00",
        "America/Montreal",
    )
    decided = moderation.decide([item["id"]], REJECTED, actor="bob", reason_code="abusive", reason="<b>")
    document = documents.decision_document(decided, zones)
    assert {k: document[k] for k in ("decision", "state", "actor", "reason_code", "reason", "count")} == {  # type: ignore[literal-required]
        "decision": decided.id,
        "state": "rejected",
        "actor": "bob",
        "reason_code": "abusive",
        "reason": "<b>",
        "count": 1,
    }
    with pytest.raises(Overturning) as refused:
        moderation.decide([item["id"]], APPROVED, actor="ana")
    conflict = documents.conflict_document(refused.value)
    assert (conflict["error"], [c["decided_by"] for c in conflict["comments"]]) == ("overturning", ["bob"])
    author = documents.author_document(moderation.author("mastodon", "@user1@example.org"), zones)
    assert [e["kind"] for e in author["replies"][0]["history"]] == ["collected", "rejected"]
    assert author["replies"][0]["history"][1]["decision"] == decided.id
    history = documents.decisions_document(moderation.decisions())
    assert [(d["id"], d["state"], d["count"]) for d in history["decisions"]] == [(decided.id, "rejected", 1)]
    assert json.loads(json.dumps(author, ensure_ascii=False))["replies"][0]["comment"]["text"] == hostile


def test_no_reply_text_or_author_name_in_a_log_line(
    store: CommentStore, moderation: ModerationService, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    save(store, reply("1", "Texte secret", author="1"))
    [only] = ids(store).values()
    decision = moderation.decide([only], APPROVED, actor="ana")
    moderation.undo(decision.id, actor="ana")
    moderation.decide_matching(CommentQuery(search="secret"), FLAGGED, actor="ana")
    moderation.author("mastodon", "@user1@example.org")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert ("Texte secret" in logged, "User 1" in logged, "@user1" in logged) == (False, False, False)


@pytest.mark.parametrize("dense_from", [0, 5_000], ids=["words-in-most-replies", "words-in-few"])
def test_a_search_is_counted_alike_however_common_its_words(
    store: CommentStore, moderation: ModerationService, dense_from: int
) -> None:
    store.dense_from = dense_from  # past it, a count reads each reply's state, not each match
    save(store, *(reply(str(i), "Casino" if i % 3 else "Bravo", author=str(i)) for i in range(9)))
    found = ids(store)
    moderation.decide([found["1"], found["2"]], REJECTED, actor="ana", reason_code="spam")
    casino = CommentQuery(search="casino")
    assert moderation.counts(casino) == {PENDING: 4, APPROVED: 0, REJECTED: 2, FLAGGED: 0}
    pending = moderation.queue(CommentQuery(search="casino", states=("pending",)))
    assert (pending.page.total, len(pending.page.comments)) == (4, 4)
    assert moderation.page(CommentQuery(search="casino", states=("rejected",))).total == 2


def test_what_no_store_can_hold_never_fails_a_decision_or_a_filter(
    store: CommentStore, moderation: ModerationService
) -> None:
    save(store, reply("1", author="1"))
    [only] = ids(store).values()
    decision = moderation.decide([only], FLAGGED, actor="ana\x00", reason="à voir\x00\ud800")
    assert (decision.actor, decision.reason) == ("ana\ufffd", "à voir\ufffd\ufffd")
    [c] = store.find()
    assert (c.reason, c.decided_by) == ("à voir\ufffd\ufffd", "ana\ufffd")
    for criteria in (
        {"author": "x\x00"},
        {"campaign": "\ud800"},
        {"reason": "zz\x00"},
        {"decided_by": "\x00"},
    ):
        assert moderation.queue(CommentQuery(**criteria)).page.total == 0  # type: ignore[arg-type]

"""``ModerationService.queue``: a page and the counts of its tabs, counted once."""

from __future__ import annotations

from sqlalchemy import Engine

from bot.clock import SimulatedClock
from bot.domain import CommentState
from bot.services.moderation import CommentQuery, ModerationService
from bot.store.comments import CommentStore
from tests.webdesk import NOW, add_replies, reply


def test_the_queue_is_the_page_and_the_counts(engine: Engine) -> None:
    add_replies(engine, [reply(n, "rapport" if n % 3 else "autre") for n in range(1, 40)])
    service = ModerationService(CommentStore(engine), SimulatedClock(NOW))
    service.decide([1, 2], CommentState.APPROVED, actor="ana")
    for query in (
        CommentQuery(),
        CommentQuery(states=("pending",), search="rapport"),
        CommentQuery(states=("approved", "pending")),
        CommentQuery(states=("rejected",)),
    ):
        for after in (None, 5):
            shown = service.queue(query, after=after, limit=10)
            assert shown.page == service.page(query, after=after, limit=10)
            assert shown.counts == service.counts(query)

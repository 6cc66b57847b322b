"""The moderators' decisions, one row each (table ``decisions``), read back for the
history and for undoing one.

A decision is written with the replies it decides, in their transaction
(``bot.store.comments.Decisions``); each reply's event keeps the moderation the decision
replaced and the version it made, which is what an undo needs (``Change``). An undo is a
decision too: its ``state`` is ``undo``, ``undoes`` names the one it undid, and that one
is marked ``undone_by``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from bot.store.schema import comment_events, decisions

UNDO = "undo"  # the state of a decision that undid another


@dataclass(frozen=True)
class DecisionRow:
    id: int
    at: datetime
    actor: str
    state: str  # what it made the replies, or "undo"
    reason_code: str | None
    reason: str | None
    count: int  # how many replies it decided
    undoes: int | None
    undone_by: int | None
    undone_at: datetime | None


@dataclass(frozen=True)
class Change:
    """What a decision did to one reply: the moderation and version it made, and the
    moderation it replaced."""

    comment_id: int
    version: int
    state: str
    reason: str | None
    reason_code: str | None
    decided_by: str
    decided_at: datetime
    previous_state: str
    previous_reason: str | None
    previous_reason_code: str | None
    previous_decided_by: str | None
    previous_decided_at: datetime | None

    def stands(
        self, state: str, reason: str | None, code: str | None, by: str | None, at: datetime | None
    ) -> bool:
        """Whether a reply's moderation is still what this decision made it (an undo of a
        later decision puts exactly that back)."""
        return (state, reason, code, by, at) == (
            self.state,
            self.reason,
            self.reason_code,
            self.decided_by,
            self.decided_at,
        )


DECISION_COLUMNS = [decisions.c[name] for name in DecisionRow.__dataclass_fields__]
_CHANGE_COLUMNS = [
    comment_events.c.comment_id,
    comment_events.c.version,
    comment_events.c.kind,
    comment_events.c.reason,
    comment_events.c.reason_code,
    comment_events.c.actor,
    comment_events.c.at,
    comment_events.c.previous_state,
    comment_events.c.previous_reason,
    comment_events.c.previous_reason_code,
    comment_events.c.previous_decided_by,
    comment_events.c.previous_decided_at,
]


class DecisionLog:
    """Reads the decisions (writing them is ``CommentStore.deciding``'s)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, decision_id: int) -> DecisionRow | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(*DECISION_COLUMNS).where(decisions.c.id == decision_id)).first()
        return None if row is None else DecisionRow(*row)

    def last(self, actor: str) -> DecisionRow | None:
        """``actor``'s latest decision that is neither undone nor an undo: what "undo"
        undoes, going back one decision at each press."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(*DECISION_COLUMNS)
                .where(
                    decisions.c.actor == actor, decisions.c.undone_by.is_(None), decisions.c.undoes.is_(None)
                )
                .order_by(decisions.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else DecisionRow(*row)

    def history(
        self, *, actor: str | None = None, before: int | None = None, limit: int = 50
    ) -> list[DecisionRow]:
        """The decisions, newest first (``actor``'s only, if given), from the one before the
        cursor ``before`` (an id)."""
        statement = select(*DECISION_COLUMNS).order_by(decisions.c.id.desc()).limit(limit)
        if actor is not None:
            statement = statement.where(decisions.c.actor == actor)
        if before is not None:
            statement = statement.where(decisions.c.id < before)
        with self.engine.connect() as connection:
            return [DecisionRow(*row) for row in connection.execute(statement).all()]

    def changes(self, decision_id: int) -> list[Change]:
        """What ``decision_id`` did to each reply still stored, by reply id."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(*_CHANGE_COLUMNS)
                .where(comment_events.c.decision_id == decision_id)
                .order_by(comment_events.c.comment_id)
            ).all()
        return [Change(*row) for row in rows]

"""The comment store: collected replies, their moderation, and the collectors' positions.

A reply is stored once per (network, remote id), ever; what a collector read and its new
position are written in one transaction (``save_page``), so a crash can neither skip nor
double a reply. An item the store refuses is set aside, by its id, rather than holding the
position back for ever (table ``set_aside``, counted by ``relais status``). Searching uses
FTS5 on SQLite and a ``tsvector`` on PostgreSQL.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    FromClause,
    Select,
    and_,
    bindparam,
    column,
    delete,
    func,
    insert,
    or_,
    select,
    table,
    text,
    update,
)

from bot.domain import CommentQuery, CommentState, ForwardLink, PublicationState, Removal, Reply, storable
from bot.store.acknowledgements import enqueue as enqueue_acknowledgements
from bot.store.database import refused
from bot.store.decisions import DECISION_COLUMNS, UNDO, Change, DecisionRow
from bot.store.records import READ, SET_ASIDE_SHOWN, SetAside
from bot.store.schema import (
    UTCDateTime,
    collector_positions,
    comment_events,
    comments,
    decisions,
    publications,
    remote_links,
    set_aside,
)

log = logging.getLogger(__name__)
SYSTEM_ACTOR = "relais"
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Collected:
    """A reply the collector decided to keep, with what it found out about it."""

    reply: Reply
    campaign: str | None
    publication_key: str | None  # the key of the publication it answers
    flags: tuple[str, ...] = ()  # why it is held for review, if it is
    update_only: bool = False  # an edit that no longer qualifies: update a stored reply, add nothing


@dataclass
class SaveResult:
    new: list[Collected] = field(default_factory=list)
    edited: int = 0
    removed: int = 0
    set_aside: int = 0  # items the store refused (see ``CommentStore.save_page``)


@dataclass(frozen=True)
class Comment:
    id: int
    network: str
    remote_id: str
    campaign: str | None
    publication_key: str | None
    in_reply_to: str | None
    url: str | None
    author_id: str
    author_handle: str
    author_name: str
    author_nobot: bool
    text: str
    language: str | None
    hashtags: str
    private: bool
    created_at: datetime
    collected_at: datetime
    edited_at: datetime | None
    state: str
    reason: str | None
    reason_code: str | None  # a rejection's, from a short fixed list
    decided_by: str | None
    decided_at: datetime | None
    acknowledged_at: datetime | None
    checked_at: datetime | None
    version: int  # counted up by each decision and each edit


@dataclass(frozen=True)
class Verdict:
    """What the store writes when an edit changes a reply's moderation."""

    state: CommentState
    reason: str  # kept on the reply
    event_reason: str  # written in its history


# What an author's edit does to a reply's moderation, given its state and the reasons the
# new text gives to hold it: the rule is the moderation service's (``after_edit``); None
# leaves the decision as it is.
EditRule = Callable[[str, tuple[str, ...]], Verdict | None]


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str
    actor: str
    reason: str | None
    previous_text: str | None
    reason_code: str | None = None
    decision: int | None = None  # the moderator's decision it belongs to (None: not undoable)
    undoes: int | None = None  # that decision undid this other one


_COLUMNS = [comments.c[name] for name in Comment.__dataclass_fields__]
_FTS = table("comments_fts", column("rowid"))  # SQLite's full-text index (see migration 0002)


class CommentStore:
    dense_from = 5_000  # matches past which a count of a search reads the state index (``_dense``)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    # -- collectors ------------------------------------------------------------------

    def position(self, name: str) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(
                select(collector_positions.c.position).where(collector_positions.c.name == name)
            ).scalar()

    def positions(self) -> dict[str, tuple[str, datetime]]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(collector_positions)).all()
        return {r.name: (r.position, r.updated_at) for r in rows}

    def set_aside_count(self) -> dict[str, int]:
        """How many items each network's collectors set aside (see ``save_page``)."""
        with self.engine.connect() as connection:
            counted = select(set_aside.c.network, func.count()).group_by(set_aside.c.network)
            return dict(connection.execute(counted).all())

    def set_aside_latest(self, limit: int = SET_ASIDE_SHOWN) -> list[SetAside]:
        """The items set aside most recently: ids and why, never content."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(set_aside).order_by(set_aside.c.at.desc(), set_aside.c.id.desc()).limit(limit)
            ).all()
        return [
            {"network": r.network, "remote_id": r.remote_id, "from": r.source, "error": r.error, "at": r.at}
            for r in rows
        ]

    def save_page(
        self,
        position_name: str | None,
        cursor: str | None,
        collected: Sequence[Collected],
        removals: Sequence[Removal] = (),
        links: Sequence[ForwardLink] = (),
        *,
        now: datetime,
        origin: str | None = None,
        after_edit: EditRule | None = None,
    ) -> SaveResult:
        """Store what a collector read and its new position, all or nothing; an edit
        changes a reply's moderation as ``after_edit`` says (without it, not at all).

        Unless the store refuses one of the items (a value it cannot take: see ``refused``):
        then the page is stored again item by item, each in a savepoint, and an item still
        refused is set aside (its network, remote id, where it was read: ``origin``, or the
        position; the error's class and when; never what it says nor who said it), logged by its
        id and left out; the others are stored and the position moves on, so that one item
        cannot stop a collector. A failure of the store itself (the connection lost, a table
        missing, a deadlock) sets nothing aside: it propagates and the page is read again.
        """
        origin = (origin or position_name or "unpositioned")[:200]
        try:
            with self.engine.begin() as connection:
                result = self._store(connection, collected, removals, links, now, after_edit)
                self._advance(connection, position_name, cursor, now)
            return result
        except Exception as error:
            if not refused(error):
                raise
            log.warning(
                "the store refused part of a page read at %s (%s); storing it item by item",
                origin,
                type(error).__name__,
            )
        return self._save_each(position_name, cursor, collected, removals, links, now, origin, after_edit)

    def _save_each(
        self,
        position_name: str | None,
        cursor: str | None,
        collected: Sequence[Collected],
        removals: Sequence[Removal],
        links: Sequence[ForwardLink],
        now: datetime,
        origin: str,
        after_edit: EditRule | None,
    ) -> SaveResult:
        result = SaveResult()
        with self.engine.begin() as connection:
            if not self._postgres:  # so that the savepoints nest in it (pysqlite begins lazily)
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            store = partial(self._store, connection, now=now, after_edit=after_edit)
            steps: list[tuple[str, str, Callable[[], SaveResult]]] = [
                (str(link.network), link.remote_id, partial(store, (), (), [link])) for link in links
            ]
            steps += [
                (str(c.reply.network), c.reply.remote_id, partial(store, [c], (), ())) for c in collected
            ]
            steps += [(str(r.network), r.remote_id, partial(store, (), [r], ())) for r in removals]
            for network, remote_id, step in steps:
                try:
                    with connection.begin_nested():
                        done = step()
                except Exception as error:
                    if not refused(error):
                        raise
                    self._set_aside(connection, network, remote_id, origin, type(error).__name__, now)
                    result.set_aside += 1
                    continue
                result.new += done.new
                result.edited += done.edited
                result.removed += done.removed
            self._advance(connection, position_name, cursor, now)
        return result

    def _set_aside(
        self, connection: Connection, network: str, remote_id: str, origin: str, error: str, now: datetime
    ) -> None:
        """Record an item the store refused, by its id; a later refusal of it updates the row."""
        remote_id = storable(remote_id)[:200]
        log.warning(
            "%s %s (read at %s) was set aside: the store refused it (%s)", network, remote_id, origin, error
        )
        values = {"source": origin, "error": error[:200], "at": now}
        where = (set_aside.c.network == network, set_aside.c.remote_id == remote_id)
        if not connection.execute(update(set_aside).where(*where).values(values)).rowcount:
            connection.execute(insert(set_aside).values(network=network, remote_id=remote_id, **values))

    def _store(
        self,
        connection: Connection,
        collected: Sequence[Collected],
        removals: Sequence[Removal],
        links: Sequence[ForwardLink],
        now: datetime,
        after_edit: EditRule | None,
    ) -> SaveResult:
        result = SaveResult()
        for link in links:
            self._upsert_link(connection, link)
        existing = self._existing(connection, [(str(c.reply.network), c.reply.remote_id) for c in collected])
        new: dict[tuple[str, str], Collected] = {}
        later: list[Collected] = []  # edits, and repeats of a reply already in this page
        for item in collected:
            key = (str(item.reply.network), item.reply.remote_id)
            if key in existing or key in new:
                later.append(item)
            elif not item.update_only:
                new[key] = item
        existing.update(self._insert(connection, list(new.values()), now))
        result.new.extend(new.values())
        for item in later:
            key = (str(item.reply.network), item.reply.remote_id)
            existing[key] = self._tie(connection, existing[key], item)
            result.edited += self._update(connection, existing[key], item, now, after_edit)
        for removal in removals:
            result.removed += connection.execute(
                delete(comments).where(
                    comments.c.network == str(removal.network), comments.c.remote_id == removal.remote_id
                )
            ).rowcount
        return result

    def _advance(self, connection: Connection, name: str | None, cursor: str | None, now: datetime) -> None:
        if name is not None and cursor is not None:
            self._set_position(connection, name, cursor, now)

    def _tie(self, connection: Connection, old: Comment, item: Collected) -> Comment:
        """A stored reply read again now that the post it answers is known (its parent came
        later): tie it to that post."""
        if old.publication_key is not None or item.publication_key is None:
            return old
        tied = replace(old, publication_key=item.publication_key, campaign=old.campaign or item.campaign)
        connection.execute(
            update(comments)
            .where(comments.c.id == old.id)
            .values(publication_key=tied.publication_key, campaign=tied.campaign)
        )
        return tied

    def _existing(
        self, connection: Connection, keys: list[tuple[str, str]]
    ) -> dict[tuple[str, str], Comment]:
        found: dict[tuple[str, str], Comment] = {}
        for network in {n for n, _ in keys}:
            ids = [r for n, r in keys if n == network]
            for chunk in range(0, len(ids), 500):
                rows = connection.execute(
                    select(*_COLUMNS).where(
                        comments.c.network == network, comments.c.remote_id.in_(ids[chunk : chunk + 500])
                    )
                ).all()
                found.update({(row.network, row.remote_id): Comment(*row) for row in rows})
        return found

    def _insert(
        self, connection: Connection, items: list[Collected], now: datetime
    ) -> dict[tuple[str, str], Comment]:
        """Insert new replies in one batch, with their "collected" (and "flagged") events."""
        if not items:
            return {}
        rows = [_values(item, now) for item in items]
        # One batch; the ids come back in no promised order, so they are matched by key.
        returned = connection.execute(
            insert(comments).returning(comments.c.id, comments.c.network, comments.c.remote_id), rows
        ).all()
        by_key = {(network, remote_id): comment_id for comment_id, network, remote_id in returned}
        ids = [by_key[(row["network"], row["remote_id"])] for row in rows]
        events = []
        for comment_id, item in zip(ids, items, strict=True):
            events.append(
                {
                    "comment_id": comment_id,
                    "at": now,
                    "kind": "collected",
                    "actor": SYSTEM_ACTOR,
                    "reason": None,
                }
            )
            if item.flags:
                events.append(
                    {
                        "comment_id": comment_id,
                        "at": now,
                        "kind": "flagged",
                        "actor": SYSTEM_ACTOR,
                        "reason": "; ".join(item.flags),
                    }
                )
        connection.execute(insert(comment_events), events)
        return {
            (row["network"], row["remote_id"]): Comment(id=i, **row) for i, row in zip(ids, rows, strict=True)
        }

    def _update(
        self,
        connection: Connection,
        old: Comment,
        item: Collected,
        now: datetime,
        after_edit: EditRule | None,
    ) -> int:
        """An edit: keep the previous text in the history; its moderation changes as
        ``after_edit`` says."""
        reply = item.reply
        if reply.text == old.text and reply.edited_at == old.edited_at:
            return 0
        values: dict[str, object] = {
            "text": reply.text,
            "edited_at": reply.edited_at or now,
            "hashtags": f" {' '.join(reply.hashtags)} " if reply.hashtags else "",
            "version": comments.c.version + 1,
        }
        events = [
            {
                "comment_id": old.id,
                "at": now,
                "kind": "edited",
                "actor": old.author_handle or old.author_id,
                "previous_text": old.text,
            }
        ]
        verdict = after_edit(old.state, item.flags) if after_edit else None
        if verdict is not None:
            values |= {
                "state": verdict.state.value,
                "reason": verdict.reason,
                "reason_code": None,
                "decided_by": SYSTEM_ACTOR,
                "decided_at": now,
            }
            events.append(
                {
                    "comment_id": old.id,
                    "at": now,
                    "kind": verdict.state.value,
                    "actor": SYSTEM_ACTOR,
                    "reason": verdict.event_reason,
                }
            )
        connection.execute(update(comments).where(comments.c.id == old.id).values(values))
        # executemany needs the same keys in every row
        connection.execute(
            insert(comment_events), [{"reason": None, "previous_text": None} | e for e in events]
        )
        return 1

    def _upsert_link(self, connection: Connection, link: ForwardLink) -> None:
        network = str(link.network)
        known = connection.execute(
            select(remote_links.c.original).where(
                remote_links.c.network == network, remote_links.c.remote_id == link.remote_id
            )
        ).scalar()
        if known is None:
            connection.execute(
                insert(remote_links).values(
                    network=network,
                    remote_id=link.remote_id,
                    original=link.original,
                    fingerprint=link.fingerprint,
                    posted_at=link.posted_at,
                )
            )

    def _set_position(self, connection: Connection, name: str, position: str, now: datetime) -> None:
        changed = connection.execute(
            update(collector_positions)
            .where(collector_positions.c.name == name)
            .values(position=position, updated_at=now)
        ).rowcount
        if not changed:
            connection.execute(
                insert(collector_positions).values(name=name, position=position, updated_at=now)
            )

    # -- what a reply answers --------------------------------------------------------

    def answered(self, network: str, remote_ids: Iterable[str]) -> dict[str, str]:
        """For each remote id among ``remote_ids`` that stands for a publication — a message
        Relais published, its Telegram discussion copy, or a reply already collected under
        one — the key of that publication."""
        wanted = {r for r in remote_ids if r}
        if not wanted:
            return {}
        found: dict[str, str] = {}
        with self.engine.connect() as connection:
            originals = dict(
                connection.execute(
                    select(remote_links.c.remote_id, remote_links.c.original).where(
                        remote_links.c.network == str(network), remote_links.c.remote_id.in_(wanted)
                    )
                ).all()
            )
            lookup = wanted | set(originals.values())
            published = dict(
                connection.execute(
                    select(publications.c.remote_id, publications.c.key).where(
                        publications.c.network == str(network),
                        publications.c.state == PublicationState.PUBLISHED.value,
                        publications.c.remote_id.in_(lookup),
                    )
                ).all()
            )
            parents = dict(
                connection.execute(
                    select(comments.c.remote_id, comments.c.publication_key).where(
                        comments.c.network == str(network),
                        comments.c.remote_id.in_(wanted),
                        comments.c.publication_key.is_not(None),
                    )
                ).all()
            )
        for remote_id in wanted:
            key = (
                published.get(remote_id)
                or published.get(originals.get(remote_id, ""))
                or parents.get(remote_id)
            )
            if key:
                found[remote_id] = key
        return found

    def copied_chat(self, network: str, campaign: str, channel: str) -> str | None:
        """The chat id of ``channel`` if a copy of one of its published posts was seen (its
        posts are forwarded into a discussion group the bot reads), else None."""
        with self.engine.connect() as connection:
            original = connection.execute(
                select(remote_links.c.original)
                .join(
                    publications,
                    (publications.c.remote_id == remote_links.c.original)
                    & (publications.c.network == remote_links.c.network),
                )
                .where(
                    remote_links.c.network == str(network),
                    publications.c.campaign == campaign,
                    publications.c.channel == channel,
                )
                .limit(1)
            ).scalar()
        return original.rsplit(":", 1)[0] if original else None

    def last_copy(self, network: str, chat: str, before: datetime) -> tuple[datetime, datetime | None] | None:
        """The latest post Relais published in ``chat`` that went on the wire before
        ``before``: when it went on the wire, and when its copy was posted in the discussion
        group (None: no copy of it was seen). None when there is no such post."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(publications.c.first_wire_at, remote_links.c.posted_at)
                .select_from(publications)
                .outerjoin(
                    remote_links,
                    (remote_links.c.original == publications.c.remote_id)
                    & (remote_links.c.network == publications.c.network),
                )
                .where(
                    publications.c.network == str(network),
                    publications.c.state == PublicationState.PUBLISHED.value,
                    publications.c.remote_id.startswith(f"{chat}:", autoescape=True),
                    publications.c.first_wire_at < before,
                )
                .order_by(publications.c.first_wire_at.desc(), remote_links.c.posted_at)
                .limit(1)
            ).first()
        return None if row is None else (row.first_wire_at, row.posted_at)

    def note_read(self, position: str, answered_at: datetime) -> None:
        """Record that the updates of collector ``position`` were read to the end as the
        network answered at ``answered_at``, and stored (how a send in doubt knows the
        discussion group was read after it)."""
        with self.engine.begin() as connection:
            self._set_position(connection, f"{READ}{position}", answered_at.isoformat(), answered_at)

    def read_at(self, position: str) -> datetime | None:
        """When the updates of ``position`` were last read to the end (``note_read``)."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(collector_positions.c.updated_at).where(
                    collector_positions.c.name == f"{READ}{position}"
                )
            ).scalar()

    def copy_of(self, network: str, chat: str, fingerprint: str, since: datetime) -> str | None:
        """The post (``"<chat>:<message id>"``) whose copy says ``fingerprint`` and was
        posted in ``chat`` since ``since``, and that no publication claims yet; the first."""
        claimed = select(publications.c.remote_id).where(
            publications.c.network == str(network), publications.c.remote_id.is_not(None)
        )
        with self.engine.connect() as connection:
            return connection.execute(
                select(remote_links.c.original)
                .where(
                    remote_links.c.network == str(network),
                    remote_links.c.original.startswith(f"{chat}:", autoescape=True),
                    remote_links.c.fingerprint == fingerprint,
                    remote_links.c.posted_at >= since,
                    remote_links.c.original.not_in(claimed),
                )
                .order_by(remote_links.c.posted_at)
                .limit(1)
            ).scalar()

    def published_statuses(self, network: str, since: datetime) -> list[str]:
        """Remote ids of what Relais published on ``network`` since ``since``."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(publications.c.remote_id).where(
                        publications.c.network == str(network),
                        publications.c.state == PublicationState.PUBLISHED.value,
                        publications.c.finished_at >= since,
                        publications.c.remote_id.is_not(None),
                    )
                ).scalars()
            )

    def texts_by(self, network: str, author_ids: Iterable[str]) -> set[tuple[str, str]]:
        """The (author, text) pairs already stored for these authors, to spot repeats."""
        authors = list(set(author_ids))
        found: set[tuple[str, str]] = set()
        with self.engine.connect() as connection:
            for chunk in range(0, len(authors), 500):
                found.update(
                    connection.execute(
                        select(comments.c.author_id, comments.c.text).where(
                            comments.c.network == str(network),
                            comments.c.author_id.in_(authors[chunk : chunk + 500]),
                        )
                    ).all()
                )
        return found

    def to_recheck(self, network: str, limit: int) -> list[str]:
        """The replies looked at longest ago (never, first): each recheck takes the next
        ones, so that in time every stored reply is seen again, however old."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(comments.c.remote_id)
                    .where(comments.c.network == str(network))
                    .order_by(comments.c.checked_at.is_not(None), comments.c.checked_at, comments.c.id.desc())
                    .limit(limit)
                ).scalars()
            )

    def due_for_recheck(
        self,
        network: str,
        now: datetime,
        tiers: Sequence[tuple[timedelta, timedelta]],
        limit: int,
        *,
        stale_before: datetime | None = None,
    ) -> list[str]:
        """Up to ``limit`` replies due to be looked at again, youngest tier first: ``tiers``
        are (age up to, interval), and a reply of that age is due once it was last looked
        at longer ago than the interval, or never was. Within a tier, the never looked at
        first (the newest of them first), then the longest unseen. ``stale_before``: the
        youngest tier's replies looked at before it are due too (what no stream could
        report: the bot was not running)."""
        found: list[str] = []
        younger = now
        with self.engine.connect() as connection:
            for tier, (age, interval) in enumerate(tiers):
                if len(found) >= limit:
                    break
                seen = comments.c.checked_at
                cutoff = now - interval
                if tier == 0 and stale_before is not None:
                    cutoff = max(cutoff, stale_before)
                query = select(comments.c.remote_id).where(
                    comments.c.network == str(network),
                    comments.c.created_at <= younger,
                    or_(seen.is_(None), seen < cutoff),
                )
                if age != timedelta.max:
                    query = query.where(comments.c.created_at > now - age)
                    younger = now - age
                ordered = query.order_by(seen.is_not(None), seen, comments.c.id.desc())
                found += connection.execute(ordered.limit(limit - len(found))).scalars()
                if age == timedelta.max:
                    break
        return found

    def note_stream(self, name: str, mode: str, now: datetime) -> None:
        """Record how a stream is read now ("streaming", "polling: why"), for ``relais status``."""
        with self.engine.begin() as connection:
            self._set_position(connection, name, mode[:200], now)

    def mark_checked(self, network: str, remote_ids: Sequence[str], now: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(comments)
                .where(comments.c.network == str(network), comments.c.remote_id.in_(list(remote_ids)))
                .values(checked_at=now)
            )

    # -- moderators --------------------------------------------------------------------

    def find(
        self,
        query: CommentQuery | None = None,
        *,
        after: int | None = None,
        limit: int | None = 50,
        newest_first: bool = True,
    ) -> list[Comment]:
        """The replies ``query`` selects in the order they were collected (newest or oldest
        first), from the one that follows ``after`` (an id: the last of the previous page),
        so that a page stays put however many replies come in meanwhile."""
        selected = self._select(select(*_COLUMNS), query or CommentQuery())
        if selected is None:
            return []
        statement, order = selected
        if after is not None:
            statement = statement.where(order < after if newest_first else order > after)
        statement = statement.order_by(order.desc() if newest_first else order.asc())
        if limit is not None:
            statement = statement.limit(limit)
        with self.engine.connect() as connection:
            return [Comment(*row) for row in connection.execute(statement).all()]

    def count(
        self, query: CommentQuery | None = None, *, up_to: int | None = None, newest_first: bool = False
    ) -> int:
        """How many replies ``query`` selects (``up_to``: only those up to this id included,
        in the order given: where a page that follows it starts)."""
        query = query or CommentQuery()
        selected = self._select(select(func.count()), query, counting=True, dense=self._dense(query))
        if selected is None:
            return 0
        statement = selected[0]
        if up_to is not None:
            statement = statement.where(comments.c.id >= up_to if newest_first else comments.c.id <= up_to)
        with self.engine.connect() as connection:
            return int(connection.execute(statement).scalar_one())

    def counts(self, query: CommentQuery | None = None) -> dict[str, int]:
        """How many replies in each state (the states ``query`` selects set aside)."""
        unstated = replace(query, states=()) if query else CommentQuery()
        state = comments.c.state.concat("") if self._covered(unstated) else comments.c.state
        selected = self._select(
            select(state, func.count()), unstated, counting=True, dense=self._dense(unstated)
        )
        if selected is None:
            return {}
        with self.engine.connect() as connection:
            return dict(connection.execute(selected[0].group_by(state)).all())

    def _dense(self, query: CommentQuery) -> bool:
        """Whether ``query`` is a search (by state at most) whose words are in so many
        replies that reading the state of every reply beats looking up each match (SQLite;
        the full-text index counts its matches in a millisecond)."""
        if self._postgres or not query.search or query.author or _narrowed(query):
            return False
        words = _WORD.findall(query.search)
        if not words:
            return False
        with self.engine.connect() as connection:
            found = connection.execute(
                text("SELECT count(*) FROM comments_fts WHERE comments_fts MATCH :search"),
                {"search": _fts_query(words)},
            ).scalar_one()
        return int(found) > self.dense_from

    def _covered(self, query: CommentQuery) -> bool:
        """Whether a count of ``query`` should read ``ix_comments_queue`` alone. SQLite's
        planner, without statistics, would rather walk an index on state or network and read
        each row (a GROUP BY state in the index's order): comparing ``state || ''`` and
        ``network || ''`` leaves those indexes out, and the covering one is read instead."""
        return not self._postgres and not query.search and not query.author and _narrowed(query)

    def _select(
        self, statement: Select[Any], query: CommentQuery, *, counting: bool = False, dense: bool = False
    ) -> tuple[Select[Any], ColumnElement[Any]] | None:
        """``statement`` restricted to what ``query`` selects, and the column replies are
        ordered by; None when nothing can match (a search without a word).

        ``counting``: the statement counts, it reads no reply. On SQLite it then reads the
        replies' covering index alone (``ix_comments_queue``, migration 0008) rather than
        their rows, which hold the text (see ``_covered``), or, for a search, looks up only
        the matches: a count of 100,000 replies stays within a few milliseconds
        (benchmarks/moderation.py). ``dense``: a search whose words are in many replies
        (``_dense``), counted by reading the state index once rather than each match's row."""
        order: ColumnElement[Any] = comments.c.id
        source: FromClause = comments
        if query.search and query.search.strip():
            words = _WORD.findall(query.search)
            if not words:
                return None
            if self._postgres:
                statement = statement.where(
                    text("comments.search @@ plainto_tsquery('simple', :search)").bindparams(
                        bindparam("search", " ".join(words))
                    )
                )
            else:
                # FTS5 first, in its own rowid order, so that LIMIT stops it early however
                # common the words.
                match = text("comments_fts MATCH :search").bindparams(bindparam("search", _fts_query(words)))
                matches = select(_FTS.c.rowid).where(match)
                if counting and dense:  # each reply's state from the narrow index, not its row
                    statement = statement.where((comments.c.id + 0).in_(matches))
                elif counting:  # the matches once, then each one's state (never a MATCH per reply)
                    statement = statement.where(comments.c.id.in_(matches))
                else:
                    source = _FTS.join(comments, comments.c.id == _FTS.c.rowid)
                    statement = statement.where(match)
                    order = _FTS.c.rowid
        statement = statement.select_from(source)
        covered = counting and self._covered(query)
        if query.states:
            state = comments.c.state.concat("") if covered else comments.c.state
            statement = statement.where(state.in_(list(query.states)))
        if query.campaign:
            statement = statement.where(comments.c.campaign == query.campaign)
        if query.network and query.author:  # (network || '': the author's indexes find them)
            statement = statement.where(comments.c.network.concat("") == query.network)
        elif query.network:
            network = comments.c.network.concat("") if covered else comments.c.network
            statement = statement.where(network == query.network)
        if query.language:  # "fr" also selects "fr-CA"
            statement = statement.where(
                or_(
                    comments.c.language == query.language,
                    comments.c.language.startswith(f"{query.language}-", autoescape=True),
                )
            )
        if query.author:
            by_id = comments.c.author_id == query.author
            if query.network:
                by_id = and_(comments.c.network == query.network, by_id)
            statement = statement.where(or_(comments.c.author_handle == query.author, by_id))
        if query.since is not None:
            statement = statement.where(comments.c.created_at >= query.since)
        if query.until is not None:
            statement = statement.where(comments.c.created_at < query.until)
        if query.reason:  # no pattern from the user; accents and case as written
            reason = func.lower(comments.c.reason)
            wanted = dict.fromkeys(w.lower() for w in (query.reason, *query.reason_or))
            statement = statement.where(or_(*(reason.contains(w, autoescape=True) for w in wanted)))
        if query.reason_code:
            statement = statement.where(comments.c.reason_code == query.reason_code)
        if query.decided_by:
            statement = statement.where(comments.c.decided_by == query.decided_by)
        return statement, order

    def versions(self, query: CommentQuery) -> list[tuple[int, int]]:
        """The id and version of every reply ``query`` selects, by id: what a moderator is
        asked to confirm a decision on "all N matching" for."""
        selected = self._select(select(comments.c.id, comments.c.version), query)
        if selected is None:
            return []
        with self.engine.connect() as connection:
            return [(i, v) for i, v in connection.execute(selected[0].order_by(comments.c.id)).all()]

    def ids_within(self, ranges: Sequence[tuple[int, int]]) -> list[int]:
        """The stored ids within each (first, last) range, in order."""
        found: list[int] = []
        with self.engine.connect() as connection:
            for first, last in ranges:
                found += connection.execute(
                    select(comments.c.id).where(comments.c.id.between(first, last)).order_by(comments.c.id)
                ).scalars()
        return found

    def get(self, comment_id: int) -> tuple[Comment, list[Event]] | None:
        """A reply and its history, oldest event first."""
        with self.engine.connect() as connection:
            row = connection.execute(select(*_COLUMNS).where(comments.c.id == comment_id)).first()
            if row is None:
                return None
            events = self._events(connection, [comment_id]).get(comment_id, [])
        return Comment(*row), events

    def histories(self, comment_ids: Iterable[int]) -> dict[int, list[Event]]:
        """The history of each of these replies, oldest event first (none: not there)."""
        with self.engine.connect() as connection:
            return self._events(connection, list(comment_ids))

    def _events(self, connection: Connection, ids: list[int]) -> dict[int, list[Event]]:
        found: dict[int, list[Event]] = {}
        for chunk in _chunks(ids):
            rows = connection.execute(
                select(
                    comment_events.c.comment_id,
                    comment_events.c.at,
                    comment_events.c.kind,
                    comment_events.c.actor,
                    comment_events.c.reason,
                    comment_events.c.previous_text,
                    comment_events.c.reason_code,
                    comment_events.c.decision_id,
                    decisions.c.undoes,
                )
                .select_from(
                    comment_events.outerjoin(decisions, decisions.c.id == comment_events.c.decision_id)
                )
                .where(comment_events.c.comment_id.in_(chunk))
                .order_by(comment_events.c.id)
            ).all()
            for comment_id, *event in rows:
                found.setdefault(comment_id, []).append(Event(*event))
        return found

    def by_remote_id(self, network: str, remote_id: str) -> Comment | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(*_COLUMNS).where(comments.c.network == network, comments.c.remote_id == remote_id)
            ).first()
        return None if row is None else Comment(*row)

    @contextmanager
    def deciding(self, ids: Iterable[int]) -> Iterator[Decisions]:
        """The replies ``ids`` as they stand (those that exist), locked until the block ends,
        and the means to record a decision on them in the same transaction: nobody decides
        them meanwhile. Nothing is written if the block raises."""
        wanted = sorted(set(ids))  # locked in one order, so that two batches cannot deadlock
        with self.engine.begin() as connection:
            if not self._postgres:  # the write lock now, not at the first write (pysqlite)
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            current: dict[int, Comment] = {}
            for chunk in _chunks(wanted):
                statement = select(*_COLUMNS).where(comments.c.id.in_(chunk)).order_by(comments.c.id)
                if self._postgres:
                    statement = statement.with_for_update()
                current.update({row.id: Comment(*row) for row in connection.execute(statement).all()})
            yield Decisions(connection, current)

    @contextmanager
    def deciding_matching(self, query: CommentQuery) -> Iterator[Decisions]:
        """``deciding`` the replies ``query`` selects as the transaction finds them: a
        decision on "all N matching this filter" decides exactly those it counted."""
        with self.engine.begin() as connection:
            current: dict[int, Comment] = {}
            if not self._postgres:  # the write lock first: nobody changes what matches meanwhile
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            selected = self._select(select(*_COLUMNS), query)
            if selected is not None:
                statement = selected[0].order_by(comments.c.id)
                if self._postgres:
                    statement = statement.with_for_update(of=comments)
                current = {row.id: Comment(*row) for row in connection.execute(statement).all()}
            yield Decisions(connection, current)


class Decisions:
    """Replies locked for a decision (``CommentStore.deciding``): ``current`` holds them as
    they stand; ``record`` writes a decision, ``restore`` undoes one. Each writes a row in
    ``decisions`` and, per reply, an event keeping the moderation it replaced (what an undo
    puts back) and the version it made (an undo is refused once the reply moved on)."""

    def __init__(self, connection: Connection, current: dict[int, Comment]) -> None:
        self.current = current
        self._connection = connection

    def record(
        self,
        ids: Sequence[int],
        state: CommentState,
        *,
        actor: str,
        reason: str | None,
        now: datetime,
        acknowledge: bool,
        reason_code: str | None = None,
    ) -> tuple[int, list[Comment]]:
        """Write the decision on each of ``ids`` (among ``current``) and its event; with
        ``acknowledge``, queue each reply's acknowledgement too. Returns the decision's id
        and the replies as they now stand."""
        decided: dict[str, Any] = {
            "reason": reason,
            "reason_code": reason_code,
            "decided_by": actor,
            "decided_at": now,
        }
        decision = self._decision(actor, state.value, reason_code, reason, len(ids), now)
        for chunk in _chunks(list(ids)):
            self._connection.execute(
                update(comments)
                .where(comments.c.id.in_(chunk))
                .values(state=state.value, version=comments.c.version + 1, **decided)
            )
        after = [
            replace(self.current[i], state=state.value, version=self.current[i].version + 1, **decided)
            for i in ids
        ]
        self._events(decision, actor, now, after)
        if acknowledge:
            enqueue_acknowledgements(self._connection, ids, now)
        return decision, after

    def acknowledge(self, ids: Sequence[int], now: datetime) -> None:
        """Queue the acknowledgement of these replies, just approved."""
        enqueue_acknowledgements(self._connection, ids, now)

    def decision(self, decision_id: int) -> DecisionRow | None:
        """A decision as it stands in this transaction (locked on PostgreSQL)."""
        statement = select(*DECISION_COLUMNS).where(decisions.c.id == decision_id)
        if self._connection.dialect.name == "postgresql":
            statement = statement.with_for_update()
        row = self._connection.execute(statement).first()
        return None if row is None else DecisionRow(*row)

    def restore(
        self, changes: Sequence[Change], *, undoes: int, actor: str, now: datetime, acknowledge: bool
    ) -> tuple[int, list[Comment]]:
        """Undo decision ``undoes``: each reply of ``changes`` (among ``current``) gets back
        the moderation it had before it, as a new decision by ``actor``; with
        ``acknowledge``, the replies it approves again get their acknowledgement queued."""
        changes = [c for c in changes if c.comment_id in self.current]
        decision = self._decision(actor, UNDO, None, None, len(changes), now, undoes=undoes)
        self._connection.execute(
            update(decisions).where(decisions.c.id == undoes).values(undone_by=decision, undone_at=now)
        )
        after = [
            replace(
                self.current[c.comment_id],
                state=c.previous_state,
                reason=c.previous_reason,
                reason_code=c.previous_reason_code,
                decided_by=c.previous_decided_by,
                decided_at=c.previous_decided_at,
                version=self.current[c.comment_id].version + 1,
            )
            for c in changes
        ]
        if after:
            self._connection.execute(
                update(comments)
                .where(comments.c.id == bindparam("b_id"))
                .values(
                    state=bindparam("b_state"),
                    reason=bindparam("b_reason"),
                    reason_code=bindparam("b_reason_code"),
                    decided_by=bindparam("b_decided_by"),
                    decided_at=bindparam("b_decided_at", type_=UTCDateTime()),
                    version=comments.c.version + 1,
                ),
                [
                    {
                        "b_id": c.id,
                        "b_state": c.state,
                        "b_reason": c.reason,
                        "b_reason_code": c.reason_code,
                        "b_decided_by": c.decided_by,
                        "b_decided_at": c.decided_at,
                    }
                    for c in after
                ],
            )
        self._events(decision, actor, now, after)
        approved = [c.id for c in after if c.state == CommentState.APPROVED]
        if acknowledge and approved:
            enqueue_acknowledgements(self._connection, approved, now)
        return decision, after

    def _decision(
        self,
        actor: str,
        state: str,
        reason_code: str | None,
        reason: str | None,
        count: int,
        now: datetime,
        undoes: int | None = None,
    ) -> int:
        values = {
            "at": now,
            "actor": actor,
            "state": state,
            "reason_code": reason_code,
            "reason": reason,
            "count": count,
            "undoes": undoes,
        }
        return int(
            self._connection.execute(insert(decisions).returning(decisions.c.id), [values]).scalar_one()
        )

    def _events(self, decision: int, actor: str, now: datetime, after: list[Comment]) -> None:
        """One event per reply of ``after`` (as it now stands), keeping what it was before."""
        rows = []
        for c in after:
            before = self.current[c.id]
            rows.append(
                {
                    "comment_id": c.id,
                    "at": now,
                    "kind": c.state,
                    "actor": actor,
                    "reason": c.reason,
                    "reason_code": c.reason_code,
                    "previous_text": None,
                    "decision_id": decision,
                    "previous_state": before.state,
                    "previous_reason": before.reason,
                    "previous_reason_code": before.reason_code,
                    "previous_decided_by": before.decided_by,
                    "previous_decided_at": before.decided_at,
                    "version": c.version,
                }
            )
        if rows:
            self._connection.execute(insert(comment_events), rows)


def _fts_query(words: Sequence[str]) -> str:
    """FTS5's query for these words, each quoted: no FTS syntax comes from the user."""
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def _narrowed(query: CommentQuery) -> bool:
    """Whether ``query`` selects by more than state (counting by state alone is fastest on
    the narrow ``ix_comments_state_id``, which SQLite picks by itself)."""
    return any(
        (
            query.campaign,
            query.network,
            query.language,
            query.since,
            query.until,
            query.reason,
            query.reason_code,
            query.decided_by,
        )
    )


def _chunks(items: list[int], size: int = 500) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _values(item: Collected, now: datetime) -> dict[str, Any]:
    reply = item.reply
    flagged = bool(item.flags)
    return {
        "network": str(reply.network),
        "remote_id": reply.remote_id,
        "campaign": item.campaign,
        "publication_key": item.publication_key,
        "in_reply_to": reply.in_reply_to,
        "url": reply.url,
        "author_id": reply.author_id,
        "author_handle": reply.author_handle,
        "author_name": reply.author_name,
        "author_nobot": reply.author_nobot,
        "text": reply.text,
        "language": reply.language,
        "hashtags": f" {' '.join(reply.hashtags)} " if reply.hashtags else "",
        "private": reply.private,
        "created_at": reply.created_at,
        "collected_at": now,
        "edited_at": reply.edited_at,
        "state": (CommentState.FLAGGED if flagged else CommentState.PENDING).value,
        "reason": "; ".join(item.flags) or None,
        "reason_code": None,
        "decided_by": SYSTEM_ACTOR if flagged else None,
        "decided_at": now if flagged else None,
        "acknowledged_at": None,
        "checked_at": None,
        "version": 1,
    }


class CollectorLock:
    """One owner per collector across processes: a PostgreSQL advisory lock held for as
    long as the process runs it (SQLite serves one process, which always owns it)."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._connection: Connection | None = None

    def acquire(self) -> bool:
        if self.engine.dialect.name != "postgresql" or self._connection is not None:
            return True
        connection = self.engine.connect()
        connection.detach()
        key = zlib.crc32(b"relais-collector:" + self.name.encode())
        if connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            connection.commit()
            self._connection = connection
            return True
        connection.close()
        return False

    def release(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

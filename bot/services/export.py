"""Exporting the collected replies for the public archive (CSV, XLSX, JSON).

Authors are pseudonymised unless asked otherwise: each author becomes "participant N"
(numbered in order of first appearance in this file), and nothing that leads back to
them is written — no handle, no name, no link to their profile or to their message.
Only approved replies by default; rejected ones only when asked for, and then their state
says so. Private messages (direct messages, non-public statuses) only when asked for.
Cells that a spreadsheet would run as a formula are written as text: in CSV by a leading
quote (see ``spreadsheet_safe``), in XLSX by typing every cell (text stays text, unaltered).
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot import networks
from bot.clock import Clock
from bot.domain import CommentState, PublicationKey, Removal, Reply
from bot.ports import ChannelError, RateLimited, TimelineSource
from bot.store.comments import Comment
from bot.store.handle import Store
from bot.store.heartbeat import beats

FORMATS = ("csv", "xlsx", "json")
# What a spreadsheet may evaluate (OWASP, "CSV Injection"): a cell starting with a tab or a
# carriage return, or whose first visible character is = + - @, in its ASCII, full-width
# (＝ ＋ － ＠) or small (﹦ ﹢ ﹣) form, after any whitespace (spaces, no-break and
# ideographic spaces, tabs, newlines, carriage returns).
# Invisible format characters (zero-width space, byte-order mark, bidi controls) count as
# whitespace here: a reader may drop them and see the formula.
_INVISIBLE = r"\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
_FORMULA = re.compile(rf"[\t\r]|[\s{_INVISIBLE}]*[=+\-@＝＋－＠﹦﹢﹣]")
# Characters XML (and so XLSX) cannot hold.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# XML readers turn a raw carriage return into a newline, and Excel decodes "_xHHHH_" in a
# cell's text: both are written with OOXML's escape (ECMA-376 ST_Xstring), as Excel does.
_OOXML_ESCAPE = re.compile(r"\r|_(?=x[0-9A-Fa-f]{4}_)")

PUBLIC_COLUMNS = [
    "network",
    "time",
    "edited",
    "language",
    "text",
    "hashtags",
    "campaign",
    "answers",
    "state",
    "decision",
    "moderator",
    "reason",
    "author",
]
AUTHOR_COLUMNS = ["author_handle", "author_name", "url"]


@dataclass(frozen=True)
class ExportOptions:
    with_authors: bool = False
    with_private: bool = False  # direct messages and non-public statuses


def states_for(status: str | None) -> list[str]:
    """The states an export includes: the approved replies unless asked otherwise ("all"
    includes the rejected ones, labelled by their state)."""
    if status in (None, ""):
        return [CommentState.APPROVED.value]
    if status == "all":
        return [s.value for s in CommentState]
    return [status]


def rows(comments: Iterable[Comment], options: ExportOptions) -> Iterator[dict[str, Any]]:
    pseudonyms: dict[tuple[str, str], str] = {}
    for c in comments:
        if c.private and not options.with_private:
            continue
        author = pseudonyms.setdefault((c.network, c.author_id), f"participant {len(pseudonyms) + 1}")
        row = {
            "network": c.network,
            "time": c.created_at.isoformat(),
            "edited": c.edited_at.isoformat() if c.edited_at else "",
            "language": c.language or "",
            "text": c.text,
            "hashtags": " ".join(f"#{t}" for t in c.hashtags.split()),
            "campaign": c.campaign or "",
            "answers": PublicationKey.parse(c.publication_key).publication_id if c.publication_key else "",
            "state": c.state,
            "decision": _decision(c),
            "moderator": c.decided_by or "",
            "reason": c.reason or "",
            "author": c.author_handle if options.with_authors else author,
        }
        if options.with_authors:
            row |= {"author_handle": c.author_handle, "author_name": c.author_name, "url": c.url or ""}
        yield row


@dataclass(frozen=True)
class Verified:
    """What ``verify`` found: the replies still there, and how many it looked up and removed."""

    comments: list[Comment]
    checked: int
    removed: int


class NotVerified(Exception):
    """A reply could not be looked up again; the message says why and what to do."""


UNVERIFIED = "not checked again with the networks before this export (relais export --no-verify)"
FRESH = timedelta(hours=1)  # a reply looked at since, and followed by a stream, is not looked up again
STREAMING = "streaming"  # the mode the collector notes for a stream that is connected (``note_stream``)
RESERVE = 60  # requests of the account's rate-limit window left to the running bot
LONGEST_WAIT = 15 * 60.0


async def verify(
    store: Store,
    comments: Sequence[Comment],
    source: TimelineSource,
    clock: Clock,
    *,
    fresh: timedelta = FRESH,
    reserve: int = RESERVE,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> Verified:
    """Look up again every reply of ``source``'s network among ``comments`` (a remote one at
    its origin too: its deletion may never have reached its server), but those looked at
    within ``fresh`` whose deletion a stream would have told since (``_followed``); remove
    from the store those that are gone, and leave them out. Paced under the account's rate limit, leaving
    ``reserve`` requests of each window to the running bot. Raises ``NotVerified`` when a
    reply cannot be looked up."""
    now, network = clock.now(), source.network
    streams = await store.run(_streaming_since, store, network, now)
    due = [c for c in comments if c.network == network and not _followed(c, streams, now - fresh)]
    gone: list[Removal] = []
    alive: list[str] = []
    progress(0, len(due))
    for done, comment in enumerate(due, 1):
        item = await _look_up(source, comment.remote_id, clock, reserve)
        if isinstance(item, Removal):
            gone.append(item)
        else:
            alive.append(comment.remote_id)
        progress(done, len(due))
    if gone:
        await store.run(store.comments.save_page, None, None, [], gone, now=clock.now(), origin="export")
    if alive:
        await store.run(store.comments.mark_checked, network, alive, clock.now())
    removed = {r.remote_id for r in gone}
    kept = [c for c in comments if not (c.network == network and c.remote_id in removed)]
    return Verified(kept, checked=len(due), removed=len(gone))


def _streaming_since(store: Store, network: str, now: datetime) -> dict[str, datetime]:
    """The hashtag streams of ``network`` connected now, with since when (as the running
    bot's collector noted them); none when no bot is running (its notes are then stale)."""
    if not any(beat.alive(now) for beat in beats(store.engine)):
        return {}
    prefix = f"stream:{network}:"
    return {
        name.removeprefix(prefix): since
        for name, (mode, since) in store.comments.positions().items()
        if name.startswith(prefix) and mode == STREAMING
    }


def _followed(comment: Comment, streams: dict[str, datetime], fresh_after: datetime) -> bool:
    """Whether a deletion of ``comment`` since it was last looked at would have come by a
    stream: it was looked at after ``fresh_after``, it is public, and the stream of one of
    its hashtags has stayed connected since before then (a stream that was down, or a bot
    that was not running, tells nothing of what was deleted meanwhile)."""
    looked = comment.checked_at or comment.collected_at
    if looked < fresh_after or comment.private:
        return False
    connected = [streams.get(tag.lstrip("#").lower()) for tag in comment.hashtags.split()]
    return any(since is not None and since <= looked for since in connected)


async def _look_up(source: TimelineSource, remote_id: str, clock: Clock, reserve: int) -> Reply | Removal:
    budget = source.rate_budget()
    if budget is not None and budget[0] < reserve:  # the window's rest is the running bot's
        await clock.sleep_until(clock.now() + timedelta(seconds=min(budget[1], LONGEST_WAIT)))
    while True:
        try:
            return await source.lookup(remote_id, ask_origin=True)
        except RateLimited as error:
            await clock.sleep_until(clock.now() + timedelta(seconds=min(error.retry_after, LONGEST_WAIT)))
        except ChannelError as error:
            raise NotVerified(
                f"{networks.profile(source.network).title} reply {remote_id} could not be looked up again "
                f"({error}): try again later, "
                "or export with --no-verify to write a file that says it was not verified"
            ) from None


def _decision(c: Comment) -> str:
    if c.decided_at is None:
        return ""
    return f"{c.state} {c.decided_at.isoformat()}"


def columns(options: ExportOptions) -> list[str]:
    return PUBLIC_COLUMNS + (AUTHOR_COLUMNS if options.with_authors else [])


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text, never runs: a value it could evaluate (see
    ``_FORMULA``) gets a leading quote, as OWASP advises. Everything else is unaltered."""
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return value


def _xlsx_text(value: str) -> str:
    """A text cell's value as the XLSX file must hold it for a reader to get it back."""
    value = _ILLEGAL_XML.sub("\ufffd", value)
    return _OOXML_ESCAPE.sub(lambda m: "_x000D_" if m.group() == "\r" else "_x005F_", value)


def write(
    path: Path,
    fmt: str,
    comments: Iterable[Comment],
    options: ExportOptions,
    progress: Callable[[], None] = lambda: None,
    *,
    note: str | None = None,
) -> int:
    """Write the export; returns how many replies it holds. ``progress`` is called per row.
    ``note`` (that the file was not verified) is written in the file: a "verification"
    key in JSON, a sheet in XLSX, a last column in CSV."""
    header = columns(options) + (["verification"] if note and fmt == "csv" else [])
    count = 0
    if options.with_authors or options.with_private:
        _owner_only(path)

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal count
        for row in rows(comments, options):
            count += 1
            progress()
            yield row | ({"verification": note} if note and fmt == "csv" else {})

    if fmt == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as f:  # the BOM makes Excel read UTF-8
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            for row in counted():
                writer.writerow({k: spreadsheet_safe(v) for k, v in row.items()})
    elif fmt == "json":
        with path.open("w", encoding="utf-8") as f:
            f.write("{" + (f'"verification": {json.dumps(note)}, ' if note else ""))
            f.write('"columns": ' + json.dumps(header) + ', "replies": [')
            for i, row in enumerate(counted()):
                f.write(("," if i else "") + "\n" + json.dumps(row, ensure_ascii=False))
            f.write("\n]}\n")
    elif fmt == "xlsx":
        _write_xlsx(path, header, counted(), note)
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return count


def _owner_only(path: Path) -> None:
    """A file that names people or holds private messages is readable by its owner alone
    (0600), set before a byte is written, whatever the umask or the mode of a file it replaces."""
    handle = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fchmod(handle, 0o600)
    finally:
        os.close(handle)


def _write_xlsx(path: Path, header: list[str], data: Iterator[dict[str, Any]], note: str | None) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet("replies")
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    titles = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        titles.append(cell)
    sheet.append(titles)
    for row in data:
        cells = []
        for name in header:
            value = row[name]
            cell = WriteOnlyCell(sheet, value=_xlsx_text(value) if isinstance(value, str) else value)
            if isinstance(value, str):
                cell.data_type = "s"  # text, even when it starts with "=": never a formula
            cells.append(cell)
        sheet.append(cells)
    if note:
        book.create_sheet("verification").append([note])
    book.save(path)

"""The queue: tabs with counts, filters, search, 50 replies a page behind a stable cursor,
and the live counts and "N new replies" the page's script polls for."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from starlette.datastructures import ImmutableMultiDict, QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot import networks
from bot.domain import CommentState, Publication
from bot.services.documents import queue_document
from bot.services.moderation import PAGE_SIZE, CommentQuery
from bot.store.comments import Comment
from bot.web import i18n
from bot.web.errors import DeskError
from bot.web.i18n import N_
from bot.web.pages import Desk, desk, language, moderator, render

DONE = (*(s.value for s in CommentState), "undo")  # what a decision made of the replies
TABS = ("pending", "flagged", "approved", "rejected", "all")
TAB_LABELS = {
    "pending": N_("To review"),
    "flagged": N_("Flagged"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "all": N_("All"),
}
REASONS = i18n.REASON_WORDS
FILTERS = ("campaign", "network", "language", "author", "since", "until", "q", "reason", "decided_by")
NEW_CAP = 999  # "999+ new replies" beyond
CLIP = 5_000  # characters of a reply shown in a list: a browser lays out 100 kB without a space for seconds
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Selection:
    """What a queue shows, as its address says: a tab, filters, an order and a cursor."""

    tab: str
    filters: dict[str, str]
    newest_first: bool
    after: int | None
    start: int  # the position of the page's first reply, for "51–100 of 525"

    def query(self, desk: Desk, moderator_language: str) -> CommentQuery:
        """What the queue selects (``moderator_language``: in which the flags typed are named)."""
        f = self.filters
        zone = desk.zone(f.get("campaign"))
        return CommentQuery(
            states=() if self.tab == "all" else (self.tab,),
            search=f.get("q") or None,
            campaign=f.get("campaign") or None,
            network=f.get("network") or None,
            language=f.get("language") or None,
            author=f.get("author") or None,
            since=_day(f.get("since"), zone),
            until=_day(f.get("until"), zone, next_day=True),
            reason=f.get("reason") or None,
            reason_or=i18n.flags_named(f.get("reason") or "", moderator_language),
            decided_by=f.get("decided_by") or None,
        )

    def address(self, **changes: Any) -> str:
        """The queue's address with ``changes`` (None drops a parameter)."""
        params: dict[str, Any] = {"tab": self.tab, **self.filters}
        if self.newest_first:
            params["order"] = "newest"
        params.update(changes)
        return "/?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


def selection(params: QueryParams | ImmutableMultiDict[str, Any]) -> Selection:
    tab = str(params.get("tab") or "pending")
    if tab not in TABS:
        raise DeskError("There is no such tab.")
    filters = {k: str(params.get(k, "")).strip()[:200] for k in FILTERS if str(params.get(k, "")).strip()}
    return Selection(
        tab,
        filters,
        params.get("order") == "newest",
        _int(params.get("after")),
        max(1, _int(params.get("start")) or 1),
    )


def _int(value: object) -> int | None:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 12:
        return int(value)
    return None


def _day(value: str | None, zone: Any, *, next_day: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
        moment = datetime.combine(day + timedelta(days=1 if next_day else 0), time(), zone)
        moment.astimezone(UTC)  # as the store keeps it: 9999-12-31 does not fit
    except ValueError:
        raise DeskError("A date is written like 2012-05-02.") from None
    except OverflowError:
        raise DeskError("This date is out of range: choose one nearer today.") from None
    return moment


def excerpt(publication: Publication | None, length: int = 140) -> str:
    """The start of a post's text, as plain text (Telegram's are HTML)."""
    if publication is None:
        return ""
    plain = " ".join(html.unescape(_TAG.sub(" ", publication.text)).split())
    return plain if len(plain) <= length else plain[: length - 1].rstrip() + "…"


def profile(c: Comment) -> str | None:
    """The address of the author's profile, as the network shows it (``Profile.author_url``)."""
    network = networks.find(c.network)
    return network.author_url(c.author_handle) if network is not None else None


def web_link(url: str | None) -> str | None:
    """A link the page may show: http or https only (a network's field could say
    ``javascript:``)."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


def shown(c: Comment, desk: Desk) -> dict[str, Any]:
    """One reply as the page shows it (and the JSON gives it)."""
    post = desk.publications.get(c.publication_key or "")
    author = c.author_handle or c.author_id
    return {
        "comment": c,
        "url": web_link(c.url),
        "author": c.author_handle or c.author_id,
        # every "/" escaped: a handle with "/" or ".." stays one segment the browser keeps
        "author_path": f"/authors/{quote(c.network, safe='')}/{quote(author, safe='')}",
        "profile": web_link(profile(c)),
        "post": c.publication_key.split("/")[1] if c.publication_key else None,
        "post_excerpt": excerpt(post),
        "post_url": web_link(desk.post_urls.get(c.publication_key or "")),
        "flags": [r for r in (c.reason or "").split("; ") if r] if c.state == "flagged" else [],
        "clip": CLIP,  # longer, the text is clipped (whole on the reply's page)
    }


async def queue_page(request: Request) -> Response:
    await moderator(request)
    here = desk(request)
    chosen = selection(request.query_params)
    query = chosen.query(here, language(request))
    shown_queue = await here.run(
        here.moderation.queue, query, after=chosen.after, newest_first=chosen.newest_first
    )
    page, counts = shown_queue.page, shown_queue.counts
    await here.remember_posts([c.publication_key for c in page.comments if c.publication_key])
    total_all = sum(counts.values())
    tabs = [
        {
            "key": t,
            "label": TAB_LABELS[t],
            "count": total_all if t == "all" else counts[CommentState(t)],
            "address": chosen.address(tab=t),
        }
        for t in TABS
    ]
    start = 1  # counted, not taken from the address (which anyone can write)
    if chosen.after is not None:
        start = await here.run(
            here.moderation.position, query, chosen.after, newest_first=chosen.newest_first
        )
    chosen = replace(chosen, start=start)
    end = chosen.start + len(page.comments) - 1
    document = {
        "tab": chosen.tab,
        "tabs": tabs,
        "filters": chosen.filters,
        "order": "newest" if chosen.newest_first else "oldest",
        "replies": [shown(c, here) for c in page.comments],
        "total": page.total,
        "start": chosen.start if page.comments else 0,
        "end": end if page.comments else 0,
        "next": chosen.address(after=page.next, start=end + 1) if page.next else None,
        "first": chosen.address() if chosen.after else None,
        "newest": max((c.id for c in page.comments), default=0),
        "page_size": PAGE_SIZE,
        "campaigns": sorted(here.campaigns),
        "address": chosen.address(after=chosen.after, start=chosen.start if chosen.after else None),
        "live": chosen.address(),
        "reasons": REASONS,
        "done": _int(request.query_params.get("done")),
        "done_as": request.query_params.get("as") if request.query_params.get("as") in DONE else None,
        "decision": _int(request.query_params.get("decision")),
    }
    data = queue_document(shown_queue, newest_first=chosen.newest_first, zones=here.zone)
    return await render(request, "queue.html", document, data=data)


async def live(request: Request) -> Response:
    """What the page's script polls: the tabs' counts and how many replies came in since
    the newest it shows (``seen``, an id), under the same filters. The list itself never
    changes under the moderator's eyes."""
    await moderator(request)
    here = desk(request)
    chosen = selection(request.query_params)
    query = chosen.query(here, language(request))
    seen = _int(request.query_params.get("seen")) or 0
    # the replies after the newest shown, oldest first: how many (at most NEW_CAP)
    live_queue = await here.run(here.moderation.queue, query, after=seen, limit=NEW_CAP)
    fresh, counts = live_queue.page, live_queue.counts
    document = {
        "counts": {state.value: n for state, n in counts.items()} | {"all": sum(counts.values())},
        "new": len(fresh.comments),
        "more": fresh.next is not None,
    }
    return JSONResponse(document, headers={"Cache-Control": "no-store"})

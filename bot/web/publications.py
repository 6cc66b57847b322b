"""The plan, read-only: each publication of the campaigns with its state, its time, its
link, and what failed or is in doubt with the reason, as the ledger has it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bot.web.pages import desk, moderator, render


async def publications_page(request: Request) -> Response:
    await moderator(request)
    here = desk(request)
    rows = await here.run(here.store.ledger.rows)
    plan: list[dict[str, Any]] = []
    for key, publication in here.publications.items():
        row = rows.pop(key, None)
        plan.append(
            {
                "key": key,
                "campaign": publication.campaign,
                "id": publication.id,
                "channel": publication.channel.name,
                "network": str(publication.channel.network),
                "at": publication.at,
                "state": row.state if row else "planned",
                "url": row.remote_url if row else None,
                "error": row.last_error if row else None,
                "in_doubt": bool(row and row.in_doubt),
            }
        )
    for key, row in rows.items():  # in the ledger, no longer in the campaign files
        plan.append(
            {
                "key": key,
                "campaign": row.campaign,
                "id": row.publication_id,
                "channel": row.channel,
                "network": row.network,
                "at": row.due_at,
                "state": row.state,
                "url": row.remote_url,
                "error": row.last_error,
                "in_doubt": row.in_doubt,
            }
        )
    plan.sort(key=lambda p: (p["at"], p["key"]))
    return await render(request, "publications.html", {"plan": plan})

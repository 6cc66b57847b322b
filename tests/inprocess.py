"""The collectors in this process: the real readers against the loopback fakes, the real
collector, a real store (SQLite or PostgreSQL). Nothing of the project is replaced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bot.clock import SystemClock
from bot.domain import Campaign, Channel, Moderation, Publication, PublicationState
from bot.services.collector import Collector, CollectorTiming
from bot.store.handle import Store
from bot.store.ledger import Ledger
from tests.data import Network

TAG = "gautrinweb2"
CAMPAIGN = Campaign(
    slug="c",
    source=Path("c.yaml"),
    timezone=ZoneInfo("UTC"),
    language="fr",
    hashtags=(TAG,),
    channels={},
    grace=timedelta(minutes=15),
    acknowledge=False,
    moderation=Moderation(),
)


def collector(engine: Engine, **timing: Any) -> Collector:
    return Collector(Store(engine), SystemClock(), lambda: [CAMPAIGN], CollectorTiming(**timing))


def publication(network: Network, pub_id: str = "annonce") -> Publication:
    """A campaign post to the campaign's channel on ``network``."""
    channel = Channel("tg" if network == Network.TELEGRAM else "masto", network)
    return Publication(
        campaign=CAMPAIGN.slug,
        id=pub_id,
        channel=channel,
        at=datetime.now(UTC),
        timezone=ZoneInfo("UTC"),
        text=f"Le rapport est en ligne #{TAG}",
        length=30,
        limit=500,
        language="fr",
    )


def published(engine: Engine, network: Network, remote_id: str, pub_id: str = "annonce") -> str:
    """Record in the ledger that publication ``pub_id`` went out as ``remote_id``; its key."""
    post = publication(network, pub_id)
    now = datetime.now(UTC)
    ledger = Ledger(engine, "test")
    ledger.sync([post], now)
    assert ledger.claim([post.key], now) == [post.key]
    ledger.finish(post.key, PublicationState.PUBLISHED, now, remote_id=remote_id)
    return post.key

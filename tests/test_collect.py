"""Collecting replies end to end: ``relais run`` reads the loopback Mastodon and Telegram
servers, and ``relais comments list`` shows each reply once, tied to the post it answers."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.mastodon.reader import MastodonReader
from bot.clock import SystemClock
from bot.domain import Campaign, Moderation
from bot.services.collector import Collector
from bot.store import database
from bot.store.comments import CollectorLock, CommentStore
from bot.store.handle import Store
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import (
    CHAT_ID,
    GROUP_ID,
    MASTODON_TOKEN,
    Deployment,
    comments,
    in_order,
    offset_reached,
    replies_stored,
)

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with FakeTelegram() as telegram, FakeMastodon(token=MASTODON_TOKEN) as mastodon:
        deployment = Deployment(tmp_path, telegram, mastodon, f"sqlite:///{tmp_path / 'relais.db'}")
        telegram.add_chat(GROUP_ID, "supergroup", title="Discussion", linked_chat_id=CHAT_ID)
        deployment.extra_env["RELAIS_POLL_SECONDS"] = "0.2"
        # These follow polling's rounds; the streams are tests/test_mastodon_stream.py's.
        deployment.extra_env["RELAIS_MASTODON_STREAMING"] = "false"
        yield deployment


def test_replies_from_both_networks_are_collected_once_and_tied_to_their_post(deployment: Deployment) -> None:
    telegram, mastodon = deployment.telegram, deployment.mastodon
    deployment.campaign([("annonce", datetime.now(UTC) - timedelta(seconds=1))])
    bot = deployment.start()
    telegram.wait_for(lambda tg: len(tg.sent) == 1, timeout=20)
    assert mastodon.wait_for(lambda: len(mastodon.statuses) == 1, timeout=20)
    # Comments come after the post is recorded: one tied to a post that is still being
    # recorded (the server's answer not yet stored) is not recognised as a campaign's.
    bot.wait_for_line("c/annonce/tg: published")
    bot.wait_for_line("c/annonce/masto: published")
    ours = mastodon.statuses[0]["id"]
    # Mastodon: a hashtag reply, a reply under our post without the hashtag, a direct mention, noise.
    mastodon.add_remote_status("alice@example.org", "<p>Bravo <a>#GautrinWeb2</a> !</p>")
    mastodon.add_remote_status("bob@example.org", "<p>Et la suite ?</p>", in_reply_to_id=ours)
    mention = mastodon.add_remote_status(
        "carol@example.org",
        "<p>@relais une question #gautrinweb2</p>",
        visibility="direct",
        mentions=["relais"],
    )
    mastodon.add_mention_notification(mention)
    mastodon.add_remote_status("dave@example.org", "<p>Rien à voir #autre</p>")
    # Telegram: the channel post's copy in the discussion group, a comment on it, a hashtag
    # message in the group, and a private message.
    [sent] = telegram.sent
    forward = telegram.automatic_forward(sent.message)["message"]
    user = telegram.user(501, "Élise", username="elise_qc")
    telegram.group_message(GROUP_ID, user, "Merci pour l’annonce", reply_to=forward["message_id"])
    telegram.group_message(GROUP_ID, telegram.user(502, "Omar"), "😀🇨🇦 Bravo #gautrinweb2")
    last = telegram.private_message(telegram.user(503, "Léa"), "Une question #gautrinweb2")
    mark = len(mastodon.requests)
    telegram.wait_for(lambda tg: offset_reached(tg, last["update_id"] + 1), timeout=20)
    # The collector reads in rounds (hashtags, mentions, then the replies under our posts),
    # one request after the other, storing each page before the next request: a round that
    # began after the statuses were added, followed by the next round's first request,
    # means everything is stored.
    assert mastodon.wait_for(
        lambda: in_order(
            mastodon.requests[mark:],
            lambda r: r.path.startswith("/api/v1/timelines/tag/"),
            lambda r: r.path == "/api/v1/notifications",
            lambda r: r.path == f"/api/v1/statuses/{ours}/context",
            lambda r: r.path.startswith("/api/v1/timelines/tag/"),
        ),
        timeout=30,
    )
    assert bot.stop() == 0, bot.log
    found = comments(deployment)
    by_text = {c["text"]: c for c in found}
    assert Counter(c["text"] for c in found) == Counter(
        {
            "Bravo #GautrinWeb2 !": 1,
            "Et la suite ?": 1,
            "@relais une question #gautrinweb2": 1,
            "Merci pour l’annonce": 1,
            "😀🇨🇦 Bravo #gautrinweb2": 1,
            "Une question #gautrinweb2": 1,
        }
    )
    assert by_text["Et la suite ?"]["answers"] == "c/annonce/masto"
    assert by_text["Merci pour l’annonce"]["answers"] == "c/annonce/tg"
    assert by_text["😀🇨🇦 Bravo #gautrinweb2"]["hashtags"] == ["gautrinweb2"]
    assert by_text["@relais une question #gautrinweb2"]["private"] is True
    assert by_text["Merci pour l’annonce"]["author"]["handle"] == "@elise_qc"
    # a second run starts where the first stopped, and reads nothing twice
    polls, reads = len(telegram.requests), len(mastodon.requests)
    bot = deployment.start()
    telegram.wait_for(
        lambda tg: any(
            r.method.lower() == "getupdates" and r.params.get("offset") == str(last["update_id"] + 1)
            for r in tg.requests[polls:]
        ),
        timeout=20,
    )
    assert mastodon.wait_for(lambda: len(mastodon.requests) > reads + 3, timeout=20)
    assert bot.stop() == 0
    assert len(comments(deployment)) == 6


def test_edits_and_deletions_reach_the_store(deployment: Deployment) -> None:
    mastodon = deployment.mastodon
    deployment.campaign([("annonce", datetime.now(UTC) + timedelta(days=1))])
    kept = mastodon.add_remote_status("alice@example.org", "<p>Premier jet #gautrinweb2</p>")
    gone = mastodon.add_remote_status("bob@example.org", "<p>Oups #gautrinweb2</p>")
    bot = deployment.start()
    assert replies_stored(deployment, "mastodon", 2, timeout=20)
    assert bot.stop() == 0
    assert len(comments(deployment)) == 2
    mastodon.edit_status(kept["id"], "<p>Version corrigée #gautrinweb2</p>")
    mastodon.delete_status(gone["id"])
    bot = deployment.start()  # its first round looks again at recent replies
    assert mastodon.wait_for(
        lambda: any(r.path == f"/api/v1/statuses/{gone['id']}" for r in mastodon.requests), timeout=20
    )
    bot.wait_for_line("1 edited")
    bot.wait_for_line("1 deleted")
    assert bot.stop() == 0
    [comment] = comments(deployment)
    assert comment["text"] == "Version corrigée #gautrinweb2"
    shown = deployment.relais("comments", "show", str(comment["id"])).stdout
    assert "before: Premier jet #gautrinweb2" in shown


def test_sigkill_while_pages_are_stored_loses_and_doubles_nothing(deployment: Deployment) -> None:
    mastodon = deployment.mastodon
    deployment.campaign([("annonce", datetime.now(UTC) + timedelta(days=1))])
    for i in range(300):
        mastodon.add_remote_status(f"user{i}@example.org", f"<p>Avis {i} #gautrinweb2</p>")
    rng = random.Random()
    for _ in range(6):
        bot = deployment.start()
        before = len(mastodon.requests)
        mastodon.wait_for(
            lambda before=before: len(mastodon.requests) >= before + rng.randint(2, 6),
            timeout=rng.uniform(1, 4),
        )
        bot.stop(signal.SIGKILL)
    bot = deployment.start()
    assert replies_stored(deployment, "mastodon", 300, timeout=60)
    assert bot.stop() == 0
    found = comments(deployment)
    assert len(found) == 300
    assert sorted(c["text"] for c in found) == sorted(f"Avis {i} #gautrinweb2" for i in range(300))


@dataclass
class Reading:
    """The Mastodon collector in this process, reading the fake server into a real store."""

    mastodon: FakeMastodon
    reader: MastodonReader
    collector: Collector
    store: CommentStore


@pytest.fixture
async def reading(tmp_path: Path) -> AsyncIterator[Reading]:
    engine = database.create(f"sqlite:///{tmp_path / 'relais.db'}")
    database.upgrade(engine)
    assert CollectorLock(engine, "mastodon").acquire()  # SQLite: the one process always owns it
    campaign = Campaign(
        slug="c",
        source=tmp_path / "c.yaml",
        timezone=ZoneInfo("UTC"),
        language="fr",
        hashtags=("gautrinweb2",),
        channels={},
        grace=timedelta(minutes=15),
        acknowledge=False,
        moderation=Moderation(),
    )

    with Store(engine) as opened, FakeMastodon(token=MASTODON_TOKEN) as mastodon:
        reader = MastodonReader(mastodon.url, MASTODON_TOKEN)
        await reader.start()
        yield Reading(mastodon, reader, Collector(opened, SystemClock(), lambda: [campaign]), opened.comments)
        await reader.close()


async def test_a_reply_that_arrives_late_by_federation_is_still_collected(reading: Reading) -> None:
    """Mastodon gives a remote status an id made from when it was written: one that reaches
    the server late sorts before statuses already read forward."""
    reading.mastodon.add_remote_status("alice@example.org", "<p>Tout de suite #gautrinweb2</p>")
    await reading.collector.timeline_round(reading.reader, 1)
    reading.mastodon.add_remote_status(
        "bob@remote.example", "<p>En retard #gautrinweb2</p>", written_at=time.time() - 120
    )
    await reading.collector.timeline_round(reading.reader, 2)
    assert sorted(c.text for c in reading.store.find()) == ["En retard #gautrinweb2", "Tout de suite #gautrinweb2"]


async def test_a_reply_deleted_long_after_it_was_posted_is_deleted_from_the_store(reading: Reading) -> None:
    old = reading.mastodon.add_remote_status(
        "bob@remote.example", "<p>Il y a un mois #gautrinweb2</p>", written_at=time.time() - 30 * 86400
    )
    reading.mastodon.add_remote_status("alice@example.org", "<p>Récent #gautrinweb2</p>")
    await reading.collector.timeline_round(reading.reader, 1)
    assert len(reading.store.find()) == 2
    reading.mastodon.delete_status(old["id"])
    await reading.collector.recheck(reading.reader)
    assert [c.text for c in reading.store.find()] == ["Récent #gautrinweb2"]

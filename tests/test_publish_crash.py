"""Publishing under crashes, stops, a second process and a store outage: ``relais run`` as a
user runs it, against the loopback networks, on SQLite and PostgreSQL.

A burst to one Telegram channel waits in the flood limiter (4 at once, then 14 a minute):
what has not reached the network when the bot dies or stops must go out later, and only
what may have reached it is ``unknown``."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.store import database
from bot.store.ledger import Ledger, Row
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import MASTODON_TOKEN, Deployment, posted_ids, sent_ids
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

BURST = 30
ALERT_CHAT = -100999


@pytest.fixture
def networks() -> Iterator[tuple[FakeTelegram, FakeMastodon]]:
    with FakeTelegram() as telegram, FakeMastodon(token=MASTODON_TOKEN) as mastodon:
        yield telegram, mastodon


def rows(url: str) -> dict[str, Row]:
    """The ledger as the store holds it now, by publication id and channel."""
    engine = database.create(url)
    try:
        return {f"{r.publication_id}/{r.channel}": r for r in Ledger(engine, "test").rows().values()}
    finally:
        engine.dispose()


def states(url: str) -> dict[str, str]:
    return {key: row.state for key, row in rows(url).items()}


def settle(url: str, done: Callable[[dict[str, str]], bool], timeout: float) -> tuple[dict[str, str], float]:
    """Read the ledger until ``done(states)`` holds; the states and how long it took."""
    start = time.monotonic()
    while True:
        found = states(url)
        elapsed = time.monotonic() - start
        if done(found) or elapsed > timeout:
            return found, elapsed
        time.sleep(0.2)  # the ledger is another process's: it can only be read again


def burst(deployment: Deployment) -> list[str]:
    ids = [f"b{i:02d}" for i in range(BURST)]
    due = datetime.now(UTC) - timedelta(seconds=1)
    deployment.campaign([(pub_id, due) for pub_id in ids], to="tg")
    return ids


def test_a_burst_killed_midway_leaves_what_was_not_sent_pending(
    tmp_path: Path, networks: tuple[FakeTelegram, FakeMastodon], database_url: str
) -> None:
    telegram, mastodon = networks
    deployment = Deployment(tmp_path, telegram, mastodon, database_url)
    ids = burst(deployment)
    bot = deployment.start()
    telegram.wait_for(lambda tg: len(tg.sent) >= 4, timeout=30)  # the limiter's first burst
    bot.stop(signal.SIGKILL)
    before = set(sent_ids(telegram))
    left = states(database_url)
    assert not {k for k, s in left.items() if s == "unknown"}  # recovery has not run yet
    # Only a request that may have reached Telegram can be in doubt: one of the burst whose
    # answer was not recorded before the kill, never one that waited in the limiter.
    bot = deployment.start()
    bot.wait_for_line("running;")
    after_recovery = states(database_url)
    unknown = {k.split("/")[0] for k, s in after_recovery.items() if s == "unknown"}
    assert unknown <= before, after_recovery  # none that Telegram never received
    # The restarted bot sends the unsent ones (a new burst of 4), none twice.
    telegram.wait_for(lambda tg: len(tg.sent) >= len(before) + 4, timeout=30)
    assert bot.stop() == 0, bot.log
    sent = Counter(sent_ids(telegram))
    assert max(sent.values()) == 1, sent
    final = states(database_url)
    for pub_id in ids:
        state = final[f"{pub_id}/tg"]
        if pub_id in sent:
            assert state in ({"published", "unknown"} if pub_id in unknown else {"published"}), (
                pub_id,
                final,
            )
        else:
            assert state == "pending", (pub_id, final)
    assert set(sent) - before, "nothing sent after the restart"


def test_sigterm_during_a_burst_stops_at_once_leaving_the_rest_pending(
    tmp_path: Path, networks: tuple[FakeTelegram, FakeMastodon], database_url: str
) -> None:
    telegram, mastodon = networks
    deployment = Deployment(tmp_path, telegram, mastodon, database_url)
    ids = burst(deployment)
    bot = deployment.start()
    telegram.wait_for(lambda tg: len(tg.sent) >= 4, timeout=30)
    queued = BURST - len(telegram.sent)
    began = time.monotonic()
    code = bot.stop(signal.SIGTERM, timeout=150)
    elapsed = time.monotonic() - began
    print(f"\nSIGTERM with {queued} posts queued: stopped in {elapsed:.2f} s")
    assert code == 0, bot.log
    assert elapsed < 15, f"took {elapsed:.1f} s to stop"
    sent = Counter(sent_ids(telegram))
    assert max(sent.values()) == 1
    final = states(database_url)
    assert {final[f"{i}/tg"] for i in ids if i in sent} == {"published"}, final
    assert {final[f"{i}/tg"] for i in ids if i not in sent} == {"pending"}, final


@pytest.mark.postgres
def test_a_survivor_takes_over_the_rows_of_a_killed_process_within_seconds(
    tmp_path: Path, networks: tuple[FakeTelegram, FakeMastodon], postgres_url: str
) -> None:
    telegram, mastodon = networks
    telegram.add_chat(ALERT_CHAT, "supergroup", title="Équipe")
    deployment = Deployment(
        tmp_path, telegram, mastodon, postgres_url, extra_env={"RELAIS_ALERT_TELEGRAM_CHAT": str(ALERT_CHAT)}
    )
    due = datetime.now(UTC) + timedelta(seconds=2)
    masto = [(f"m{i}", due) for i in range(4)]
    tg = [(f"t{i}", due) for i in range(6)]  # 4 go on the wire at once, 2 wait in the limiter
    deployment.campaign(masto, to="masto")
    deployment.campaign(tg, name="d", to="tg")
    # Answers come late: the requests are on the wire when the first process dies.
    mastodon.delay(seconds=30, times=len(masto), path="/api/v1/statuses")
    telegram.delay(seconds=30, method="sendMessage", times=4)
    first = deployment.start()
    first.wait_for_line("running;")
    telegram.wait_for(lambda t: len(t.sent) >= 4, timeout=30)
    assert mastodon.wait_for(lambda: len(mastodon.statuses) == len(masto), timeout=30)
    survivor = deployment.start()
    survivor.wait_for_line("running;")
    on_the_wire = set(sent_ids(telegram))
    first.stop(signal.SIGKILL)
    final, elapsed = settle(postgres_url, lambda s: not {"sending", "pending"} & set(s.values()), timeout=30)
    print(f"\nthe survivor took over in {elapsed:.1f} s")
    assert elapsed < 15, final
    unknown = {p for p, _ in tg if final[f"{p}/tg"] == "unknown"}
    telegram.wait_for(lambda t: len([m for m in t.sent if m.chat_id == ALERT_CHAT]) >= len(unknown), 15)
    assert survivor.stop() == 0, survivor.log
    # Mastodon: sent again with the same key, so each post exists once and is published.
    assert Counter(posted_ids(mastodon)) == Counter(p for p, _ in masto)
    assert {final[f"{p}/masto"] for p, _ in masto} == {"published"}
    # Telegram: what was on the wire is unknown (and alerted), what was not went out once.
    assert Counter(i for i in sent_ids(telegram)) == Counter(p for p, _ in tg)
    assert unknown, final  # the killed process had requests on the wire, answered 30 s later
    assert unknown <= on_the_wire, final
    assert {final[f"{p}/tg"] for p, _ in tg if p not in unknown} == {"published"}, final
    alerts = [m.text.split()[1] for m in telegram.sent if m.chat_id == ALERT_CHAT]
    assert sorted(alerts) == sorted(unknown)


@pytest.mark.postgres
def test_a_store_outage_during_sends_leaves_no_row_sending(
    tmp_path: Path, networks: tuple[FakeTelegram, FakeMastodon], postgres_url: str
) -> None:
    telegram, mastodon = networks
    real = make_url(postgres_url)
    with TcpProxy(real.host or "127.0.0.1", real.port or 5432) as proxy:
        url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        deployment = Deployment(tmp_path, telegram, mastodon, url)
        due = datetime.now(UTC) + timedelta(seconds=2)
        posts = [(f"p{i}", due) for i in range(3)]
        deployment.campaign(posts)
        mastodon.delay(seconds=2, times=len(posts), path="/api/v1/statuses")
        telegram.delay(seconds=2, method="sendMessage", times=len(posts))
        bot = deployment.start()
        bot.wait_for_line("running;")
        telegram.wait_for(lambda t: len(t.sent) == len(posts), timeout=30)
        assert mastodon.wait_for(lambda: len(mastodon.statuses) == len(posts), timeout=30)
        proxy.cut()  # the answers come while the store is away: their outcomes cannot be written
        time.sleep(3.5)  # the outage
        proxy.restore()
        final, elapsed = settle(url, lambda s: set(s.values()) == {"published"}, timeout=30)
        print(f"\nall recorded {elapsed:.1f} s after the store came back")
        assert set(final.values()) == {"published"}, (final, bot.log)
        assert bot.stop() == 0, bot.log
    assert Counter(sent_ids(telegram)) == Counter(p for p, _ in posts)
    assert Counter(posted_ids(mastodon)) == Counter(p for p, _ in posts)

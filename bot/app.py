"""Composition: the one place that turns settings into a running bot (or a rehearsal)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import networks
from bot.clock import Clock, SimulatedClock, SystemClock
from bot.domain import Campaign
from bot.ports import ChannelError, NotConfigured, Notify, PermanentError, Sender, Source
from bot.problems import Problem
from bot.services.alerts import Alerts
from bot.services.doubts import Doubts
from bot.services.publisher import Publisher, RetryPolicy
from bot.services.runner import Runner
from bot.services.timers import SchedulerTimers, SimulatedTimers
from bot.services.watchdog import Watchdog
from bot.settings import Settings
from bot.store import database, in_memory, location, prepare
from bot.store.handle import Store
from bot.store.ledger import Ledger, StoreInUse, StoreNotWritable
from bot.wiring import SetupError, StoreBusy, adapter

if TYPE_CHECKING:
    from bot.findings import Finding
    from bot.store.ledger import Resolution, Row

log = logging.getLogger("bot")
RELOAD_DEBOUNCE_MS = 300
# The watcher's first tick says the watch is in place ("watching …", then a look for what
# changed before it); later ticks only let it look at ``stop``. 500 ms was a third of the
# 1.5 s in which relais run is to be watching (issue 11); a tick costs ~0.02 % of a CPU.
WATCH_TICK_MS = 100


def networks_used(campaigns: list[Campaign]) -> set[str]:
    return {channel.network for c in campaigns for channel in c.channels.values()}


def _in_order(used: set[str]) -> list[str]:
    """The networks ``used``, in the registry's order; an unknown one is an error."""
    for name in used:
        networks.profile(name)
    return [name for name in networks.names() if name in used]


def build_senders(settings: Settings, used: set[str]) -> dict[str, Sender]:
    """A sender per network the campaigns use; refuses to start without its credentials."""
    senders: dict[str, Sender] = {}
    for network in _in_order(used):
        try:
            senders[network] = adapter(network).sender(settings)
        except NotConfigured as error:
            raise SetupError(str(error)) from None
    return senders


def build_sources(settings: Settings, used: set[str]) -> dict[str, Source]:
    """A reader of replies per network the campaigns use (credentials checked by
    ``build_senders`` already)."""
    sources: dict[str, Source] = {}
    for network in _in_order(used):
        source = adapter(network).reader(settings)
        if source is not None:
            sources[network] = source
    return sources


def console_senders(console: object) -> dict[str, Sender]:
    from bot.adapters.console import ConsoleSender

    sender = ConsoleSender(console)  # type: ignore[arg-type]
    return dict.fromkeys(networks.names(), sender)


def alerts(settings: Settings, senders: Mapping[str, Sender]) -> Notify | None:
    """Where the staff is told of publications gone wrong: the first network whose adapter
    takes them (its alert chat, when its settings name one), or nowhere."""
    for network, sender in senders.items():
        notify = adapter(network).alerts(settings, sender)
        if notify is not None:
            return notify
    return None


async def network_checks(settings: Settings, campaigns: list[Campaign]) -> list[Finding]:
    """``relais check`` against the networks the campaigns use, and those the staff's alerts
    go through: each one's profile judges what its adapter's inspector answers. Where no
    network has an alert chat, a warning follows the first network that could take one."""
    from bot.findings import Finding, Level

    used = networks_used(campaigns)
    alerted = any(p.alert_chat(settings) for p in networks.registered())
    findings: list[Finding] = []
    for profile in networks.registered():
        if profile.name in used or profile.alert_chat(settings):
            findings += await _network_check(profile, settings, campaigns)
        if not alerted and profile.alert_setup is not None:
            alerted = True  # said once
            findings.append(
                Finding(
                    Level.WARNING,
                    "alerts",
                    "no alert chat: failed, unknown and missed publications, a stalled or restarted bot and "
                    "a campaign file that stops validating are told to nobody",
                    profile.alert_setup,
                )
            )
    return findings


async def _network_check(
    profile: networks.Profile, settings: Settings, campaigns: list[Campaign]
) -> list[Finding]:
    from bot.findings import Finding, Level

    try:
        inspector = adapter(profile.name).inspector(settings)
    except NotConfigured as error:
        return [Finding(Level.ERROR, profile.name, str(error))]
    try:
        return await profile.check(inspector, campaigns, settings)
    finally:
        await inspector.close()


async def _checks_at_start(settings: Settings, campaigns: list[Campaign]) -> None:
    """``relais run``: what ``relais check`` would find, as warnings (a missing right says
    so now, naming the chat, rather than at the first due post)."""
    from bot.findings import Level

    try:
        findings = await network_checks(settings, campaigns)
    except Exception as error:  # a check must never stop the bot
        log.warning("the checks at start could not run: %s", type(error).__name__)
        return
    for finding in findings:
        if finding.level is not Level.OK:
            fix = f"; fix: {finding.fix}" if finding.fix else ""
            log.warning("check: %s: %s%s", finding.subject, finding.message, fix)


@contextmanager
def open_store(url: str) -> Iterator[Store]:
    """The store at ``url`` (absolute: see ``bot.store``), created if need be and migrated
    to the current schema, with this process registered in its ledger; closed on the way
    out, whatever happens."""
    prepare(url)
    with Store.open(url) as store:
        try:
            store.ledger.register()  # before migrating: a second process on SQLite stops here
            database.upgrade(store.engine)
            yield store
        except StoreInUse as error:
            raise StoreBusy(str(error)) from None
        except StoreNotWritable as error:
            raise SetupError(str(error)) from None


def warn_if_new_store(ledger: Ledger, campaigns: list[Campaign], now: datetime, url: str) -> None:
    """Say so when the bot starts on a store that records nothing while publications are
    already past due: if it ran before, it is looking at another store than last time."""
    if in_memory(url) or ledger.counts():
        return  # an in-memory store (a dry run) is always new; a store with rows is not
    due = sum(p.at <= now for c in campaigns for p in c.publications)
    if due:
        log.warning(
            "new empty store at %s while %d publications are already past due: if the bot ran before, "
            "its store is elsewhere (RELAIS_DATABASE_URL)",
            location(url),
            due,
        )


async def serve(
    settings: Settings,
    campaigns: list[Campaign],
    senders: Mapping[str, Sender],
    *,
    database_url: str,
    sources: Mapping[str, Source] | None = None,
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
    check: bool = False,
) -> None:
    """``relais run``: publish on time and collect replies until SIGTERM or SIGINT,
    reloading schedules/ on change; with ``check``, what ``relais check`` finds on the
    networks is logged as warnings at start (in the background)."""
    from bot.logs import redactor

    clock = clock or SystemClock()
    sources = dict(sources or {})
    # A stop asked while starting (systemd's, at any moment) is heard from the first step:
    # the start goes on to its end, then the bot stops as it would once running.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    parts: list[tuple[str, Sender | Source]] = [*senders.items(), *sources.items()]
    for network, part in parts:
        try:
            await part.start()
        except PermanentError as error:
            raise SetupError(str(error)) from None
        except ChannelError as error:  # the network is down: keep going, it will be retried
            log.error("%s is not reachable at start (%s); it will be retried", network, error)
    checks = asyncio.create_task(_checks_at_start(settings, campaigns)) if check else None
    with open_store(database_url) as store:
        ledger = store.ledger
        warn_if_new_store(ledger, campaigns, clock.now(), database_url)
        notify = alerts(settings, senders)
        alert = Alerts(store, clock, notify).flush if notify is not None else None
        redact = redactor(settings.secrets())
        doubts = Doubts(store, clock)
        publisher = Publisher(
            store, senders, clock, retry=retry, redact=redact, on_outcome=alert, doubts=doubts
        )
        recovered = await store.run(ledger.recover, clock.now())
        for row in recovered:
            log.warning("%s: left in the middle of a send by a stopped process: now %s", row.key, row.state)
        runner_ref: list[Runner] = []
        watchdog = Watchdog(
            store,
            clock,
            notify,
            lambda: {p.key for c in runner_ref[0].campaigns.values() for p in c.publications},
        )
        await watchdog.start(p for c in campaigns for p in c.publications)
        timers = SchedulerTimers(on_error=lambda key, error: log.error("timer %s: %r", key, error))
        timers.start()
        runner = Runner(publisher, timers, settings.schedules_dir, settings.messages_dir, on_change=alert)
        runner.campaigns = {c.source: c for c in campaigns}
        runner_ref.append(runner)
        await runner.apply(campaigns)
        if alert is not None:
            await alert()
        watcher = asyncio.create_task(_watch(runner, stop, notify))
        beater = asyncio.create_task(watchdog.run(stop))
        sweeper = asyncio.create_task(publisher.watch())  # takes over sends no one finishes
        collectors, locks = _start_collectors(settings, store, runner, sources, clock, stop)
        collectors += _start_acknowledgers(store, runner, sources, clock, stop)
        log.info("running; %d campaign(s); stop with Ctrl-C or SIGTERM", len(campaigns))
        await stop.wait()
        log.info("stopping: the requests on the wire finish, the sends waiting are left pending")
        timers.shutdown()
        watcher.cancel()
        sweeper.cancel()
        await asyncio.gather(beater, return_exceptions=True)
        if checks is not None:
            checks.cancel()
            await asyncio.gather(checks, return_exceptions=True)
        await asyncio.gather(sweeper, return_exceptions=True)
        for task in collectors:
            task.cancel()
        await asyncio.gather(*collectors, return_exceptions=True)
        for lock in locks:
            lock.release()
        await publisher.stop()
        for _, part in parts:
            await part.close()
        await watchdog.stop()
    log.info("stopped")


def _start_collectors(
    settings: Settings,
    store: Store,
    runner: Runner,
    sources: Mapping[str, Source],
    clock: Clock,
    stop: asyncio.Event,
) -> tuple[list[asyncio.Task], list[Any]]:
    """One task per network that reads the replies to the campaigns: its adapter's loop."""
    from bot.services.collector import Collector, CollectorTiming

    collector = Collector(
        store,
        clock,
        lambda: list(runner.campaigns.values()),
        CollectorTiming(poll=settings.poll_seconds),
    )
    tasks: list[asyncio.Task[None]] = []
    locks: list[Any] = []
    for network, source in sources.items():
        locks.append(lock := store.lock(network))
        tasks.append(asyncio.create_task(adapter(network).collect(collector, source, lock, stop)))
    return tasks, locks


def _start_acknowledgers(
    store: Store,
    runner: Runner,
    sources: Mapping[str, Source],
    clock: Clock,
    stop: asyncio.Event,
) -> list[asyncio.Task]:
    """One task per network that sends the favourites and 👍 owed to approved replies, at
    its own pace, beside the collectors (never in their way)."""
    from bot.services.acknowledgements import Acknowledger

    return [
        asyncio.create_task(
            Acknowledger(network, source, store, clock, lambda: list(runner.campaigns.values())).run(stop)
        )
        for network, source in sources.items()
    ]


async def _watch(runner: Runner, stop: asyncio.Event, notify: Notify | None = None) -> None:
    """Reload the campaigns when schedules/ or messages/ change; the alert chat is told when
    a file stops validating (once per set of problems)."""
    from watchfiles import awatch

    paths = [p for p in (runner.schedules, runner.messages) if p.exists()]
    loaded = runner.fingerprint()
    watching = False
    told: dict[str, tuple[str, ...]] = {}  # by file: the problems the alert chat was told
    async for changes in awatch(
        *paths,
        stop_event=stop,
        debounce=RELOAD_DEBOUNCE_MS,
        recursive=True,
        rust_timeout=WATCH_TICK_MS,
        yield_on_timeout=True,
    ):
        if not changes and watching:
            continue
        if not changes:  # the first tick: the watch is in place; catch what changed before it
            watching = True
            log.info("watching %s for changes", ", ".join(str(p) for p in paths))
            if runner.fingerprint() == loaded:
                continue
        log.info("campaign files changed: reloading")
        try:
            problems = await runner.reload()
        except Exception:  # a reload must never stop the bot
            log.exception("reload failed; the previous campaigns keep running")
            continue
        told = await _tell_invalid(problems, told, notify)


async def _tell_invalid(
    problems: list[Problem], told: dict[str, tuple[str, ...]], notify: Notify | None
) -> dict[str, tuple[str, ...]]:
    """Tell the alert chat of each file whose errors are new since the last reload; returns
    what has been told now (a file that validates again is forgotten)."""
    from bot.services.alerts import invalid_text

    now: dict[str, list[Problem]] = {}
    for problem in problems:
        if problem.is_error:
            now.setdefault(problem.file, []).append(problem)
    current = {file: tuple(str(p) for p in found) for file, found in now.items()}
    for file, found in now.items():
        if notify is not None and told.get(file) != current[file]:
            try:
                await notify(invalid_text(file, found))
            except ChannelError as error:
                log.error("could not tell the alert chat that %s no longer validates: %s", file, error)
    return current


async def rehearse(
    campaigns: list[Campaign],
    senders: Mapping[str, Sender],
    start: datetime,
    speed: float | None,
    schedules: Path,
    messages: Path,
) -> dict[str, int]:
    """``relais run --dry-run --from DATE``: the real publishing code on a simulated clock,
    with an in-memory ledger, so nothing is recorded. Returns the count per final state."""
    clock = SimulatedClock(start, speed)
    with open_store("sqlite://") as store:
        publisher = Publisher(store, senders, clock)
        timers = SimulatedTimers(clock)
        runner = Runner(publisher, timers, schedules, messages)
        await runner.apply(campaigns)
        await timers.run(after_each=publisher.drain)
        await publisher.stop()
        return store.ledger.counts()


def quiet_logging_for_rehearsal() -> None:
    logging.getLogger("bot").setLevel(logging.ERROR)


async def settle(
    settings: Settings,
    engine: Any,
    url: str,
    keys: list[str],
    action: Resolution,
    actor: str,
    reason: str | None,
    link: str | None,
    campaigns: list[Campaign],
    say: Callable[[str], None],
) -> dict[str, Row]:
    """``relais resolve``: record a person's decision (``Ledger.resolve``; ``Unsettleable``
    changes nothing), send again what they asked to resend — from here, or by the
    ``relais run`` that holds the SQLite store — and tell the alert chat. A network that
    does not answer for a resend is a ``SetupError`` before anything changes. ``say``
    takes the warnings and notices meant for the person."""
    from bot.clock import SystemClock
    from bot.services.alerts import resolution_text
    from bot.services.resolve import action_words, outcome
    from bot.store.ledger import Resolution

    clock = SystemClock()
    ledger = Ledger(engine, "resolve")
    senders: dict[str, Sender] = {}
    try:
        if action is Resolution.RESEND:  # the accounts work, before the rows change
            networks = {p.channel.network for c in campaigns for p in c.publications if p.key in keys}
            senders = await _started(settings, networks)
        notify, extra = await _notifier(settings, senders, say)
        senders.update(extra)
        remote_id = _remote_id(ledger, keys, link)
        settled = ledger.resolve(
            keys, action, clock.now(), actor=actor, reason=reason, url=link, remote_id=remote_id
        )
        rows = {r.key: r for r in settled}
        if action is Resolution.RESEND:
            rows = await _send_again(url, senders, clock, campaigns, keys, ledger, say)
        for key in keys:
            if notify is not None:
                text = resolution_text(key, action_words(action), actor, reason, outcome(rows[key]))
                try:
                    await notify(text)
                except ChannelError as error:
                    say(f"warning: the alert chat was not told: {error}")
        return rows
    finally:
        for sender in senders.values():
            await sender.close()


def _remote_id(ledger: Ledger, keys: list[str], link: str | None) -> str | None:
    """The remote id a post's link names, where its network's links say it
    (``Profile.linked_id``), so that the replies under a post marked published are collected."""
    if link is None or len(keys) != 1:
        return None
    row = ledger.rows(keys).get(keys[0])
    profile = networks.find(row.network) if row is not None else None
    return profile.linked_id(link) if profile is not None else None


async def _started(settings: Settings, networks: set[str]) -> dict[str, Sender]:
    """The senders of ``networks``, started: a ``SetupError`` if one does not answer."""
    senders = build_senders(settings, networks)
    for network, sender in senders.items():
        try:
            await sender.start()
        except ChannelError as error:
            for opened in senders.values():
                await opened.close()
            raise SetupError(f"{network}: {error}; nothing was changed (relais check says more)") from None
    return senders


async def _notifier(
    settings: Settings, senders: dict[str, Sender], say: Callable[[str], None]
) -> tuple[Notify | None, dict[str, Sender]]:
    """Where a decision is told: the first registered network with an alert chat and the
    credentials to tell it, through its open sender or one opened only for that (returned
    too, to be closed)."""
    extra: dict[str, Sender] = {}
    for profile in networks.registered():
        if not profile.alert_chat(settings):
            continue
        sender = senders.get(profile.name)
        if sender is None:
            try:
                sender = adapter(profile.name).sender(settings)
            except NotConfigured:
                continue  # nothing to tell it with
            extra[profile.name] = sender
            try:
                await sender.start()
            except ChannelError as error:
                say(f"warning: the alert chat cannot be told: {error}")
                return None, extra
        notify = adapter(profile.name).alerts(settings, sender)
        if notify is not None:
            return notify, extra
    return None, extra


async def _send_again(
    url: str,
    senders: dict[str, Sender],
    clock: Clock,
    campaigns: list[Campaign],
    keys: list[str],
    ledger: Ledger,
    say: Callable[[str], None],
) -> dict[str, Row]:
    """Send them from here, or let the ``relais run`` that holds the SQLite store do it."""
    from bot.services.resolve import send_again, wait_for_outcome

    try:
        with open_store(url) as store:
            return await send_again(store, senders, clock, campaigns, keys)
    except StoreBusy:  # another relais run holds this SQLite store: it sends them
        say("relais run is running on this store: it sends them within a few seconds…")
        return await wait_for_outcome(ledger, clock, keys)

"""``relais check``: whether every channel of every campaign can work, asked of the real
networks and the store, each finding with the fix. ``relais run`` runs the network checks
at start, and says what it finds as warnings.

The adapters answer the questions (``bot.ports.TelegramInspector``, ``MastodonInspector``:
facts, no judgement); this module judges them against what the campaigns need.
"""

from __future__ import annotations

import mimetypes
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from bot.domain import Campaign, Publication
from bot.networks import mastodon as mastodon_profile
from bot.ports import (
    ChannelError,
    MastodonInspector,
    MastodonLimits,
    PermanentError,
    TelegramBotInfo,
    TelegramChatInfo,
    TelegramInspector,
)

T = TypeVar("T")
_SHOWN = 5  # publications named in one finding; the rest counted


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"  # works, but not as well as it could: exit 0
    ERROR = "error"  # will fail: exit 1


@dataclass(frozen=True)
class Finding:
    level: Level
    subject: str  # what was checked: "telegram", "telegram @chat", "mastodon", "store"
    message: str
    fix: str | None = None


class Unreachable(Exception):
    """A question could not be answered; the finding that says so is in ``finding``."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def failed(findings: Iterable[Finding]) -> bool:
    return any(f.level is Level.ERROR for f in findings)


# -- Telegram ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatUse:
    """A Telegram chat and the channels (campaign/channel) that post to it."""

    ref: str | int
    channels: tuple[str, ...]


def telegram_chats(campaigns: Sequence[Campaign]) -> list[ChatUse]:
    uses: dict[str | int, list[str]] = {}
    for campaign in campaigns:
        for channel in campaign.channels.values():
            if channel.network == "telegram" and channel.chat is not None:
                uses.setdefault(channel.chat, []).append(f"{campaign.slug}/{channel.name}")
    return [ChatUse(ref, tuple(names)) for ref, names in uses.items()]


async def check_telegram(
    inspector: TelegramInspector, chats: Sequence[ChatUse], alert_chat: str | None
) -> list[Finding]:
    """The token, each chat the campaigns post to and the bot's rights there, each channel's
    discussion group (where comments are), the alert chat."""
    try:
        me = await _ask("telegram", inspector.me)
    except Unreachable as error:
        return [error.finding]
    bot = f"@{me.username}" if me.username else f"the bot ({me.id})"
    findings = [Finding(Level.OK, "telegram", f"the token works: {bot}")]
    for use in chats:
        findings += await _telegram_chat(inspector, me, bot, use)
    if alert_chat:
        findings += await _alert_chat(inspector, me, bot, alert_chat)
    return findings


async def _telegram_chat(
    inspector: TelegramInspector, me: TelegramBotInfo, bot: str, use: ChatUse
) -> list[Finding]:
    subject = f"telegram {use.ref}"
    used = f"used by {', '.join(use.channels)}"
    try:
        chat = await _ask(subject, lambda: inspector.chat(use.ref))
        if chat is None:
            return [
                Finding(
                    Level.ERROR,
                    subject,
                    f"Telegram knows no chat {use.ref} ({used})",
                    f"check `chat:` in the campaign file (a public chat's @username, or a private one's "
                    f"numeric id, -100…) and add {bot} to that chat",
                )
            ]
        member = await _ask(subject, lambda: inspector.membership(chat.id, me.id))
    except Unreachable as error:
        return [error.finding]
    name = _name(chat)
    findings: list[Finding] = []
    status = member.status if member else "left"
    if chat.type == "channel":
        if status == "creator" or (status == "administrator" and member and member.can_post_messages):
            findings.append(Finding(Level.OK, subject, f"{bot} may post in channel {name} ({used})"))
        elif status == "administrator":
            findings.append(
                Finding(
                    Level.ERROR,
                    subject,
                    f"{bot} is an administrator of channel {name} but may not post there ({used})",
                    f'in {name}\'s administrators, give {bot} the right "Post messages"',
                )
            )
        else:
            findings.append(
                Finding(
                    Level.ERROR,
                    subject,
                    f"{bot} is not an administrator of channel {name} ({used})",
                    f'add {bot} to {name}\'s administrators with the right "Post messages"',
                )
            )
        findings += await _discussion(inspector, me, bot, chat, subject)
    elif chat.type in ("group", "supergroup"):
        if status in ("creator", "administrator", "member") or (
            status == "restricted" and member and member.can_send_messages
        ):
            findings.append(Finding(Level.OK, subject, f"{bot} is a member of group {name} ({used})"))
        elif status == "restricted":
            findings.append(
                Finding(
                    Level.ERROR,
                    subject,
                    f"{bot} may not send messages in group {name} ({used})",
                    f"lift the restriction on {bot} in {name}",
                )
            )
        else:
            findings.append(
                Finding(
                    Level.ERROR,
                    subject,
                    f"{bot} is not a member of group {name} ({used})",
                    f"add {bot} to {name}" + (" (it was removed from it)" if status == "kicked" else ""),
                )
            )
    else:
        findings.append(Finding(Level.OK, subject, f"{name} is a {chat.type} chat ({used})"))
    return findings


async def _discussion(
    inspector: TelegramInspector, me: TelegramBotInfo, bot: str, channel: TelegramChatInfo, subject: str
) -> list[Finding]:
    """The channel's discussion group, where the comments on its posts are."""
    name = _name(channel)
    if channel.linked_chat_id is None:
        return [
            Finding(
                Level.WARNING,
                subject,
                f"channel {name} has no discussion group: its posts cannot be commented on, so no "
                "comment on them will be collected",
                f"link a discussion group to {name} (Channel settings > Discussion) and add {bot} to it",
            )
        ]
    try:
        group = await _ask(subject, lambda: inspector.chat(channel.linked_chat_id or 0))
        member = await _ask(subject, lambda: inspector.membership(channel.linked_chat_id or 0, me.id))
    except Unreachable as error:
        return [error.finding]
    where = _name(group) if group else str(channel.linked_chat_id)
    status = member.status if member else "left"
    if group is None or status not in ("creator", "administrator", "member", "restricted"):
        return [
            Finding(
                Level.WARNING,
                subject,
                f"comments on {name}'s posts will not be collected: {bot} is not in its discussion "
                f"group {where}",
                f"add {bot} to {where} (as an administrator, or with privacy mode off)",
            )
        ]
    if status in ("creator", "administrator") or me.can_read_all_group_messages:
        how = "an administrator" if status in ("creator", "administrator") else "a member, privacy mode off"
        return [
            Finding(
                Level.OK, subject, f"{bot} sees the comments in {where}, {name}'s discussion group ({how})"
            )
        ]
    return [
        Finding(
            Level.WARNING,
            subject,
            f"comments on {name}'s posts will not be collected: in {where} {bot} is a member in privacy "
            "mode, which only sees commands and replies to its own messages",
            f"make {bot} an administrator of {where}, or turn privacy mode off with @BotFather "
            "(/setprivacy, Disable) and add it to the group again",
        )
    ]


async def _alert_chat(inspector: TelegramInspector, me: TelegramBotInfo, bot: str, ref: str) -> list[Finding]:
    subject = f"telegram {ref} (alerts)"
    try:
        chat = await _ask(subject, lambda: inspector.chat(ref))
        if chat is None:
            return [
                Finding(
                    Level.ERROR,
                    subject,
                    f"the alert chat {ref} (RELAIS_ALERT_TELEGRAM_CHAT) is not known to Telegram",
                    f"check RELAIS_ALERT_TELEGRAM_CHAT and add {bot} to that chat",
                )
            ]
        member = await _ask(subject, lambda: inspector.membership(chat.id, me.id))
    except Unreachable as error:
        return [error.finding]
    status = member.status if member else "left"
    may = (
        status == "creator"
        or (
            status == "administrator"
            and (chat.type != "channel" or bool(member and member.can_post_messages))
        )
        or (status == "member" and chat.type != "channel")
        or chat.type == "private"
    )
    if may:
        return [Finding(Level.OK, subject, f"{bot} can tell the alert chat {_name(chat)}")]
    return [
        Finding(
            Level.ERROR,
            subject,
            f"{bot} cannot write to the alert chat {_name(chat)}: alerts would be lost",
            f"add {bot} to {_name(chat)}"
            + (" as an administrator allowed to post" if chat.type == "channel" else ""),
        )
    ]


def _name(chat: TelegramChatInfo) -> str:
    if chat.username:
        return f"@{chat.username}"
    return f'"{chat.title}" ({chat.id})' if chat.title else str(chat.id)


# -- Mastodon ------------------------------------------------------------------------------

READ_SCOPES = ("read:accounts", "read:statuses", "read:notifications")


def mastodon_scopes(campaigns: Sequence[Campaign]) -> list[str]:
    """The scopes Relais uses with these campaigns: reading the account, the hashtags, the
    mentions and the replies; posting; uploading media if a post has some; favouriting if a
    campaign acknowledges replies."""
    pubs = _mastodon_publications(campaigns)
    needed = [*READ_SCOPES, "write:statuses"]
    if any(p.media for p in pubs):
        needed.append("write:media")
    if any(c.acknowledge for c in campaigns if any(ch.network == "mastodon" for ch in c.channels.values())):
        needed.append("write:favourites")
    return needed


async def check_mastodon(inspector: MastodonInspector, campaigns: Sequence[Campaign]) -> list[Finding]:
    """The token and its scopes, the account's bot flag, the instance's limits against what
    the campaigns post."""
    try:
        account = await _ask("mastodon", inspector.account)
    except Unreachable as error:
        return [error.finding]
    findings = [Finding(Level.OK, "mastodon", f"the token works: @{account.acct}")]
    if not account.bot:
        findings.append(
            Finding(
                Level.WARNING,
                "mastodon",
                f"@{account.acct} is not marked as a bot",
                'tick "This is an automated account" in Preferences > Profile on the instance, so '
                "that people know posts and favourites come from a bot",
            )
        )
    try:
        scopes = await _ask("mastodon", inspector.scopes)
        limits = await _ask("mastodon", inspector.limits)
    except Unreachable as error:
        return [*findings, error.finding]
    findings.append(_scopes(scopes, mastodon_scopes(campaigns)))
    findings += _limits(limits, _mastodon_publications(campaigns))
    return findings


def _scopes(granted: tuple[str, ...] | None, needed: Sequence[str]) -> Finding:
    if granted is None:
        return Finding(
            Level.WARNING,
            "mastodon",
            "the instance does not say which scopes the token has (Mastodon before 4.3)",
            f"make sure the token's application has {' '.join(needed)} (or read and write)",
        )
    missing = [s for s in needed if s not in granted and s.split(":", 1)[0] not in granted]
    if not missing:
        return Finding(Level.OK, "mastodon", f"the token has the scopes Relais uses ({' '.join(granted)})")
    return Finding(
        Level.ERROR,
        "mastodon",
        f"the token lacks the scope(s) {', '.join(missing)}",
        "in Preferences > Development on the instance, give the application the scopes "
        f"{' '.join(needed)} (or read and write), then put its new access token in RELAIS_MASTODON_TOKEN",
    )


def _limits(limits: MastodonLimits | None, pubs: Sequence[Publication]) -> list[Finding]:
    if limits is None:
        return [
            Finding(
                Level.WARNING,
                "mastodon",
                "the instance does not publish its limits (no /api/v2/instance: Mastodon before 4.0)",
                "check by hand that it takes 500 characters a post and the campaigns' media",
            )
        ]
    findings: list[Finding] = []
    url_length = limits.characters_reserved_per_url or mastodon_profile.URL_LENGTH
    maximum = limits.max_characters or mastodon_profile.DEFAULT_LIMIT
    assumed = {p.channel.max_characters or mastodon_profile.DEFAULT_LIMIT for p in pubs}
    too_long = [
        (p, n) for p in pubs if (n := mastodon_profile.length(p.text, p.warning or "", url_length)) > maximum
    ]
    if too_long:
        findings.append(
            Finding(
                Level.ERROR,
                "mastodon",
                f"the instance takes {maximum} characters a post (a link counts {url_length}) and "
                f"{len(too_long)} post(s) are longer: " + _named([f"{p.key} ({n})" for p, n in too_long]),
                "shorten them, or set the channel's max_characters to the instance's limit so that "
                "relais validate checks it",
            )
        )
    elif assumed and max(assumed) > maximum:
        findings.append(
            Finding(
                Level.WARNING,
                "mastodon",
                f"the campaigns assume {max(assumed)} characters a post; the instance takes {maximum}",
                f"set the channel's max_characters to {maximum}",
            )
        )
    most = limits.max_media_attachments
    crowded = [p.key for p in pubs if most is not None and len(p.media) > most]
    if crowded:
        findings.append(
            Finding(
                Level.ERROR,
                "mastodon",
                f"the instance takes {most} media a post; more in: " + _named(crowded),
                f"keep at most {most} media in each",
            )
        )
    findings += _media(limits, pubs)
    if not findings:
        summary = f"{maximum} characters a post (a link counts {url_length})"
        if most is not None:
            summary += f", {most} media"
        if limits.image_size_limit:
            summary += f", images up to {limits.image_size_limit // 2**20} MB"
        findings.append(Finding(Level.OK, "mastodon", f"the instance takes every post: {summary}"))
    return findings


def _media(limits: MastodonLimits, pubs: Sequence[Publication]) -> list[Finding]:
    refused: dict[Path, str] = {}
    for p in pubs:
        for item in p.media:
            if item.path in refused:
                continue
            kind = mimetypes.guess_type(item.path.name)[0]
            if limits.supported_mime_types is not None and kind not in limits.supported_mime_types:
                refused[item.path] = (
                    f"{item.path.name} ({kind or 'unknown type'}: the instance does not take it)"
                )
                continue
            cap = limits.video_size_limit if kind and kind.startswith("video/") else limits.image_size_limit
            try:
                size = os.stat(item.path).st_size
            except OSError:
                continue  # relais validate says so
            if cap is not None and size > cap:
                refused[item.path] = (
                    f"{item.path.name} ({size // 2**20} MB, the instance takes {cap // 2**20} MB)"
                )
    if not refused:
        return []
    return [
        Finding(
            Level.ERROR,
            "mastodon",
            "the instance refuses media of the campaigns: " + _named(list(refused.values())),
            "make them smaller or convert them (JPEG, PNG, MP4)",
        )
    ]


def _mastodon_publications(campaigns: Sequence[Campaign]) -> list[Publication]:
    return [p for c in campaigns for p in c.publications if p.channel.network == "mastodon"]


def _named(items: Sequence[str]) -> str:
    more = len(items) - _SHOWN
    return ", ".join(items[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


# -- the store -----------------------------------------------------------------------------


def check_store(url: str) -> list[Finding]:
    """Where the store is, whether it opens, is migrated, and can be written."""
    from bot.store import database, location, missing_file, sqlite_file

    where = location(url)
    path = sqlite_file(url)
    found = [Finding(Level.OK, "store", f"the store is {where}" + (" (SQLite)" if path else ""))]
    if missing_file(url):
        assert path is not None
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not os.access(parent, os.W_OK):
            return [
                *found,
                Finding(
                    Level.ERROR,
                    "store",
                    f"no store yet at {where}, and {parent} cannot be written: relais run cannot create it",
                    f"give the user that runs relais write access to {parent}, or set RELAIS_STATE_DIR",
                ),
            ]
        return [
            *found,
            Finding(
                Level.WARNING,
                "store",
                f"no store yet at {where}: relais run creates it",
                "if the bot ran before, its store is elsewhere: set RELAIS_DATABASE_URL or RELAIS_STATE_DIR",
            ),
        ]
    blocked = _unwritable(path) if path is not None else None
    if path is not None and blocked is not None:
        found.append(
            Finding(
                Level.ERROR,
                "store",
                f"{blocked} cannot be written: the bot could not record what it publishes",
                f"give the user that runs relais write access to {path} and {path.parent} "
                "(SQLite writes a journal beside it), on a disk mounted read-write",
            )
        )
        return found  # SQLite cannot even read it in WAL mode: nothing more to learn
    try:
        engine = database.create(url)
    except database.StoreError as error:
        return [*found, Finding(Level.ERROR, "store", str(error), "fix RELAIS_DATABASE_URL")]
    try:
        current = database.is_current(engine)
        read_only = engine.dialect.name == "postgresql" and _postgres_read_only(engine)
    except database.StoreError as error:
        return [
            *found,
            Finding(
                Level.ERROR,
                "store",
                str(error),
                "check that the database server runs and RELAIS_DATABASE_URL",
            ),
        ]
    except Exception as error:  # the driver's: unreachable server, refused login
        said = database.store_failure(error) or type(error).__name__
        return [
            *found,
            Finding(
                Level.ERROR,
                "store",
                f"cannot open {where}: {said}",
                "check that the database server runs and RELAIS_DATABASE_URL",
            ),
        ]
    finally:
        engine.dispose()
    if read_only:
        found.append(
            Finding(
                Level.ERROR,
                "store",
                f"{where} is read-only (a standby?)",
                "point RELAIS_DATABASE_URL at the primary",
            )
        )
    if current:
        found.append(Finding(Level.OK, "store", "it opens and is migrated"))
    else:
        found.append(
            Finding(
                Level.WARNING,
                "store",
                "it is not migrated to this version of Relais",
                "relais run migrates it at start; or run relais db upgrade (back it up first)",
            )
        )
    return found


def _unwritable(path: Path) -> Path | None:
    """The SQLite file, or its directory, if it cannot be written (tried, not guessed from
    the permission bits: root ignores those, a read-only disk or an immutable file does not)."""
    try:
        with open(path, "r+b"):  # opened for writing, nothing written
            pass
    except OSError:
        return path
    try:
        handle, probe = tempfile.mkstemp(dir=path.parent, prefix=".relais-check-")
        os.close(handle)
        os.unlink(probe)
    except OSError:
        return path.parent
    return None


def _postgres_read_only(engine: object) -> bool:
    from sqlalchemy import text

    with engine.connect() as connection:  # type: ignore[attr-defined]
        return str(connection.execute(text("SHOW transaction_read_only")).scalar()) == "on"


# -- answers -------------------------------------------------------------------------------


async def _ask(subject: str, question: Callable[[], Awaitable[T]]) -> T:
    """The answer, or ``Unreachable`` with the finding that names the fix."""
    try:
        return await question()
    except PermanentError as error:
        raise Unreachable(Finding(Level.ERROR, subject, str(error), _fix_for(subject, str(error)))) from None
    except ChannelError as error:
        network = subject.split()[0]
        setting = "RELAIS_TELEGRAM_API_URL" if network == "telegram" else "RELAIS_MASTODON_URL"
        raise Unreachable(
            Finding(
                Level.ERROR,
                subject,
                f"{network} did not answer: {error}",
                f"check the machine's network access and {setting}, then run relais check again",
            )
        ) from None


def _fix_for(subject: str, message: str) -> str | None:
    if message.startswith("RELAIS_TELEGRAM_API_URL answered"):
        return "set RELAIS_TELEGRAM_API_URL to https://api.telegram.org, or to your own Bot API server"
    if "RELAIS_TELEGRAM_TOKEN" in message:
        return "copy the token again from @BotFather into RELAIS_TELEGRAM_TOKEN"
    if "RELAIS_MASTODON_TOKEN" in message:
        return "create an access token in Preferences > Development, put it in RELAIS_MASTODON_TOKEN"
    if "outside the authorized scopes" in message:
        return "give the token's application the scopes read and write (Preferences > Development)"
    return None

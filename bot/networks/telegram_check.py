"""``relais check`` for Telegram: what the adapter's inspector answers (``TelegramInspector``:
questions to the Bot API that send nothing, facts only), judged against what the campaigns
need: the token, each chat the campaigns post to and the bot's rights there, each channel's
discussion group (where comments are), the alert chat."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from bot.domain import Campaign
from bot.findings import Finding, Level, Unreachable, ask
from bot.networks.telegram import NAME

T = TypeVar("T")
SERVER = "RELAIS_TELEGRAM_API_URL"  # the setting a server that does not answer is named by


@dataclass(frozen=True)
class TelegramBotInfo:
    """``getMe``: who the bot is, and whether privacy mode is off."""

    id: int
    username: str | None
    can_read_all_group_messages: bool


@dataclass(frozen=True)
class TelegramChatInfo:
    """``getChat``: a chat, and the discussion group linked to it (a channel's)."""

    id: int
    type: str  # channel, group, supergroup, private
    title: str | None
    username: str | None
    linked_chat_id: int | None


@dataclass(frozen=True)
class TelegramMembership:
    """``getChatMember`` for the bot: its status and the rights that matter to Relais."""

    status: str  # creator, administrator, member, restricted, left, kicked
    can_post_messages: bool | None  # an administrator of a channel
    can_send_messages: bool | None  # a restricted member


class TelegramInspector(Protocol):
    """Questions to the Bot API that send nothing. A chat or a membership Telegram does not
    know comes back as None; a refused token as ``PermanentError``; an unreachable server
    as ``TemporaryError``."""

    async def me(self) -> TelegramBotInfo: ...

    async def chat(self, ref: str | int) -> TelegramChatInfo | None: ...

    async def membership(self, chat_id: int, user_id: int) -> TelegramMembership | None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ChatUse:
    """A Telegram chat and the channels (campaign/channel) that post to it."""

    ref: str | int
    channels: tuple[str, ...]


def telegram_chats(campaigns: Sequence[Campaign]) -> list[ChatUse]:
    uses: dict[str | int, list[str]] = {}
    for campaign in campaigns:
        for channel in campaign.channels.values():
            if channel.network == NAME and channel.chat is not None:
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


async def _ask(subject: str, question: Callable[[], Awaitable[T]]) -> T:
    return await ask(subject, question, server=SERVER, fixes=_fix_for)


def _fix_for(message: str) -> str | None:
    if message.startswith("RELAIS_TELEGRAM_API_URL answered"):
        return "set RELAIS_TELEGRAM_API_URL to https://api.telegram.org, or to your own Bot API server"
    if "RELAIS_TELEGRAM_TOKEN" in message:
        return "copy the token again from @BotFather into RELAIS_TELEGRAM_TOKEN"
    return None

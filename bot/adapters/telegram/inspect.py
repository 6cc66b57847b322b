"""Questions to the Bot API that send nothing, for ``relais check``: who the bot is
(getMe), a chat (getChat) and the bot's membership in it (getChatMember)."""

from __future__ import annotations

from telegram import ChatMemberAdministrator, ChatMemberRestricted

from bot.adapters.telegram.sender import _chat_ref
from bot.adapters.telegram.transport import TelegramBot
from bot.networks.telegram_check import TelegramBotInfo, TelegramChatInfo, TelegramMembership
from bot.ports import PermanentError

_NOT_FOUND = ("chat not found", "user not found", "member not found", "participant_id_invalid")


class TelegramInspector(TelegramBot):
    def __init__(
        self, token: str, api_url: str = "https://api.telegram.org", *, timeout: float = 10.0
    ) -> None:
        super().__init__(token, api_url, timeout=timeout, rate_limit=False)

    async def me(self) -> TelegramBotInfo:
        await self.start()
        me = self._bot.bot
        return TelegramBotInfo(
            id=me.id, username=me.username, can_read_all_group_messages=bool(me.can_read_all_group_messages)
        )

    async def chat(self, ref: str | int) -> TelegramChatInfo | None:
        target = _chat_ref(ref)
        try:
            chat = await self._repeatable(lambda: self._bot.get_chat(target))
        except PermanentError as error:
            if any(words in str(error).lower() for words in _NOT_FOUND):
                return None
            raise
        return TelegramChatInfo(
            id=chat.id,
            type=str(chat.type),
            title=chat.title,
            username=chat.username,
            linked_chat_id=chat.linked_chat_id,
        )

    async def membership(self, chat_id: int, user_id: int) -> TelegramMembership | None:
        try:
            member = await self._repeatable(lambda: self._bot.get_chat_member(chat_id, user_id))
        except PermanentError as error:
            if any(words in str(error).lower() for words in _NOT_FOUND):
                return None
            raise
        return TelegramMembership(
            status=str(member.status),
            can_post_messages=member.can_post_messages
            if isinstance(member, ChatMemberAdministrator)
            else None,
            can_send_messages=member.can_send_messages if isinstance(member, ChatMemberRestricted) else None,
        )

"""Automatic moderation: why a reply should wait for a moderator, per campaign rules."""

from __future__ import annotations

import re
import unicodedata

from bot.domain import Moderation, Reply

_LINK = re.compile(
    r"(?i)\b(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|org|net|info|ca|fr|io|ly|me|co)(?:/\S*)?\b"
)


def _fold(text: str) -> str:
    """Lowercase without accents, so "Casino", "CASINÒ" and "casino" are the same word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def auto_flags(reply: Reply, rules: Moderation, *, repeated: bool) -> tuple[str, ...]:
    """The reasons to hold ``reply`` for review, each written for the moderator."""
    reasons = []
    folded = _fold(reply.text)
    banned = [w for w in rules.banned_words if re.search(rf"(?<!\w){re.escape(_fold(w))}(?!\w)", folded)]
    if banned:
        reasons.append(f"contains a banned word ({', '.join(banned)})")
    if rules.hold_links and _LINK.search(reply.text):
        reasons.append("contains a link")
    if repeated:
        reasons.append("the same text was already posted by this author")
    return tuple(reasons)

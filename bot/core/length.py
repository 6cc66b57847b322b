"""How long each network considers a text to be."""

from __future__ import annotations

import re

TELEGRAM_TEXT_LIMIT = 4096
TELEGRAM_CAPTION_LIMIT = 1024
MASTODON_DEFAULT_LIMIT = 500
MASTODON_URL_LENGTH = 23

_URL = re.compile(r"https?://[^\s<>\"'()]+(?:\([^\s<>\"'()]*\)[^\s<>\"'()]*)*", re.IGNORECASE)
_REMOTE_MENTION = re.compile(r"(?<![/\w])@(\w+)@[\w.-]*\w", re.IGNORECASE)
# Characters that are each one grapheme cluster whatever follows them: Latin, Greek,
# Cyrillic letters without combining marks, and the general punctuation of French and
# English typography. Text made only of these is counted with len(); anything else
# (combining marks, emoji, joiners) goes through the grapheme segmentation.
_NOT_SIMPLE = re.compile(r"[^\x00-\u02ff\u0370-\u0482\u048a-\u052f\u2010-\u2027\u202f-\u205f\u20ac]")


def graphemes(text: str) -> int:
    if _latin1(text) or _NOT_SIMPLE.search(text) is None:
        return len(text) - text.count("\r\n")
    import grapheme  # (here: most texts never need it, and it takes a while to import)

    return grapheme.length(text)


def _latin1(text: str) -> bool:
    """Whether every character is below U+0100 (all simple). The codec says it ten times
    faster than ``_NOT_SIMPLE`` on the French and English texts most campaigns write."""
    return len(text.encode("latin-1", "ignore")) == len(text)


def mastodon_length(text: str, spoiler_text: str = "", url_length: int = MASTODON_URL_LENGTH) -> int:
    """Mastodon's count: each link counts ``url_length``, ``@user@domain`` counts as
    ``@user``, everything else in grapheme clusters; the content warning counts too."""
    counted = _URL.sub("x" * url_length, text) if "://" in text else text
    counted = _REMOTE_MENTION.sub(r"@\1", counted) if "@" in counted else counted
    return graphemes(counted) + (graphemes(spoiler_text) if spoiler_text else 0)


def telegram_length(visible_text: str) -> int:
    """Telegram's count, in UTF-16 code units of the text once entities are parsed."""
    if visible_text.isascii():
        return len(visible_text)
    return len(visible_text.encode("utf-16-le")) // 2

"""The language of a reply, told offline by py3langid (its model ships inside the wheel:
nothing is downloaded). Telegram never says which language a message is in and Mastodon
often does not; the desk and the exports split replies by it. A network's own value is
kept: this only fills in what is missing.

Hashtags, mentions and links say nothing of the language and are left out; a text too short
or too mixed to tell (its best language below ``MIN_CONFIDENCE``) gets none.

The model takes a second or two to load and about 80 MB of memory once loaded (its feature
tables: half in numpy, half in Python lists): it is loaded, in the collector's worker
thread, by the first reply that needs it, never at start (``relais run`` idles under 70 MB
until then), and never when every reply comes with its language.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.domain import Reply

log = logging.getLogger(__name__)
MIN_CONFIDENCE = 0.5  # the normalised probability of the best language
MIN_LETTERS = 8  # fewer letters than this (once hashtags, mentions and links are out): no guess
_NOISE = re.compile(r"(?:https?://\S+|[#@][\w.@-]+)", re.IGNORECASE)

_lock = threading.Lock()
_identifier: Any = None


def load() -> None:
    """Load the model once (thread-safe)."""
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str) -> str | None:
    """The ISO 639-1 code of ``text``'s language (e.g. "fr"), or None when it cannot be told."""
    words = _NOISE.sub(" ", text)
    if sum(c.isalpha() for c in words) < MIN_LETTERS:
        return None
    load()
    language, confidence = _identifier.classify(words)
    return str(language) if confidence >= MIN_CONFIDENCE else None


def with_languages(replies: Sequence[Reply]) -> list[Reply]:
    """``replies``, each without a language given one if its text tells (a network's own
    value is kept)."""
    if all(reply.language is not None for reply in replies):
        return list(replies)
    try:
        load()
    except Exception as error:  # a broken install must not stop the collectors: no languages
        log.error("the language model could not be loaded (%s); replies are stored without one", error)
        return list(replies)
    told = []
    for reply in replies:
        found = None if reply.language is not None else detect(reply.text)
        told.append(reply if found is None else replace(reply, language=found))
    return told

"""Synthetic data for the tests and the benchmarks alike: campaign files and followers'
replies. Plain text and numbers only (no import of ``bot``), so that what a benchmark
measures is built the way the tests build it.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

HASHTAG = "gautrinweb2"


class Network(StrEnum):
    """The networks Relais ships with, by the names the tests give them (Relais itself knows
    them only through its registry, ``bot.networks``)."""

    TELEGRAM = "telegram"
    MASTODON = "mastodon"


def stamp(moment: datetime) -> str:
    """A time as a campaign file writes it, to the microsecond, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


def campaign_yaml(
    name: str, channels: Mapping[str, str], posts: Iterable[str], *, grace: str = "15m", extra: str = ""
) -> str:
    """A campaign file: ``channels`` maps a name to its YAML flow map, each of ``posts`` is
    the YAML of one post (a flow map, or block lines indented under ``  - ``)."""
    lines = [
        f"campaign: {name}",
        "timezone: America/Montreal",
        "language: fr-CA",
        f"hashtags: [{HASHTAG}]",
        "channels:",
        *(f"  {channel}: {spec}" for channel, spec in channels.items()),
        f"grace: {grace}",
        "posts:",
    ]
    written = [f"  - {post}" for post in posts]
    if not written:
        lines[-1] = "posts: []"
    return "\n".join([*lines, *written]) + "\n" + extra


def saying_its_id(post_id: str, at: datetime, to: str | None = None) -> str:
    """A post whose text says its own id, so that the servers' records name it."""
    target = f", to: [{to}]" if to else ""
    return f'{{id: {post_id}, at: "{stamp(at)}", text: "post {post_id} {{{{ hashtag }}}}"{target}}}'


# -- followers' replies ------------------------------------------------------------------------

_ONSETS = [*"bcdfgjlmnprstv", "ch", "qu", "br", "cr", "dr", "fr", "gr", "pr", "tr", "pl", "cl", "bl", "fl", "gl"]
_NUCLEI = [*"aeiouéèêâ", "ou", "ai", "au", "eu", "on", "an", "in", "oi", "ui", "ien"]
_CODAS = ["", "", "", "s", "t", "r", "x", "l", "nt", "ment", "tion", "ette", "eur", "ée", "age", "ique"]


def fold(word: str) -> str:
    """A word as a full-text index folds it: lower case, without accents."""
    return "".join(c for c in unicodedata.normalize("NFKD", word.casefold()) if not unicodedata.combining(c))


class Vocabulary:
    """French-looking words, each folding to a word of its own; word k (from 1) drawn with
    a weight of 1/k**zipf, so that a few words are in most texts and most in very few."""

    def __init__(self, size: int = 8_000, seed: int = 2026, zipf: float = 1.2) -> None:
        rng = random.Random(seed)
        words: dict[str, str] = {}  # folded -> word
        while len(words) < size:
            syllables = rng.choice((1, 2, 2, 2, 3, 3))
            word = "".join(rng.choice(["", *_ONSETS]) + rng.choice(_NUCLEI) for _ in range(syllables))
            word += rng.choice(_CODAS)
            if 3 <= len(word) <= 14 and fold(word) != HASHTAG:
                words.setdefault(fold(word), word)
        self.words = list(words.values())
        self.cumulative = list(itertools.accumulate(1 / k**zipf for k in range(1, size + 1)))

    def texts(self, rng: random.Random, count: int) -> list[str]:
        """``count`` sentences of 6 to 20 words (without the hashtag)."""
        lengths = [rng.randint(6, 20) for _ in range(count)]
        words = rng.choices(self.words, cum_weights=self.cumulative, k=sum(lengths))
        texts, at = [], 0
        for length in lengths:
            text = " ".join(words[at : at + length])
            texts.append(text[0].upper() + text[1:] + rng.choice((".", " !", " ?", "", "")))
            at += length
        return texts


@dataclass(frozen=True)
class FollowerPost:
    """One follower's reply carrying the campaign hashtag."""

    author: int
    text: str  # without the hashtag

    @property
    def acct(self) -> str:
        return f"membre{self.author}@exemple.org"

    @property
    def html(self) -> str:
        """As a Mastodon server renders it."""
        from html import escape

        return (
            f'<p>{escape(self.text)} <a href="https://relais.test/tags/{HASHTAG}" '
            f'class="mention hashtag" rel="tag">#<span>{HASHTAG}</span></a></p>'
        )


def follower_posts(count: int, seed: int = 2026, authors: int = 2_000) -> list[FollowerPost]:
    """``count`` replies by ``authors`` followers, the same for the same seed."""
    rng = random.Random(seed + 1)
    texts = Vocabulary(seed=seed).texts(rng, count)
    return [FollowerPost(rng.randrange(authors), t) for t in texts]

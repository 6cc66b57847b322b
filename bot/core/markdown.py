"""The small Markdown subset of message templates, rendered for each network.

Supported: paragraphs (a blank line), line breaks (a newline), ``**bold**``,
``*italic*`` and ``_italic_``, ``[text](https://link)`` and backslash escapes. Anything
else is text. Telegram gets HTML in which every piece of text is escaped; Mastodon gets
plain text (a link is written ``text (url)``).

Written by hand rather than with a general Markdown parser: the subset is five rules,
and a general parser was several times slower than everything else in ``relais plan``
together (see ``benchmarks/campaign_load.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_INLINE = re.compile(
    r"""
      \\(?P<escaped>[\\*_\[\]()`#])
    | \*\*(?P<bold>\S(?:.*?\S)?)\*\*
    | \*(?P<star>[^*\s](?:[^*]*?[^*\s])?)\*
    | _(?<!\w_)(?P<under>[^_\s](?:[^_]*?[^_\s])?)_(?!\w)
    | \[(?P<label>[^\]\n]+)\]\((?P<href>(?:https?://|mailto:|tg://)[^)\s]+)\)
    """,
    re.VERBOSE | re.DOTALL,
)
# Where a rule of ``_INLINE`` can start: text without any of these is text through and through.
_MARKUP = re.compile(r"[\\*_\[]")


@dataclass(frozen=True)
class Rendered:
    html: str  # Telegram HTML, paragraphs separated by a blank line
    telegram_text: str  # what Telegram displays (and counts) once the HTML is parsed
    plain: str  # Mastodon plain text


def render(source: str) -> Rendered:
    html: list[str] = []
    shown: list[str] = []
    plain: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(source.strip()):
        lines = "\n".join([line.strip() for line in paragraph.splitlines()])
        if not lines:
            continue
        h, s, p = _inline_or_text(lines)
        html.append(h)
        shown.append(s)
        plain.append(p)
    return Rendered("\n\n".join(html), "\n\n".join(shown), "\n\n".join(plain))


def _inline(text: str) -> tuple[str, str, str]:
    html: list[str] = []
    shown: list[str] = []
    plain: list[str] = []
    position = 0
    for match in _matches(text):
        before = text[position : match.start()]
        html.append(escape(before, quote=False))
        shown.append(before)
        plain.append(before)
        position = match.end()
        kind = match.lastgroup
        if kind == "escaped":
            char = match["escaped"]
            html.append(escape(char, quote=False))
            shown.append(char)
            plain.append(char)
        elif kind == "href":
            h, s, p = _inline_or_text(match["label"])
            href = match["href"]
            html.append(f'<a href="{escape(href)}">{h}</a>')
            shown.append(s)
            plain.append(p if p == href else f"{p} ({href})")
        else:
            tag = "b" if kind == "bold" else "i"
            h, s, p = _inline_or_text(match[kind])
            html.append(f"<{tag}>{h}</{tag}>")
            shown.append(s)
            plain.append(p)
    rest = text[position:]
    html.append(escape(rest, quote=False))
    shown.append(rest)
    plain.append(rest)
    return "".join(html), "".join(shown), "".join(plain)


def _matches(text: str) -> Iterator[re.Match[str]]:
    """``_INLINE.finditer(text)``, tried only where a rule can start (several times faster
    on text that is mostly words)."""
    position = 0
    while (candidate := _MARKUP.search(text, position)) is not None:
        match = _INLINE.match(text, candidate.start())
        if match is None:
            position = candidate.start() + 1
        else:
            yield match
            position = match.end()


def _inline_or_text(text: str) -> tuple[str, str, str]:
    if _MARKUP.search(text):
        return _inline(text)
    return escape(text, quote=False), text, text

"""The small Markdown subset of message templates, rendered for each network.

Supported: paragraphs (a blank line), line breaks (a newline), ``**bold**``,
``*italic*`` and ``_italic_``, ``[text](https://link)`` and backslash escapes. Anything
else is text. The HTML flavour (Telegram's) escapes every piece of text; the plain flavour
(Mastodon's) writes a link ``text (url)``.

Written by hand rather than with a general Markdown parser: the subset is five rules,
and a general parser was several times slower than everything else in ``relais plan``
together (see ``benchmarks/campaign_load.py``).
"""

from __future__ import annotations

import re
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
    """A message in each text flavour (``bot.networks.Flavour``)."""

    html: str  # HTML flavour: escaped text and tags, paragraphs separated by a blank line
    html_shown: str  # what the HTML displays (and is counted as) once its markup is parsed
    plain: str  # plain flavour: a link written "text (url)"


def render(source: str) -> Rendered:
    html: list[str] = []
    shown: list[str] = []
    plain: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(source.strip()):
        each = paragraph.splitlines()  # (five times faster than a regex to see if it has several)
        lines = each[0].strip() if len(each) == 1 else "\n".join([line.strip() for line in each])
        if not lines:
            continue
        h, s, p = _inline(lines)
        html.append(h)
        shown.append(s)
        plain.append(p)
    return Rendered("\n\n".join(html), "\n\n".join(shown), "\n\n".join(plain))


def _inline(text: str) -> tuple[str, str, str]:
    """``text`` as HTML, as that HTML shows once parsed, and as plain text.

    The rules are tried only where one can start (``_MARKUP``): a paragraph of words is
    escaped and done, which is most of them (several times faster than ``finditer``)."""
    if "*" not in text and "_" not in text and "[" not in text and "\\" not in text:
        return _escape(text), text, text  # (``in`` is several times faster than ``_MARKUP``)
    candidate = _MARKUP.search(text)
    html: list[str] = []
    shown: list[str] = []
    plain: list[str] = []
    done = 0
    while candidate is not None:
        match = _INLINE.match(text, candidate.start())
        if match is None:
            candidate = _MARKUP.search(text, candidate.start() + 1)
            continue
        start, end = match.span()
        candidate = _MARKUP.search(text, end)
        if start > done:
            before = text[done:start]
            html.append(_escape(before))
            shown.append(before)
            plain.append(before)
        done = end
        kind = match.lastgroup or ""  # every alternative of the pattern is a named group
        if kind == "escaped":
            char = match["escaped"]
            html.append(char)  # (none of the escapable characters is special in HTML)
            shown.append(char)
            plain.append(char)
        elif kind == "href":
            h, s, p = _inline(match["label"])
            href = match["href"]
            html.append(f'<a href="{escape(href)}">{h}</a>')
            shown.append(s)
            plain.append(p if p == href else f"{p} ({href})")
        else:
            tag = "b" if kind == "bold" else "i"
            h, s, p = _inline(match[kind])
            html.append(f"<{tag}>{h}</{tag}>")
            shown.append(s)
            plain.append(p)
    if not done:
        return _escape(text), text, text
    if done < len(text):
        rest = text[done:]
        html.append(_escape(rest))
        shown.append(rest)
        plain.append(rest)
    return "".join(html), "".join(shown), "".join(plain)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

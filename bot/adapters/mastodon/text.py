"""Status HTML as plain text, through ``html.parser``."""

from __future__ import annotations

import html
import logging
import re
from html.parser import HTMLParser

log = logging.getLogger(__package__)  # one logger for the adapter

# Control characters other than tab and newline: invisible, and NUL breaks PostgreSQL text.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_HTML_SPACES = re.compile("[ \t\n\r\f]+")  # what HTML collapses (not NBSP, not zero-width)
_SKIPPED = frozenset({"script", "style", "template"})
_BLOCKS = frozenset({"p", "div", "blockquote", "pre", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr"})
# A numeric character reference too long for int() (Python refuses over 4300 digits, and
# html.parser with it): no code point is that long anyway.
_HUGE_CHARREF = re.compile(r"&#(?:[xX]0*[0-9a-fA-F]{7,}|0*[0-9]{8,});?")
_COMMENT_OPEN = re.compile("<!--")
_LOOSE_TAG = re.compile(r"<[^>]*>?")


class _TextExtractor(HTMLParser):
    """The text a reader of the status sees, plus ``span.invisible`` (the hidden parts of
    shortened links): ``<br>`` a line break, a block a blank line, a list item a line,
    other tags dropped, the content of scripts and styles dropped, HTML spaces collapsed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._skipping = 0  # inside <script>, <style>, <template>
        self._pre = 0  # inside <pre>: spaces and newlines kept
        self._breaks = 0  # line breaks owed before the next text
        self._line_empty = True

    def text(self) -> str:
        return "".join(self._out).strip()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, opening=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, opening=True)  # as browsers read them: "<br/>" is "<br>", "<p/>" is "<p>"

    def handle_endtag(self, tag: str) -> None:
        self._tag(tag, opening=False)

    def _tag(self, tag: str, *, opening: bool) -> None:
        if tag in _SKIPPED:
            self._skipping = self._skipping + 1 if opening else max(0, self._skipping - 1)
        elif tag == "br":
            self._breaks += 1  # a stray "</br>" too, as browsers do
        elif tag == "li":
            self._breaks = max(self._breaks, 1)
        elif tag in _BLOCKS:
            self._breaks = max(self._breaks, 2)
            if tag == "pre":
                self._pre = self._pre + 1 if opening else max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        data = _CONTROLS.sub("", data)
        if self._pre:
            data = data.replace("\r\n", "\n").replace("\r", "\n")
        else:
            data = _HTML_SPACES.sub(" ", data)
            if self._breaks or self._line_empty or self._out[-1].endswith(" "):
                data = data.lstrip(" ")  # one space between two pieces of text, none at a line start
        if not data:
            return
        if self._breaks:
            if self._out:
                self._out[-1] = self._out[-1].rstrip(" ")
                self._out.append("\n" * self._breaks)
            self._breaks = 0
        self._out.append(data)
        self._line_empty = data.endswith("\n")


def _defuse(content: str) -> str:
    """Escape what html.parser would read again up to the end of the text for each
    occurrence, which takes minutes on 100 kB (Python 3.11): a "<" with no ">" after it,
    a "<!--" with no "-->" after it, marked sections "<![" (which may also make it raise).
    The parser would give them out as text anyway. And replace impossible charrefs."""
    content = _HUGE_CHARREF.sub("\ufffd", content).replace("<![", "&lt;![")
    closed = content.rfind("-->")
    content = _COMMENT_OPEN.sub(lambda m: m[0] if m.start() + 4 <= closed else "&lt;!--", content)
    last = content.rfind(">")
    return content[: last + 1] + content[last + 1 :].replace("<", "&lt;")


def html_to_text(content: str) -> str:
    """Status HTML (sanitised by Mastodon, or anything else) as plain text."""
    if not content:
        return ""
    content = _defuse(content)
    parser = _TextExtractor()
    try:
        parser.feed(content)
        parser.close()
    except Exception:  # not expected after _defuse; never let one status break a page
        log.warning("Mastodon: HTML that html.parser could not read; its tags were stripped instead")
        return clean(_HTML_SPACES.sub(" ", html.unescape(_LOOSE_TAG.sub(" ", content))))
    return parser.text()


def status_text(content: str, spoiler_text: str = "") -> str:
    """The plain text of a status, its content warning first: "[CW: …]" and a blank line."""
    text = html_to_text(content)
    warning = clean(spoiler_text)
    return f"[CW: {warning}]\n\n{text}".strip() if warning else text


def clean(text: str) -> str:
    """Plain text from the network, without control characters or surrounding spaces."""
    return _CONTROLS.sub("", text).strip()

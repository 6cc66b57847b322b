"""The shortcuts taken for speed (``benchmarks/campaign_load.py``) give what the long way
gives, for any input."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import campaigns, markdown, times, yamlsource

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test

# Scalars of every kind YAML resolves: numbers, booleans, nulls, timestamps, merge keys, text.
_PIECES = [
    "1",
    "0x1F",
    "0o7",
    "-",
    "+",
    ".",
    "5e3",
    ".inf",
    ".NaN",
    "~",
    "null",
    "Null",
    "true",
    "False",
    "yes",
    "no",
    "on",
    "OFF",
    "y",
    "N",
    "<<",
    "=",
    "2012-05-02",
    " 13:30",
    "T09:00",
    "a",
    "é",
    ":",
    "_",
    " ",
    "1_000",
    "12:30:00",
    "#",
]
_SCALAR = st.lists(st.sampled_from(_PIECES), min_size=1, max_size=5).map("".join)


def _tags(node: yaml.Node) -> list[str]:
    if isinstance(node, yaml.ScalarNode):
        return [node.tag]
    children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
    return [node.tag] + [tag for child in children for tag in _tags(child)]


@settings(max_examples=400)
@given(st.lists(_SCALAR, min_size=1, max_size=4), st.sampled_from(["plain", "single", "double"]))
def test_the_resolver_shortcut_gives_pyyaml_s_own_tags(values: list[str], style: str) -> None:
    quote = {"plain": "{}", "single": "'{}'", "double": '"{}"'}[style]
    text = "k: [" + ", ".join(quote.format(v.replace("'", "")) for v in values) + "]\n"
    try:
        expected = yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            yaml.compose(text, Loader=yamlsource._Loader)
        return
    assert _tags(yaml.compose(text, Loader=yamlsource._Loader)) == _tags(expected)


@pytest.mark.parametrize(
    "value",
    [
        "2012-05-02 13:30",
        "2012-05-02T13:30",
        "2012-05-02 13:30:00",
        "2012-05-02t13:30:00",
        "2012-05-02",
        "2012-5-2 13:30",
        "0012-05-02 13:30",
        "2012-05-02  13:30",
        "2012-05-02 13:30Z",
        "title",
        "1d",
        "10m",
    ],
)
def test_the_resolver_shortcut_reads_times_and_repeated_words_as_pyyaml_does(value: str) -> None:
    text = f"a: {value}\nb: [{value}, {value}]\n"  # (the second and third: remembered)
    assert _tags(yaml.compose(text, Loader=yamlsource._Loader)) == _tags(
        yaml.compose(text, Loader=yaml.CSafeLoader)
    )


def test_the_resolver_shortcut_keeps_what_is_not_text() -> None:
    located = yamlsource.parse("a: 1\nb: true\nc: ~\nd: 2012-05-02 09:00\ne: texte\nf: '1'\n")
    assert located.data == {"a": 1, "b": True, "c": None, "d": "2012-05-02 09:00", "e": "texte", "f": "1"}


def test_text_without_the_characters_markdown_looks_for_is_text() -> None:
    # ``_inline`` returns at once when none of * _ [ \\ is in the text: those must be every
    # character a rule can start with.
    starts = [chr(i) for i in range(0x110000) if markdown._MARKUP.match(chr(i))]
    assert starts == sorted("*_[\\")
    assert all(
        markdown._INLINE.match(f"{chr(i)}a{chr(i)}") is None for i in range(0x110000) if chr(i) not in starts
    )


@pytest.mark.parametrize("paragraph", ["a b", " a ", "a\nb", "a \r\n b ", "a\u2028b", "a\x85b\x0c", "\n", ""])
def test_a_paragraph_s_lines_are_stripped_as_splitlines_cuts_them(paragraph: str) -> None:
    expected = "\n".join(line.strip() for line in paragraph.splitlines())
    assert markdown.render(paragraph).plain == expected


def _reference(text: str) -> tuple[str, str, str]:
    """The Markdown subset the plain way: every rule tried everywhere, every piece escaped."""
    html, shown, plain, position = [], [], [], 0
    for match in markdown._INLINE.finditer(text):
        before = text[position : match.start()]
        html.append(escape(before, quote=False))
        shown.append(before)
        plain.append(before)
        position = match.end()
        kind = match.lastgroup
        if kind == "escaped":
            html.append(escape(match["escaped"], quote=False))
            shown.append(match["escaped"])
            plain.append(match["escaped"])
        elif kind == "href":
            h, s, p = _reference(match["label"])
            html.append(f'<a href="{escape(match["href"])}">{h}</a>')
            shown.append(s)
            plain.append(p if p == match["href"] else f"{p} ({match['href']})")
        else:
            tag = "b" if kind == "bold" else "i"
            h, s, p = _reference(match[kind])
            html.append(f"<{tag}>{h}</{tag}>")
            shown.append(s)
            plain.append(p)
    html.append(escape(text[position:], quote=False))
    shown.append(text[position:])
    plain.append(text[position:])
    return "".join(html), "".join(shown), "".join(plain)


@settings(max_examples=500)
@given(
    st.lists(
        st.sampled_from(
            [*"ab _*\\[]()\n#`<>&\"'é", "https://x.org", "](", "**", "\\*", "[a](https://x.org/?a=1&b='2')"]
        ),
        max_size=30,
    ).map("".join)
)
def test_markdown_renders_as_the_rules_tried_everywhere_would(text: str) -> None:
    assert markdown._inline(text) == _reference(text)


@settings(max_examples=300)
@given(st.from_regex(re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"), fullmatch=True))
def test_the_usual_time_form_reads_as_the_checked_one(text: str) -> None:
    match = times._DATETIME.fullmatch(text)
    assert match is not None
    try:
        checked = times._checked(text, match)
    except times.TimeError:
        assert times._usual(text) is None
    else:
        assert times._usual(text) == checked


def test_a_publication_made_at_once_is_the_one_the_constructor_makes() -> None:
    from dataclasses import FrozenInstanceError, fields
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.domain import Channel, Media, Publication
    from tests.data import Network

    given = {
        "campaign": "c",
        "id": "rapport@1h",
        "channel": Channel("m", Network.MASTODON, max_characters=500),
        "at": datetime(2030, 1, 7, 14, tzinfo=UTC),
        "timezone": ZoneInfo("America/Montreal"),
        "text": "Rapport",
        "length": 7,
        "limit": 500,
        "language": "fr-CA",
        "media": (Media(Path("a.jpg"), "alt"),),
        "warning": None,
        "not_after": datetime(2030, 1, 7, 15, tzinfo=UTC),
    }
    assert {f.name for f in fields(Publication)} == set(given)  # (a new field: add it here)
    made, expected = campaigns._publication(**given), Publication(**given)
    assert (made, hash(made), repr(made), made.key) == (
        expected,
        hash(expected),
        repr(expected),
        expected.key,
    )
    with pytest.raises(FrozenInstanceError):
        made.text = "x"  # type: ignore[misc]
    fewer = {k: v for k, v in given.items() if k != "not_after"}
    assert campaigns._publication(**fewer) == Publication(**fewer)  # (the constructor's defaults)

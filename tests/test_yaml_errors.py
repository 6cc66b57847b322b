"""YAML syntax errors in words a staff member can act on, on the line and column to fix,
instead of the parser's ("while parsing a block collection, did not find expected '-'
indicator")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.yamlsource import YamlSyntaxError, parse
from tests.conftest import BASE, Project

CASES = [
    pytest.param(
        BASE.replace("hashtags: [gautrinweb2]", "hashtags: [#Tag]"),
        "schedules/c.yaml:4:12: # starts a comment in YAML, so the rest of this line was ignored; "
        'put it in quotes, ["#Tag"], or write it without #, [Tag]',
        id="hash-in-a-flow-list",
    ),
    pytest.param(
        BASE + "posts:\n  - {id: un, at: 2012-05-02 09:00, text: a, vars: {tag: #x}}\n",
        "schedules/c.yaml:9:57: # starts a comment in YAML, so the rest of this line was ignored; "
        'put it in quotes, {tag: "#x"}, or write it without #, {tag: x}',
        id="hash-in-a-flow-map",
    ),
    pytest.param(
        BASE + "livestreams:\n  - id: direct\n    title: Town hall: the budget\n",
        "schedules/c.yaml:10:12: a value that contains ': ' must be in quotes; write "
        'title: "Town hall: the budget"',
        id="colon-in-a-value",
    ),
    pytest.param(
        BASE + "posts:\n  - id: un\n    at: 2012-05-02 09:00\n   - id: deux\n",
        "schedules/c.yaml:11:4: this list item is not lined up with the one on line 9: "
        "put every '-' of a list at the same column (column 3)",
        id="list-item-misaligned",
    ),
    pytest.param(
        BASE + "livestreams:\n  - id: direct\n    remind:\n      - 1h\n     - 10m\n",
        "schedules/c.yaml:12:6: this list item is not lined up with the one on line 11: "
        "put every '-' of a list at the same column (column 7)",
        id="reminder-misaligned",
    ),
    pytest.param(
        BASE + "moderation:\n  banned_words: [casino]\n hold_links: true\n",
        "schedules/c.yaml:10:2: this line is indented differently from the keys above it: "
        "the keys of one map start at the same column",
        id="key-misaligned",
    ),
    pytest.param(
        BASE + "grace: 15m\n  acknowledge: true\n",
        "schedules/c.yaml:9:3: this line is indented under 'grace', which already has a value "
        "on line 8: line it up with the keys above",
        id="key-indented-under-a-value",
    ),
    pytest.param(
        BASE.replace('chat: "@GautrinWeb2"', "chat: @GautrinWeb2"),
        "schedules/c.yaml:6:33: a value cannot start with '@' in YAML; put it in quotes: "
        'chat: "@GautrinWeb2"',
        id="at-sign",
    ),
    pytest.param(
        BASE + "moderation:\n\tbanned_words: [casino]\n",
        "schedules/c.yaml:9:1: a tab is used to indent this line; YAML needs spaces: replace the "
        "tab with spaces",
        id="tab",
    ),
    pytest.param(
        BASE + 'posts:\n  - id: un\n    text: "Bonjour\n    at: 2012-05-02 09:00\n',
        'schedules/c.yaml:10:11: this quote is never closed; add the closing " at the end of the value',
        id="unclosed-quote",
    ),
    pytest.param(
        BASE + 'posts:\n  - {id: un, at: 2012-05-02 09:00, text: "C:\\dossier"}\n',
        "schedules/c.yaml:9:45: '\\d' is not an escape YAML knows between double quotes; use "
        "single quotes instead, or write \\\\ for a backslash",
        id="unknown-escape",
    ),
    pytest.param(
        BASE + "posts:\n  - {id: un, at: 2012-05-02 09:00\n",
        "schedules/c.yaml:9:5: this map is never closed: add '}' after its last entry",
        id="flow-map-not-closed",
    ),
    pytest.param(
        BASE + "posts:\n  - {id: un, at: 2012-05-02 09:00, to: [tg, masto}\n",
        "schedules/c.yaml:9:50: expected ',' or ']' here: separate the items of a list with "
        "commas, and put an item that contains , : [ ] { } in quotes",
        id="flow-list-wrongly-closed",
    ),
    pytest.param(
        BASE + "posts: ]\n",
        "schedules/c.yaml:8:8: a value is missing before ']'; write one, or put the text in quotes",
        id="missing-value",
    ),
    pytest.param(
        BASE + "posts:\n  - {id: un, at: 2012-05-02 09:00, text: *texte}\n",
        "schedules/c.yaml:9:42: '*' starts an alias in YAML, which campaign files do not use; "
        "put the value in quotes",
        id="alias",
    ),
    pytest.param(
        BASE + "---\ncampaign: autre\n",
        "schedules/c.yaml:8:1: a campaign file holds one document: remove this '---' line "
        "(write one campaign per file)",
        id="second-document",
    ),
    pytest.param(
        BASE + "posts:\n  - id: un\n    text: - un\n",
        "schedules/c.yaml:10:11: a value cannot start with '- ' on the line of its key; put it "
        "in quotes, or start the list on the next line",
        id="dash-after-a-key",
    ),
    pytest.param(
        BASE + "posts:\n  - id: un\n    text: |x\n      Bonjour\n",
        "schedules/c.yaml:10:12: after '|' or '>' the text starts on the next line; remove what "
        "follows it on this line",
        id="block-scalar-header",
    ),
    pytest.param(
        BASE + "posts:\n  - id: un\n    at: 2012-05-02 09:00\n    text: {{ titre }} est en ligne\n",
        "schedules/c.yaml:11:11: a value that starts with {{ or {% must be in quotes, as YAML reads { "
        'as the start of a map; write text: "{{ titre }} est en ligne"',
        id="template-unquoted",
    ),
    pytest.param(
        BASE + "posts:\n  - id: un\n    at: 2012-05-02 09:00\n    text: {{ titre }}\n    vars: {titre: a}\n",
        "schedules/c.yaml:11:11: a value that starts with {{ or {% must be in quotes, as YAML reads { "
        'as the start of a map; write text: "{{ titre }}"',
        id="template-read-as-a-map",
    ),
    pytest.param(
        BASE + "posts:\n  - id: un\n    text: Bon\x07jour\n",
        "schedules/c.yaml:10:14: a control character (U+0007) is in the text, which YAML does "
        "not allow; remove it",
        id="control-character",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_yaml_syntax_errors_in_plain_words(project: Project, text: str, expected: str) -> None:
    path = project.root / "schedules" / "c.yaml"
    path.write_text(text, encoding="utf-8")
    assert project.problems() == [expected]


YAML_BITS = st.sampled_from([*"[]{}:#-,'\"|>&*!%@`\t\n \x07", "ab", "\\d", "- ", ": "])


@pytest.mark.slow
@settings(max_examples=300, deadline=None, database=None)
@given(st.data())
def test_any_broken_campaign_file_gives_a_position_and_a_message(data: st.DataObject) -> None:
    """A campaign file with a few characters inserted anywhere: parsed, or one problem on a
    line of the file, never another exception."""
    text = BASE + "posts:\n  - {id: un, at: 2012-05-02 09:00, text: 'a: b', to: [tg]}\n"
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(text)))
        text = text[:index] + "".join(data.draw(st.lists(YAML_BITS, min_size=1, max_size=3))) + text[index:]
    error = syntax_error(text)
    if error is not None:
        assert 1 <= error.position.line <= text.count("\n") + 1
        assert error.position.column >= 1
        assert error.message


def syntax_error(text: str) -> YamlSyntaxError | None:
    try:
        parse(text)
    except YamlSyntaxError as error:
        return error
    return None


@pytest.mark.parametrize("levels", [40, 990])
def test_deeply_nested_values_are_a_problem_not_a_traceback(project: Project, levels: int) -> None:
    """990 levels is within what the YAML parser accepts, and beyond Python's recursion."""
    nested = "[" * levels + "]" * levels
    project.campaign(BASE + f"posts:\n  - {{id: un, at: 2030-05-02 09:00, text: a, vars: {{x: {nested}}}}}\n")
    assert project.problems() == [
        "schedules/c.yaml:9:83: lists and maps are nested more than 32 levels deep here; flatten them"
    ]

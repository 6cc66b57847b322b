"""PyYAML's syntax errors, said so that a staff member can fix them.

The parser reports where it gave up ("while parsing a block collection, did not find
expected '-' indicator", two lines below a ``#`` that swallowed the rest of a list). Each
known case is recognised from the parser's words and the text around its marks, and
rewritten as what is wrong, on the line and column to change, with the fix. Anything
else keeps the parser's words, prefixed with "YAML syntax error".
"""

from __future__ import annotations

import re

import yaml

Where = tuple[int, int]  # line and column, 1-based

_CLOSERS = {"[": "]", "{": "}"}
# ``text: {{ titre }} …``: a template written without quotes.
TEMPLATE_VALUE = re.compile(r"\s*(?:- )?([\w-]+):[ \t]+(\{[{%].*)$")
_KEY_BEFORE = re.compile(r"([^\s{},\[\]:#'\"-][^{},\[\]:#]*?)\s*:\s*$")


def explain(exc: yaml.YAMLError, text: str) -> tuple[Where, str]:
    """Where to fix ``exc``, a syntax error in ``text``, and what to do, in plain words."""
    lines = text.splitlines() or [""]
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = _where_index(text, exc.position)
        if not isinstance(exc.character, int):
            return (line, column), f"YAML error: {exc.reason}"
        return (line, column), (
            f"a control character (U+{exc.character:04X}) is in the text, which YAML does not allow; "
            "remove it"
        )
    if not isinstance(exc, yaml.MarkedYAMLError):
        return (1, 1), f"YAML error: {exc}"
    problem, context = exc.problem or "", exc.context or ""
    at = _where(exc.problem_mark) or _where(exc.context_mark) or (1, 1)
    start = _where(exc.context_mark) or at

    def line_of(where: Where) -> str:
        return lines[where[0] - 1] if 0 < where[0] <= len(lines) else ""

    def char_at(where: Where) -> str:
        return line_of(where)[where[1] - 1 : where[1]]

    if template := TEMPLATE_VALUE.match(line_of(at)):
        return (at[0], template.start(2) + 1), template_message(template.group(1), template.group(2))
    comment = _comment_in_flow(lines, min(start[0], at[0] - 1), at[0])
    if comment is not None and ("flow" in context or "node content" in problem):
        where, before, token = comment
        closer = _CLOSERS[next(c for c in reversed(before) if c in _CLOSERS)]
        return where, (
            "# starts a comment in YAML, so the rest of this line was ignored; put it in quotes, "
            f'{before}"{token}"{closer}, or write it without #, {before}{token.lstrip("#")}{closer}'
        )
    if "mapping values are not allowed" in problem:
        return _colon(lines, at)
    if "expected '-' indicator" in problem or ("expected key" in problem and char_at(at) == "-"):
        above = next((n for n in range(at[0] - 1, 0, -1) if lines[n - 1].lstrip().startswith("-")), None)
        if above is not None and char_at(at) == "-":
            column = len(lines[above - 1]) - len(lines[above - 1].lstrip()) + 1
            return at, (
                f"this list item is not lined up with the one on line {above}: put every '-' of a "
                f"list at the same column (column {column})"
            )
        if above is not None:
            return at, (
                f"this line follows the list of line {above} but is not one of its items: start it "
                "with '- ', or line it up with the keys before the list"
            )
    if "expected key" in problem:
        if line_of(at)[: at[1] - 1].strip() == "":
            return at, (
                "this line is indented differently from the keys above it: the keys of one map "
                "start at the same column"
            )
        return at, f"unexpected {char_at(at)!r} after the value; put the whole value in quotes"
    if "tab character" in problem:
        return at, "a tab is used to indent this line; YAML needs spaces: replace the tab with spaces"
    if "cannot start any token" in problem:
        char = char_at(at)
        if char == "\t":
            return at, "a tab is used to indent this line; YAML needs spaces: replace the tab with spaces"
        return (
            at,
            f"a value cannot start with {char!r} in YAML; put it in quotes: {_quoted(line_of(at), at[1])}",
        )
    if "quoted scalar" in context and "end of stream" in problem:
        return start, f"this quote is never closed; add the closing {char_at(start)} at the end of the value"
    if "unknown escape" in problem:
        escape = line_of(at)[at[1] - 1 : at[1] + 1]
        return at, (
            f"'{escape}' is not an escape YAML knows between double quotes; use single quotes "
            "instead, or write \\\\ for a backslash"
        )
    if "while parsing a flow" in context and problem.startswith("did not find expected ','"):
        closer = problem[-2]
        kind, item, items = ("list", "item", "items") if closer == "]" else ("map", "entry", "entries")
        if at[0] != start[0]:
            return start, f"this {kind} is never closed: add '{closer}' after its last {item}"
        return at, (
            f"expected ',' or '{closer}' here: separate the {items} of a {kind} with commas, and put "
            "an item that contains , : [ ] { } in quotes"
        )
    if "expected node content" in problem:
        opened = _unclosed(lines, at[0])
        if char_at(at) == "" and opened is not None:
            kind, closer, item = (
                ("list", "]", "item") if line_of(opened)[opened[1] - 1] == "[" else ("map", "}", "entry")
            )
            return opened, f"this {kind} is never closed: add '{closer}' after its last {item}"
        if char_at(at) == "":
            return at, "a value is missing here; write one"
        return at, f"a value is missing before {char_at(at)!r}; write one, or put the text in quotes"
    if "undefined alias" in problem:
        return at, "'*' starts an alias in YAML, which campaign files do not use; put the value in quotes"
    if "another document" in problem:
        return at, "a campaign file holds one document: remove this '---' line (write one campaign per file)"
    if "block sequence entries are not allowed" in problem:
        return at, (
            "a value cannot start with '- ' on the line of its key; put it in quotes, or start the "
            "list on the next line"
        )
    if "block scalar" in context:
        return at, "after '|' or '>' the text starts on the next line; remove what follows it on this line"
    if "could not find expected ':'" in problem:
        return start, "this line needs ':' after its key (key: value), or quotes around a text"
    message = f"{context}, {problem}" if context and problem else problem or context or "invalid YAML"
    return at, f"YAML syntax error: {message}"


def template_message(key: str, value: str) -> str:
    """For ``text: {{ titre }}``, which YAML reads as a map."""
    return (
        "a value that starts with {{ or {% must be in quotes, as YAML reads { as the start of a "
        f"map; write {key}: {quote(value.strip())}"
    )


def quote(value: str) -> str:
    """``value`` in YAML quotes: double, or single when it holds a double quote."""
    return f'"{value}"' if '"' not in value else "'" + value.replace("'", "''") + "'"


def _where(mark: yaml.Mark | None) -> Where | None:
    return (mark.line + 1, mark.column + 1) if mark is not None else None


def _where_index(text: str, index: int) -> Where:
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def _colon(lines: list[str], at: Where) -> tuple[Where, str]:
    """``mapping values are not allowed``: a second ': ' in a value, or a key indented
    under one that already has a value."""
    line = lines[at[0] - 1]
    first = line.find(": ") if ": " in line else line.find(":")
    if 0 <= first < at[1] - 1:  # a colon in the value: quote the value
        key = line[:first].strip().removeprefix("- ").strip()
        value = line[first + 1 :].strip()
        column = first + 2 + (len(line[first + 1 :]) - len(line[first + 1 :].lstrip()))
        return (at[0], column), f"a value that contains ': ' must be in quotes; write {key}: {quote(value)}"
    indent = len(line) - len(line.lstrip()) + 1
    above = next((n for n in range(at[0] - 1, 0, -1) if lines[n - 1].strip()), None)
    parent = lines[above - 1].split(":")[0].strip().removeprefix("- ") if above else ""
    if above and parent:
        return (at[0], indent), (
            f"this line is indented under '{parent}', which already has a value on line {above}: "
            "line it up with the keys above"
        )
    return (at[0], indent), "this line is indented more than the one above it: line it up with the keys above"


def _quoted(line: str, column: int) -> str:
    """``key: "value"`` for the value that starts at ``column`` of ``line``."""
    before, rest = line[: column - 1], line[column - 1 :]
    in_flow = before.count("{") + before.count("[") > before.count("}") + before.count("]")
    value = re.match(r"[^,}\]]*", rest).group().rstrip() if in_flow else rest.strip()  # type: ignore[union-attr]
    key = _KEY_BEFORE.search(before)
    return f'{key.group(1).strip()}: "{value}"' if key else f'"{value}"'


def _comment_in_flow(lines: list[str], first: int, last: int) -> tuple[Where, str, str] | None:
    """A ``#`` that starts a comment inside ``[...]`` or ``{...}`` on lines ``first`` to
    ``last``: where, the text of the collection before it, and the word it starts."""
    for number in range(max(first, 1), min(last, len(lines)) + 1):
        line, opened, quote = lines[number - 1], [], ""
        for index, char in enumerate(line):
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char in "[{":
                opened.append(index)
            elif char in "]}" and opened:
                opened.pop()
            elif char == "#" and (index == 0 or line[index - 1] in " \t[{,"):
                if not opened:
                    break  # an ordinary comment
                token = re.match(r"#[^\s,\]}]*", line[index:]).group()  # type: ignore[union-attr]
                return (number, index + 1), line[opened[-1] : index], token
    return None


def _unclosed(lines: list[str], last: int) -> Where | None:
    """The last ``[`` or ``{`` left open on the lines up to ``last`` (outside quotes)."""
    stack: list[Where] = []
    for number in range(1, min(last, len(lines)) + 1):
        quote = ""
        for index, char in enumerate(lines[number - 1]):
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "#" and (index == 0 or lines[number - 1][index - 1] in " \t"):
                break
            elif char in "[{":
                stack.append((number, index + 1))
            elif char in "]}" and stack:
                stack.pop()
    return stack[-1] if stack else None

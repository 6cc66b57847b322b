"""What is wrong with a template, said where it is and in plain words.

Problems are found when a template is compiled (``check_tree``: unknown filters and
tests, dunder attributes, blocks nested too deep) and when it renders (``explain``: the
exceptions of ``bot.core.sandbox``, of Relais's filters and of Python, turned into what
a staff member can act on, with "did you mean" where a name is close to a known one).
``ProblemsOnce`` reports each of them once per campaign file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import TemplateNotFound, nodes
from jinja2.runtime import Undefined, missing

from bot.core import sandbox
from bot.problems import Problem


class TemplateProblem(Exception):
    """Templates that cannot be used; ``problems`` say where and why. A problem whose
    ``file`` is empty is in inline text, at a line and column of that text."""

    def __init__(self, problems: list[Problem], *, rendering: bool = False) -> None:
        self.problems = problems
        self.rendering = rendering  # False: found when compiling, reported by check_all
        super().__init__("; ".join(str(p) for p in problems))

    @property
    def problem(self) -> Problem:
        return self.problems[0]


class NeedsValue(Exception):
    """A Relais filter given something it cannot use."""

    def __init__(self, filter_name: str, needs: str, value: Any, *, show: bool = True) -> None:
        super().__init__(filter_name)
        self.filter_name = filter_name
        self.needs = needs
        self.value = value
        self.show = show


class ProblemsOnce:
    """The template problems of one campaign file, each reported once.

    A template renders once per publication (each reminder of a livestream, each post
    using it), so one error comes back many times: it is reported once, at the template's
    own line, naming what was being rendered (``(for un and deux in schedules/c.yaml)``).
    Problems of inline text are moved to their line in the campaign file.
    """

    def __init__(self, problems: list[Problem], shown: str, path: Path) -> None:
        self.problems = problems  # the campaign file's problems, appended to
        self.shown = shown
        self.path = path
        self._seen: dict[Problem, tuple[int, list[str]]] = {}
        self._lines: list[str] | None = None

    def add(self, problem: Problem, user: str | None = None) -> None:
        seen = self._seen.get(problem)
        if seen is None:
            users = [user] if user else []
            self._seen[problem] = (len(self.problems), users)
            self.problems.append(self._naming(problem, users))
        elif user and user not in seen[1]:
            seen[1].append(user)
            self.problems[seen[0]] = self._naming(problem, seen[1])

    def _naming(self, problem: Problem, users: list[str]) -> Problem:
        if not users:
            return problem
        if len(users) > 3:
            names = f"{', '.join(users[:3])} and {len(users) - 3} more"
        else:
            names = " and ".join([", ".join(users[:-1]), users[-1]] if len(users) > 1 else users)
        return Problem(
            problem.file, problem.line, problem.column, f"{problem.message} (for {names} in {self.shown})"
        )

    def inline(self, problem: Problem, line: int, column: int) -> Problem:
        """``problem`` of the inline text written at ``line:column`` of the campaign file,
        at its own place in the file: the text of a block scalar (``text: |``) starts on
        the next line, indented; a quoted one after its quote."""
        if not problem.line or not line:
            return Problem(self.shown, line, column, problem.message)
        lines = self._text()
        indicator = lines[line - 1][column - 1 : column] if line <= len(lines) else ""
        if indicator in ("|", ">"):
            at = line + problem.line
        elif problem.line == 1:
            quoted = indicator in ("'", '"')
            return Problem(self.shown, line, column + quoted + problem.column - 1, problem.message)
        else:
            at = line + problem.line - 1
        text = lines[at - 1] if at <= len(lines) else ""
        return Problem(self.shown, at, len(text) - len(text.lstrip(" ")) + problem.column, problem.message)

    def _text(self) -> list[str]:
        if self._lines is None:
            try:
                text = self.path.read_text(encoding="utf-8").removeprefix("\ufeff")
            except (OSError, UnicodeDecodeError):
                text = ""
            self._lines = [line.rstrip("\r") for line in text.split("\n")]
        return self._lines


def check_tree(tree: nodes.Template, env: jinja2.Environment, source: str, shown: str) -> list[Problem]:
    """What is wrong before anything runs: unknown filters and tests, and the dunder
    attributes every way into the process starts with. One problem a line."""
    found: dict[int, tuple[int, str]] = {}
    deep = _too_deep(tree)
    if deep is not None:  # compiling it would take seconds
        message = f"the template nests its blocks ({{% for %}}, {{% if %}}…) more than {MAX_NESTING} deep"
        return [Problem(shown, deep.lineno, column_of(source, deep.lineno, None), message)]
    for node in tree.find_all((nodes.Filter, nodes.Test, nodes.Getattr)):
        if isinstance(node, nodes.Filter) and node.name not in env.filters:
            token, message = node.name, _unknown("filter", node.name, env.filters)
        elif isinstance(node, nodes.Test) and node.name not in env.tests:
            token, message = node.name, _unknown("test", node.name, env.tests)
        elif isinstance(node, nodes.Getattr) and node.attr.startswith("__"):
            token, message = node.attr, forbidden(node.attr)
        else:
            continue
        column = column_of(source, node.lineno, token)
        if node.lineno not in found or column < found[node.lineno][0]:
            found[node.lineno] = (column, message)
    return [Problem(shown, line, column, message) for line, (column, message) in sorted(found.items())]


MAX_NESTING = 10  # blocks inside blocks; Jinja's compiler slows down fast past that
_BLOCKS = (nodes.For, nodes.If, nodes.Macro, nodes.CallBlock, nodes.FilterBlock, nodes.With, nodes.Block)


def _too_deep(tree: nodes.Node) -> nodes.Node | None:
    """The first block nested more than ``MAX_NESTING`` deep, if any."""
    stack: list[tuple[nodes.Node, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, _BLOCKS):
            depth += 1
            if depth > MAX_NESTING:
                return node
        stack.extend((child, depth) for child in node.iter_child_nodes())
    return None


def _unknown(kind: str, name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    if close:
        return f"unknown {kind} '{name}'; did you mean '{close[0]}'?"
    return f"unknown {kind} '{name}' (the {kind}s: {', '.join(sorted(known))})"


def forbidden(name: str) -> str:
    return f"the template tries to reach '{name}', which a message cannot use"


def column_of(source: str, line: int, token: str | None) -> int:
    """Where ``token`` is on ``line`` of ``source`` (1-based), else its first character."""
    lines = source.splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    if token:
        match = re.search(rf"(?<![\w]){re.escape(token)}(?![\w])", text)
        if match:
            return match.start() + 1
    return len(text) - len(text.lstrip()) + 1


def explain(exc: BaseException, context: Mapping[str, Any], messages_dir: str) -> tuple[str, str | None]:
    """(the message a staff member reads, what to point at on the line)."""
    if isinstance(exc, sandbox.Forbidden):
        return forbidden(exc.name), exc.name
    if isinstance(exc, sandbox.Missing):
        return _missing(exc.name, exc.owner, context), exc.name if isinstance(exc.name, str) else None
    if isinstance(exc, NeedsValue):
        needs = f"the '{exc.filter_name}' filter needs {exc.needs}"
        if isinstance(exc.value, Undefined):
            name, owner = str(exc.value._undefined_name), exc.value._undefined_obj
            return f"{needs}, but {_missing(name, owner, context)}", name
        return (f"{needs}, not {_describe(exc.value)}" if exc.show else needs), None
    if isinstance(exc, sandbox.TemplateLimit):
        return exc.message, exc.token
    if isinstance(exc, sandbox.Mismatch):
        return _mismatch(exc), None
    if isinstance(exc, TemplateNotFound):
        return f"no template '{exc.name}' in {messages_dir}/ to include", str(exc.name)
    if isinstance(exc, TemplateProblem):
        return f"the template it includes cannot be used: {exc.problem}", None
    if isinstance(exc, RecursionError):
        return "the template includes or calls itself without end", None
    if isinstance(exc, ZeroDivisionError):
        return "division by zero", None
    if isinstance(exc, OverflowError):
        return "a number is too large", None
    if isinstance(exc, MemoryError):
        return sandbox.TOO_LONG, None
    unknown_argument = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
    if unknown_argument:
        return f"unknown argument '{unknown_argument[1]}'", unknown_argument[1]
    return f"the template cannot be rendered: {exc}", None


def _missing(name: Any, owner: Any, context: Mapping[str, Any]) -> str:
    """``'strat' is not defined; did you mean 'starts'?`` and the like."""
    if owner is missing:
        if name in sandbox.FORBIDDEN_NAMES:
            return forbidden(name)
        if name == "hashtag" and context.get("hashtags") == []:
            language = context.get("language", "")
            return (
                f"'hashtag' is not defined: the campaign has no hashtag for {language}; add one under "
                f"hashtags: at the top of the file, e.g. hashtags: [gautrinweb2] (or {language}: "
                "[gautrinweb2] when hashtags are given per language)"
            )
        close = difflib.get_close_matches(str(name), sorted(context), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "define it under vars:"
        return f"'{name}' is not defined; {hint}"
    if isinstance(owner, Mapping):
        keys = [str(key) for key in owner]
        close = difflib.get_close_matches(str(name), keys, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (its keys: {', '.join(keys)})" if keys else ""
        return f"the map has no key '{name}'{hint}"
    if isinstance(owner, list | tuple) and not isinstance(name, str):
        return f"the list has no item {name} (it has {len(owner)})"
    usable = sorted(a for a in sandbox.ATTRIBUTES if hasattr(owner, a))
    close = difflib.get_close_matches(str(name), usable, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{_describe(owner)} has no '{name}'{hint}"


def _describe(value: Any) -> str:
    """What a value is, in words: ``the text 'essai'``, ``a date and time``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the value {str(value).lower()}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:39] + "…"
        return f"the text {shown!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, datetime):
        return "a date and time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, timedelta):
        return "a duration"
    if isinstance(value, Mapping):
        return "a map"
    if isinstance(value, list | tuple):
        return "a list"
    return "a value of another kind"


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "a text"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return _describe(value)


def _mismatch(exc: sandbox.Mismatch) -> str:
    left, right = _kind(exc.left), _kind(exc.right)
    if exc.operator == "+":
        message = f"cannot add {right} to {left}"
        if isinstance(exc.left, str) or isinstance(exc.right, str):
            message += "; to write them one after the other, use ~"
        return message
    if exc.left is None and exc.operator == "-":
        return f"cannot make {right} negative"
    return {
        "-": f"cannot subtract {right} from {left}",
        "*": f"cannot multiply {left} by {right}",
        "/": f"cannot divide {left} by {right}",
        "//": f"cannot divide {left} by {right}",
        "%": f"cannot use % between {left} and {right}",
        "**": f"cannot raise {left} to the power of {right}",
    }.get(exc.operator, f"cannot use {exc.operator} on {right}")

"""Message templates: Jinja2 files in ``messages/``, one per message and language, and
inline ``text:``. They run in ``bot.core.sandbox``; every error they raise becomes one
``Problem`` at the template's own line, in plain words.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable, Collection, Generator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import jinja2
from jinja2 import BaseLoader, TemplateNotFound, TemplateSyntaxError, nodes, pass_context
from jinja2.runtime import Undefined, missing

from bot.core import i18n, sandbox
from bot.problems import Problem

SUFFIX = ".md"
# A message is at most a few thousand characters (Telegram: 4096); a template eight times
# that is already odd, and Jinja compiles about 50 kB a second on a slow machine.
MAX_TEMPLATE_BYTES = 32 * 1024
INLINE = "<inline text>"  # the file name compiled inline templates carry
# All the compiling and rendering of one load together: past it, every template is a
# problem at once, so that a change with many huge or slow templates still fails fast.
# A campaign of 10,000 publications takes a tenth of that.
SECONDS_IN_ALL = 5.0


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


@dataclass(frozen=True)
class Template:
    name: str  # the file shown to users (``messages/x.fr.md``) or INLINE
    compiled: jinja2.Template
    source: str = field(repr=False)
    owner: MessageTemplates = field(repr=False)

    def render(self, context: dict[str, Any]) -> str:
        """The text, or ``TemplateProblem`` (``rendering=True``) at the template's line."""
        return self.owner.render(self, context)


class NeedsValue(Exception):
    """A Relais filter given something it cannot use."""

    def __init__(self, filter_name: str, needs: str, value: Any, *, show: bool = True) -> None:
        super().__init__(filter_name)
        self.filter_name = filter_name
        self.needs = needs
        self.value = value
        self.show = show


class _Loader(BaseLoader):
    """Serves the files of ``messages/`` (for ``message:`` and ``{% include %}``) and the
    inline texts, each compiled with its own name so that errors point into it."""

    def __init__(self, owner: MessageTemplates) -> None:
        self.owner = owner

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source = self.owner._inline.get(template)
        if source is not None:
            return source, INLINE, lambda: True
        return self.owner._read(template), self.owner.shown(template), lambda: True

    def load(
        self, environment: jinja2.Environment, name: str, globals: MutableMapping[str, Any] | None = None
    ) -> jinja2.Template:
        source, filename, uptodate = self.get_source(environment, name)
        shown = "" if filename == INLINE else filename
        try:
            with sandbox.budget(sandbox.RENDER_SECONDS):  # constant folding runs filters
                tree = environment.parse(source, name, filename)
                problems = _check_tree(tree, environment, source, shown)
                if problems:
                    raise TemplateProblem(problems)
                code = environment.compile(tree, name, filename)
        except TemplateSyntaxError as exc:
            problem = Problem(shown, exc.lineno, 1, f"template error: {exc.message}")
            raise TemplateProblem([problem]) from None
        except (RecursionError, MemoryError, SyntaxError):
            message = "the template nests its expressions too deeply to be read"
            raise TemplateProblem([Problem(shown, 1, 1, message)]) from None
        except ValueError:  # Jinja's lexer reading a number of thousands of digits
            message = (
                "the template cannot be read: "
                + f"it has a number of more than {sandbox.MAX_DIGITS:,} digits"
            )
            raise TemplateProblem([Problem(shown, 1, 1, message)]) from None
        if shown:
            self.owner._sources[filename] = source
        return environment.template_class.from_code(
            environment, code, environment.make_globals(globals), uptodate
        )


class MessageTemplates:
    """Finds, compiles and renders the templates of one ``messages/`` directory."""

    def __init__(
        self, directory: Path, display: str | None = None, *, seconds_in_all: float = SECONDS_IN_ALL
    ) -> None:
        self.directory = directory
        self.display = display if display is not None else str(directory)
        self._env = sandbox.MessageEnvironment(_Loader(self))
        for name, function in (
            ("date", _date),
            ("time", _time),
            ("datetime", _datetime),
            ("duration", _duration),
        ):
            self._env.add_filter(name, function)
        self._files = (
            {p.name for p in directory.glob(f"*{SUFFIX}") if p.is_file()} if directory.is_dir() else set()
        )
        self._compiled: dict[str, Template | TemplateProblem] = {}
        self._inline: dict[str, str] = {}  # template name -> source of an inline text
        self._inline_names: dict[str, str] = {}  # source -> template name
        self._sources: dict[str, str] = {}  # compiled file name -> source, to find columns
        self._seconds_in_all = seconds_in_all
        self._spent = 0.0  # seconds of rendering so far

    def candidates(self, name: str, language: str) -> list[str]:
        """File names tried for ``name`` in ``language``, most specific first."""
        names = [f"{name}.{language}{SUFFIX}"]
        primary = language.split("-")[0]
        if primary != language:
            names.append(f"{name}.{primary}{SUFFIX}")
        names.append(f"{name}{SUFFIX}")
        return names

    def find(self, name: str, language: str) -> str | None:
        return next((f for f in self.candidates(name, language) if f in self._files), None)

    def get(self, filename: str) -> Template:
        """The compiled template; raises ``TemplateProblem``."""
        return self._compile(filename, self.shown(filename))

    def inline(self, source: str) -> Template:
        """A template written inline in a campaign file (``text:``)."""
        name = self._inline_names.get(source)
        if name is None:
            name = self._inline_names[source] = f"\0inline{len(self._inline_names)}"
            self._inline[name] = source
            size = len(source.encode("utf-8", "surrogatepass"))
            if size > MAX_TEMPLATE_BYTES:
                self._compiled[name] = TemplateProblem([Problem("", 0, 0, _too_big(size))])
        return self._compile(name, INLINE)

    def check_all(self) -> list[Problem]:
        """Compile every template, used or not, and report what is wrong with each."""
        problems = []
        for filename in sorted(self._files):
            try:
                self.get(filename)
            except TemplateProblem as exc:
                problems.extend(exc.problems)
        return problems

    def shown(self, filename: str) -> str:
        return f"{self.display}/{filename}" if self.display else filename

    # -- compiling -----------------------------------------------------------------

    def _compile(self, name: str, shown: str) -> Template:
        if name not in self._compiled:
            started = time.monotonic()
            try:
                if self._spent >= self._seconds_in_all:
                    raise TemplateProblem([Problem("" if shown == INLINE else shown, 0, 0, self._in_all())])
                compiled = self._env.get_template(name)
                source = self._inline[name] if shown == INLINE else self._sources[shown]
                self._compiled[name] = Template(shown, compiled, source, self)
            except TemplateProblem as exc:
                self._compiled[name] = exc
            finally:
                self._spent += time.monotonic() - started
        found = self._compiled[name]
        if isinstance(found, TemplateProblem):
            raise found
        return found

    def _read(self, filename: str) -> str:
        """The text of ``messages/filename``; raises ``TemplateNotFound`` or ``TemplateProblem``."""
        if filename not in self._files:
            raise TemplateNotFound(filename)
        shown = self.shown(filename)
        path = self.directory / filename
        try:
            if not path.resolve().is_relative_to(self.directory.resolve()):
                message = (
                    "the template is a link to a file outside messages/; copy the text into messages/ instead"
                )
                raise TemplateProblem([Problem(shown, 0, 0, message)])
            size = path.stat().st_size
            if size > MAX_TEMPLATE_BYTES:
                raise TemplateProblem([Problem(shown, 0, 0, _too_big(size))])
            with path.open("rb") as file:
                raw = file.read(MAX_TEMPLATE_BYTES + 1)
        except OSError as exc:
            raise TemplateProblem(
                [Problem(shown, 0, 0, f"cannot read the template: {exc.strerror}")]
            ) from None
        if len(raw) > MAX_TEMPLATE_BYTES:
            raise TemplateProblem([Problem(shown, 0, 0, _too_big(len(raw)))])
        try:
            return raw.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            line, column = byte_position(raw, exc.start)
            message = f"not UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
            raise TemplateProblem([Problem(shown, line, column, message)]) from None

    # -- rendering -----------------------------------------------------------------

    def render(self, template: Template, context: dict[str, Any]) -> str:
        left = self._seconds_in_all - self._spent
        if left <= 0:
            problem = Problem("" if template.name == INLINE else template.name, 0, 0, self._in_all())
            raise TemplateProblem([problem], rendering=True)
        started = time.monotonic()
        parts: list[str] = []
        size = 0
        stream = cast(Generator[str, None, None], template.compiled.generate(context))
        try:
            # Time is checked by the sandbox's hooks and loop steps; the output, here.
            slow = sandbox.TOO_SLOW if left >= sandbox.RENDER_SECONDS else self._in_all(checked=True)
            with sandbox.budget(min(sandbox.RENDER_SECONDS, left), slow):
                for part in stream:
                    size += len(part)
                    if size > sandbox.MAX_TEXT:
                        raise sandbox.TemplateLimit(sandbox.TOO_LONG)
                    parts.append(part)
        except Exception as exc:  # a template is code: whatever it raises is its problem
            where = _where(exc.__traceback__, stream, template)
            raise TemplateProblem([self._problem(exc, where, template, context)], rendering=True) from None
        finally:
            stream.close()
            self._spent += time.monotonic() - started
        return "".join(parts)

    def _in_all(self, *, checked: bool = False) -> str:
        return (
            f"{'' if checked else 'not checked: '}the templates already took more than "
            f"{self._seconds_in_all:g} s in all; look for very long templates or long loops"
        )

    def _problem(
        self, exc: Exception, where: tuple[str, int], template: Template, context: Mapping[str, Any]
    ) -> Problem:
        filename, line = where
        message, token = _explain(exc, context, self.display)
        source = template.source if filename == template.name else self._sources.get(filename, "")
        column = _column(source, line, token)
        return Problem("" if filename == INLINE else filename, line, column, message)


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


def _too_big(size: int) -> str:
    return (
        f"the template is {size / 1024:.0f} kB; a message template may be at most "
        f"{MAX_TEMPLATE_BYTES // 1024} kB"
    )


def byte_position(raw: bytes, offset: int) -> tuple[int, int]:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, len(raw[line_start:offset].decode("utf-8", "replace")) + 1


# -- where a problem is, and what it says ------------------------------------------------


def _check_tree(tree: nodes.Template, env: jinja2.Environment, source: str, shown: str) -> list[Problem]:
    """What is wrong before anything runs: unknown filters and tests, and the dunder
    attributes every way into the process starts with. One problem a line."""
    found: dict[int, tuple[int, str]] = {}
    deep = _too_deep(tree)
    if deep is not None:  # compiling it would take seconds
        message = f"the template nests its blocks ({{% for %}}, {{% if %}}…) more than {MAX_NESTING} deep"
        return [Problem(shown, deep.lineno, _column(source, deep.lineno, None), message)]
    for node in tree.find_all((nodes.Filter, nodes.Test, nodes.Getattr)):
        if isinstance(node, nodes.Filter) and node.name not in env.filters:
            token, message = node.name, _unknown("filter", node.name, env.filters)
        elif isinstance(node, nodes.Test) and node.name not in env.tests:
            token, message = node.name, _unknown("test", node.name, env.tests)
        elif isinstance(node, nodes.Getattr) and node.attr.startswith("__"):
            token, message = node.attr, _forbidden(node.attr)
        else:
            continue
        column = _column(source, node.lineno, token)
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


def _forbidden(name: str) -> str:
    return f"the template tries to reach '{name}', which a message cannot use"


def _where(tb: TracebackType | None, stream: Any, template: Template) -> tuple[str, int]:
    """The template file (or INLINE) and line an error came from: the innermost template
    frame of the traceback Jinja rewrote, or where the stream stood (output too long)."""
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename == INLINE or filename in template.owner._sources:
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    if found is not None:
        return found
    frame = getattr(getattr(stream, "gi_yieldfrom", None), "gi_frame", None)
    if frame is not None:
        return template.name, template.compiled.get_corresponding_lineno(frame.f_lineno)
    return template.name, 1


def _column(source: str, line: int, token: str | None) -> int:
    """Where ``token`` is on ``line`` of ``source`` (1-based), else its first character."""
    lines = source.splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    if token:
        match = re.search(rf"(?<![\w]){re.escape(token)}(?![\w])", text)
        if match:
            return match.start() + 1
    return len(text) - len(text.lstrip()) + 1


def _explain(exc: BaseException, context: Mapping[str, Any], messages_dir: str) -> tuple[str, str | None]:
    """(the message a staff member reads, what to point at on the line)."""
    if isinstance(exc, sandbox.Forbidden):
        return _forbidden(exc.name), exc.name
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
            return _forbidden(name)
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


# -- Relais's filters ----------------------------------------------------------------------


def _language(context: Any) -> str:
    return context.get("language", "en")


def _moment(value: Any, filter_name: str) -> datetime:
    if not isinstance(value, datetime):
        raise NeedsValue(filter_name, "a date and time", value)
    return value


@pass_context
def _date(context: Any, value: Any) -> str:
    return i18n.long_date(_moment(value, "date"), _language(context))


@pass_context
def _time(context: Any, value: Any) -> str:
    return i18n.short_time(_moment(value, "time"), _language(context))


@pass_context
def _datetime(context: Any, value: Any) -> str:
    return i18n.date_and_time(_moment(value, "datetime"), _language(context))


@pass_context
def _duration(context: Any, value: Any) -> str:
    if not isinstance(value, timedelta):
        raise NeedsValue("duration", "a duration", value)
    if value < timedelta(0):
        raise NeedsValue("duration", "a duration of zero or more", value, show=False)
    return i18n.duration(value, _language(context))

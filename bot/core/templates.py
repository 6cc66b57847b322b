"""Message templates: Jinja2 files in ``messages/``, one per message and language, and
inline ``text:``. They run in ``bot.core.sandbox``; every error they raise becomes one
``Problem`` at the template's own line, in plain words.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import jinja2
from jinja2 import BaseLoader, TemplateNotFound, TemplateSyntaxError, pass_context

from bot.core import i18n, sandbox
from bot.core.template_problems import NeedsValue, TemplateProblem, check_tree, column_of, explain
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


@dataclass(frozen=True)
class Template:
    name: str  # the file shown to users (``messages/x.fr.md``) or INLINE
    compiled: jinja2.Template
    source: str = field(repr=False)
    owner: MessageTemplates = field(repr=False)

    def render(self, context: dict[str, Any]) -> str:
        """The text, or ``TemplateProblem`` (``rendering=True``) at the template's line."""
        return self.owner.render(self, context)


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
                problems = check_tree(tree, environment, source, shown)
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
        self._found: dict[tuple[str, str], str | None] = {}  # (name, language) -> file, see find
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
        key = (name, language)
        if key not in self._found:  # (asked once per publication, answered once per pair)
            self._found[key] = next((f for f in self.candidates(name, language) if f in self._files), None)
        return self._found[key]

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
        compiled = template.compiled
        # What ``compiled.generate(context)`` does, without its extra generator in the way of
        # every piece of output nor its copy of ``context`` (``new_context`` makes one).
        stream = cast(Generator[str, None, None], compiled.root_render_func(compiled.new_context(context)))
        try:
            # Time is checked by the sandbox's hooks and loop steps; the output, here.
            slow = sandbox.TOO_SLOW if left >= sandbox.RENDER_SECONDS else self._in_all(checked=True)
            with sandbox.budget(min(sandbox.RENDER_SECONDS, left), slow):
                limit, keep = sandbox.MAX_TEXT, parts.append  # (looked up once, not per piece)
                try:
                    for part in stream:
                        size += len(part)
                        if size > limit:
                            break
                        keep(part)
                except Exception:
                    compiled.environment.handle_exception()  # raises it at the template's lines
                if size > limit:
                    raise sandbox.TemplateLimit(sandbox.TOO_LONG)
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
        message, token = explain(exc, context, self.display)
        source = template.source if filename == template.name else self._sources.get(filename, "")
        column = column_of(source, line, token)
        return Problem("" if filename == INLINE else filename, line, column, message)


def _too_big(size: int) -> str:
    return (
        f"the template is {size / 1024:.0f} kB; a message template may be at most "
        f"{MAX_TEMPLATE_BYTES // 1024} kB"
    )


def byte_position(raw: bytes, offset: int) -> tuple[int, int]:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, len(raw[line_start:offset].decode("utf-8", "replace")) + 1


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
    frame = getattr(stream, "gi_frame", None)
    if frame is not None:
        return template.name, template.compiled.get_corresponding_lineno(frame.f_lineno)
    return template.name, 1


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

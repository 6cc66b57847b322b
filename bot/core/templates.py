"""Message templates: Jinja2 files in ``messages/``, one per message and language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateSyntaxError, pass_context

from bot.core import i18n
from bot.problems import Problem

SUFFIX = ".md"
MAX_TEMPLATE_BYTES = 256 * 1024


class TemplateProblem(Exception):
    """A template that cannot be used; ``problem`` says where and why."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


@dataclass(frozen=True)
class Template:
    name: str  # the file shown to users (``messages/x.fr.md``) or "inline text"
    compiled: jinja2.Template

    def render(self, context: dict[str, Any]) -> str:
        return self.compiled.render(context)


class MessageTemplates:
    """Finds, compiles and checks the templates of one ``messages/`` directory."""

    def __init__(self, directory: Path, display: str | None = None) -> None:
        self.directory = directory
        self.display = display if display is not None else str(directory)
        self._env = Environment(
            loader=FileSystemLoader(directory),
            undefined=StrictUndefined,
            autoescape=False,  # noqa: S701 - the Markdown renderer escapes for Telegram
            keep_trailing_newline=False,
            auto_reload=False,
            cache_size=-1,
        )
        self._env.filters.update(date=_date, time=_time, datetime=_datetime, duration=_duration)
        self._files = (
            {p.name for p in directory.glob(f"*{SUFFIX}") if p.is_file()} if directory.is_dir() else set()
        )
        self._compiled: dict[str, Template | TemplateProblem] = {}

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
        if filename not in self._compiled:
            try:
                self._compiled[filename] = self._compile_file(filename)
            except TemplateProblem as exc:
                self._compiled[filename] = exc
        found = self._compiled[filename]
        if isinstance(found, TemplateProblem):
            raise found
        return found

    def inline(self, source: str) -> Template:
        """A template written inline in a campaign file (``text:``)."""
        key = "\0inline\0" + source
        if key not in self._compiled:
            try:
                self._compiled[key] = Template("inline text", self._env.from_string(source))
            except TemplateSyntaxError as exc:
                problem = Problem("", exc.lineno, 1, f"template error: {exc.message}")
                self._compiled[key] = TemplateProblem(problem)
        found = self._compiled[key]
        if isinstance(found, TemplateProblem):
            raise found
        return found

    def check_all(self) -> list[Problem]:
        """Compile every template, used or not, and report what is wrong with each."""
        problems = []
        for filename in sorted(self._files):
            try:
                self.get(filename)
            except TemplateProblem as exc:
                problems.append(exc.problem)
        return problems

    def shown(self, filename: str) -> str:
        return f"{self.display}/{filename}" if self.display else filename

    def _compile_file(self, filename: str) -> Template:
        shown = self.shown(filename)
        path = self.directory / filename
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise TemplateProblem(Problem(shown, 0, 0, f"cannot read the template: {exc.strerror}")) from None
        if len(raw) > MAX_TEMPLATE_BYTES:
            raise TemplateProblem(
                Problem(
                    shown,
                    0,
                    0,
                    f"template is {len(raw) // 1024} kB; the limit is {MAX_TEMPLATE_BYTES // 1024} kB",
                )
            )
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, column = byte_position(raw, exc.start)
            raise TemplateProblem(
                Problem(
                    shown, line, column, f"not UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
                )
            ) from None
        try:
            compiled = self._env.from_string(source.removeprefix("\ufeff"))
        except TemplateSyntaxError as exc:
            raise TemplateProblem(Problem(shown, exc.lineno, 1, f"template error: {exc.message}")) from None
        return Template(shown, compiled)


def byte_position(raw: bytes, offset: int) -> tuple[int, int]:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, len(raw[line_start:offset].decode("utf-8", "replace")) + 1


def _language(context: Any) -> str:
    return context.get("language", "en")


def _moment(value: Any, filter_name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"the '{filter_name}' filter needs a date and time, not {value!r}")
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
        raise TypeError(f"the 'duration' filter needs a duration, not {value!r}")
    return i18n.duration(value, _language(context))

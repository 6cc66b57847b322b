"""The Jinja2 environment message templates run in: sandboxed, and bounded.

A template is code from whoever can change ``messages/`` or a campaign file, and
``relais validate`` runs it on every proposed change. Jinja2's
``ImmutableSandboxedEnvironment`` refuses underscore attributes and changes to lists and
maps; this module closes what it leaves open.

- **Reach.** A template sees its variables, ``range`` and the filters kept in
  ``FILTERS``; Jinja's other globals (``cycler``, ``joiner``, ``namespace``, ``lipsum``,
  ``dict``) are gone. Attributes are an allow-list (``ATTRIBUTES``): Python's own methods
  allocate without limit (``'x'.ljust(10**9)``, ``(1).to_bytes(10**9)``) or format by
  their own rules (``str.format``). Jinja's filters that write HTML or print Python
  objects (``escape``, ``safe``, ``urlize``, ``pprint``, ``tojson``, ``xmlattr``) and
  ``random`` (``plan`` would not show what is sent) are left out.
- **Size.** Whatever makes a text, a list or a number is checked before it is made:
  the operators (``*``, ``+``, ``~``, ``%``, ``**``), ``range``, the filters that repeat a
  string (``join``, ``replace``, ``indent``, ``wordwrap``, ``center``, ``format``) or make
  lists (``batch``, ``slice``), the blocks Jinja buffers (``{% set %}``, ``{% filter %}``,
  macros) and the output.
- **Time.** Loop steps are counted, and a deadline is checked from the sandbox's hooks
  (each call, operator, filter, attribute, loop step and piece of output): no thread and
  no signal, a template out of time stops at its next step. It is the process's own
  monotonic clock, not the campaign's injected one: this bounds work, not the calendar.

Past a bound a template raises ``TemplateLimit``; reaching for something it cannot use,
``Forbidden``; using a name it was not given, ``Missing``. ``bot.core.templates`` turns
them into problems in plain words.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, UndefinedError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import TemplateModule
from jinja2.runtime import BlockReference, Context, LoopContext, Macro, TemplateReference, Undefined, missing
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEXT = 100_000  # characters of any text a template makes, its output included
MAX_ITEMS = 10_000  # items of a list, numbers of a range
MAX_LOOPS = 100_000  # loop steps in one rendering
MAX_DIGITS = 4_000  # digits of a number
RENDER_SECONDS = 0.5  # one rendering
_MAX_BITS = math.ceil(MAX_DIGITS * math.log2(10))

TOO_LONG = f"the template produces more than {MAX_TEXT:,} characters"
TOO_MANY = f"the template makes a list of more than {MAX_ITEMS:,} items"
TOO_BIG = f"the template computes a number of more than {MAX_DIGITS:,} digits"
TOO_SLOW = f"the template takes more than {RENDER_SECONDS:g} s to render"
TOO_REPETITIVE = f"the template's loops run more than {MAX_LOOPS:,} times"

# Names that are not a message's variables but that someone trying to reach the process
# would use: refused in those words rather than as a missing variable with a suggestion.
FORBIDDEN_NAMES = frozenset(
    {"cycler", "joiner", "namespace", "lipsum", "dict", "os", "sys", "subprocess", "builtins"}
    | {"__builtins__", "__import__", "import", "eval", "exec", "open", "globals", "getattr", "config"}
)

FILTERS = frozenset(
    {"abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "first"}
    | {"filesizeformat", "float", "format", "groupby", "indent", "int", "items", "join", "last"}
    | {"length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace"}
    | {"reverse", "round", "select", "selectattr", "slice", "sort", "string", "striptags", "sum"}
    | {"title", "trim", "truncate", "unique", "upper", "urlencode", "wordcount", "wordwrap"}
)

# The attributes a template may read on its values (texts, numbers, lists, maps, dates
# and times, durations). Jinja's own objects (``loop``, macros) keep the sandbox's rule.
ATTRIBUTES = frozenset(
    # texts
    {"capitalize", "casefold", "count", "endswith", "find", "isalnum", "isalpha", "isdigit"}
    | {"islower", "isnumeric", "isspace", "istitle", "isupper", "lower", "lstrip", "partition"}
    | {"removeprefix", "removesuffix", "replace", "rfind", "rpartition", "rsplit", "rstrip"}
    | {"split", "splitlines", "startswith", "strip", "swapcase", "title", "upper"}
    # dates, times and durations
    | {"year", "month", "day", "hour", "minute", "second", "date", "time", "weekday"}
    | {"isoweekday", "isoformat", "days", "seconds", "total_seconds"}
    # lists and maps, and the groups of ``groupby``
    | {"index", "items", "keys", "values", "get", "grouper", "list"}
)
_JINJA_OBJECTS = (LoopContext, Macro, TemplateReference, BlockReference, TemplateModule)


class TemplateLimit(Exception):
    """A template past one of the bounds; the message says which, in plain words."""

    def __init__(self, message: str, token: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.token = token  # what to point at on the template's line, if anything


class Forbidden(Exception):
    """A template reached for ``name``, which a message cannot use."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class Missing(UndefinedError):
    """A template used ``name``, which it was not given (``owner`` is ``missing`` for a
    variable, else the value that has no such attribute or key)."""

    def __init__(self, message: str, name: Any, owner: Any) -> None:
        super().__init__(message)
        self.name = name
        self.owner = owner


class Mismatch(Exception):
    """An operator used between values it does not apply to (a text and a number)."""

    def __init__(self, operator: str, left: Any, right: Any) -> None:
        super().__init__(operator)
        self.operator = operator
        self.left = left
        self.right = right


class MissingValue(StrictUndefined):
    """Jinja's strict undefined, raising ``Missing`` with the name and its owner."""

    __slots__ = ()

    def __init__(
        self, hint: str | None = None, obj: Any = missing, name: str | None = None, exc: Any = None
    ) -> None:
        super().__init__(hint, obj, name)
        self._undefined_exception = self._missing  # type: ignore[assignment]  # called as exc(message)

    def _missing(self, message: str) -> Missing:
        return Missing(message, self._undefined_name, self._undefined_obj)


@dataclass
class Budget:
    """What one rendering may still spend."""

    deadline: float
    late: str = TOO_SLOW  # what to say past the deadline
    loops: int = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimit(self.late)


_BUDGET: ContextVar[Budget | None] = ContextVar("relais_template_budget", default=None)


class _Spending:
    def __init__(self, spend: Budget) -> None:
        self.spend = spend

    def __enter__(self) -> Budget:
        self._token = _BUDGET.set(self.spend)
        return self.spend

    def __exit__(self, *_: object) -> None:
        _BUDGET.reset(self._token)


def budget(seconds: float, late: str = TOO_SLOW) -> _Spending:
    """``with budget(0.5):`` the templates rendered (or compiled) inside have ``seconds``
    to spend, and say ``late`` past them."""
    return _Spending(Budget(time.monotonic() + seconds, late))


def _tick() -> None:
    spend = _BUDGET.get()
    if spend is not None:
        spend.tick()


def _check_size(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise TemplateLimit(TOO_LONG)
    elif isinstance(value, list | tuple | dict | set | frozenset):
        if len(value) > MAX_ITEMS:
            raise TemplateLimit(TOO_MANY)
    elif isinstance(value, int) and value.bit_length() > _MAX_BITS:
        raise TemplateLimit(TOO_BIG)
    return value


def _text_size(value: Any, limit: int = MAX_TEXT) -> int:
    """About how long ``str(value)`` is, counted no further than ``limit``: a list that
    holds one long text ten thousand times is small to make but not to write out."""
    if isinstance(value, str):
        return len(value)
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 4
        elif isinstance(item, Mapping):
            total += 2
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2
            stack.extend(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        else:  # numbers, dates, durations, None: short
            total += 40
    return total


def _check_text(value: Any) -> Any:
    """``value``, if writing it as text stays within ``MAX_TEXT``."""
    if (len(value) if type(value) is str else _text_size(value)) > MAX_TEXT:  # (most are texts)
        raise TemplateLimit(TOO_LONG)
    return value


def _check_length(sample: Any, length: int) -> None:
    """Refuse to make a text (if ``sample`` is one) or a list of ``length``."""
    if isinstance(sample, str):
        if length > MAX_TEXT:
            raise TemplateLimit(TOO_LONG)
    elif length > MAX_ITEMS:
        raise TemplateLimit(TOO_MANY)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


# ``%`` formatting: a width or precision is a size (``'%1000000000d' % 1``).
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent(fmt: str) -> None:
    for match in _PERCENT.finditer(fmt):
        for size in match.groups():
            if size == "*":
                raise TemplateLimit(
                    "a % format takes its width from a value ('*'); write the width as a number"
                )
            if size and (len(size) > 6 or int(size) > MAX_TEXT):
                raise TemplateLimit(TOO_LONG)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        sequence, count = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(sequence, str | list | tuple) and isinstance(count, int):
            _check_length(sequence, len(sequence) * max(count, 0))
            if not isinstance(sequence, str) and count > 0 and _text_size(sequence) * count > MAX_TEXT:
                # a list that holds one long text many times: small to make, slow to compare
                raise TemplateLimit(TOO_LONG)
        elif (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > _MAX_BITS
        ):
            raise TemplateLimit(TOO_BIG)
    elif operator == "+":
        if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            _check_length(left, len(left) + len(right))
            if not isinstance(left, str) and _text_size(left) + _text_size(right) > MAX_TEXT:
                raise TemplateLimit(TOO_LONG)
    elif (
        operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1
    ):
        if math.log2(abs(left)) * right > _MAX_BITS:
            raise TemplateLimit(TOO_BIG)
    elif operator == "%" and isinstance(left, str):
        _check_percent(left)
        _check_text(right)


def _bounded_range(*args: Any) -> range:
    """``range``, refused past ``MAX_ITEMS`` numbers (Jinja's own sandbox allows 100,000)."""
    _tick()
    numbers = range(*args)
    try:
        count = len(numbers)
    except OverflowError:  # more than sys.maxsize
        step = numbers.step
        count = max(0, (numbers.stop - numbers.start + step - (1 if step > 0 else -1)) // step)
    if count > MAX_ITEMS:
        raise TemplateLimit(
            f"range() would count {count:,} numbers; a message may count at most {MAX_ITEMS:,}", "range"
        )
    return numbers


def _bounded_concat(parts: Iterable[Any]) -> str:
    """Jinja's ``concat`` (of a buffered block, a macro's output), refused past ``MAX_TEXT``."""
    kept = []
    total = 0
    for part in parts:
        total += len(part)
        if total > MAX_TEXT:
            raise TemplateLimit(TOO_LONG)
        kept.append(part)
    _tick()
    return "".join(kept)


def _materialize(value: Any) -> Any:
    """An iterable a filter will read whole, as a list of at most ``MAX_ITEMS``."""
    if isinstance(value, str | Mapping | Undefined):
        return value
    if isinstance(value, list | tuple):
        _check_size(value)
        return value
    items = []
    for item in value:
        items.append(item)
        if len(items) > MAX_ITEMS:
            raise TemplateLimit(TOO_MANY)
    return items


# Before a filter runs: refuse what it would make too big.
def _estimate_center(value: Any, width: Any = 80, *_: Any) -> None:
    _check_length("", max(len(str(value)), _int(width)))


def _estimate_indent(value: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    text = str(value)
    prefix = len(width) if isinstance(width, str) else _int(width)
    _check_length("", len(text) + (text.count("\n") + 1) * prefix)


def _estimate_wordwrap(value: Any, width: Any = 79, *args: Any, wrapstring: Any = None, **_: Any) -> None:
    if len(args) >= 2:
        wrapstring = args[1]
    text = str(value)
    pieces = len(text) // max(_int(width), 1) + text.count("\n") + 1
    _check_length("", len(text) + pieces * len(str(wrapstring) if wrapstring is not None else "\n"))


def _estimate_replace(value: Any, old: Any, new: Any, count: Any = None) -> None:
    text, old, new = str(value), str(old), str(new)
    times = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    _check_length("", len(text) + times * (len(new) - len(old)))


def _estimate_join(value: Any, separator: Any = "", attribute: Any = None) -> None:
    items = list(value) if isinstance(value, str) else value
    total = len(str(separator)) * max(len(items) - 1, 0)
    _check_length("", total)
    if attribute is None:
        for item in items:
            total += _text_size(item)
            _check_length("", total)


def _estimate_format(value: Any, *args: Any, **kwargs: Any) -> None:
    _check_percent(str(value))
    _check_text([*args, *kwargs.values()])


def _estimate_lists(value: Any, size: Any, *_: Any) -> None:
    _check_length([], _int(size))


def _estimate_sum(value: Any, attribute: Any = None, start: Any = 0) -> None:
    if not isinstance(start, int | float):
        raise TemplateLimit("the 'sum' filter adds numbers; its start must be a number")


_ESTIMATES: dict[str, Callable[..., None]] = {
    "center": _estimate_center,
    "indent": _estimate_indent,
    "wordwrap": _estimate_wordwrap,
    "replace": _estimate_replace,
    "join": _estimate_join,
    "format": _estimate_format,
    "batch": _estimate_lists,
    "slice": _estimate_lists,
    "sum": _estimate_sum,
}
# Filters that read their input whole: it is made a bounded list first.
_CONSUMERS = frozenset(
    {"list", "join", "sort", "unique", "reverse", "batch", "slice", "sum", "min", "max", "groupby", "last"}
)
# Filters that write their input as text: it must not be too long to write.
_STRINGIFY = frozenset(
    {"capitalize", "center", "format", "indent", "lower", "replace", "string", "striptags", "title"}
    | {"trim", "truncate", "upper", "urlencode", "wordcount", "wordwrap"}
)
# Filters meant to receive an undefined value; every other one fails on it at once.
_TAKE_UNDEFINED = frozenset({"default", "d"})


def _bounded_filter(
    name: str, func: Callable[..., Any], *, takes_undefined: bool = False
) -> Callable[..., Any]:
    leading = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0  # context, env or eval context
    estimate = _ESTIMATES.get(name)
    consumes = name in _CONSUMERS
    stringifies = name in _STRINGIFY
    takes_undefined = takes_undefined or name in _TAKE_UNDEFINED

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        if len(args) > leading:
            value = args[leading]
            if isinstance(value, Undefined) and not takes_undefined:
                value._fail_with_undefined_error()
            if stringifies:
                _check_text(value)
            if consumes:
                value = _materialize(value)
                args = (*args[:leading], value, *args[leading + 1 :])
            if estimate is not None:
                estimate(value, *args[leading + 1 :], **kwargs)
        return _check_size(func(*args, **kwargs))

    return bounded


class _CodeGenerator(CodeGenerator):
    """Jinja's compiler, with every loop counted and ``~`` bounded."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        loop_items = nodes.EnvironmentAttribute("loop_items")
        if not (isinstance(node.iter, nodes.Call) and node.iter.node == loop_items):
            node.iter = nodes.Call(loop_items, [node.iter], [], None, None, lineno=node.lineno)
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.tilde((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


class MessageEnvironment(ImmutableSandboxedEnvironment):
    """Where message templates are compiled and rendered (see the module's docstring)."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    intercepted_unops = frozenset({"+", "-"})

    def __init__(self, loader: BaseLoader) -> None:
        super().__init__(
            loader=loader,
            undefined=MissingValue,
            autoescape=False,  # the Markdown renderer escapes for Telegram
            keep_trailing_newline=False,
            auto_reload=False,
            cache_size=-1,
            finalize=_check_text,  # every {{ value }}, before it is written out
        )
        self.globals.clear()
        self.globals["range"] = _bounded_range
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items() if name in FILTERS}
        self.concat = _bounded_concat  # type: ignore[method-assign]  # what compiled templates join blocks with

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as one plain map (Jinja makes a ``ChainMap`` over the
        environment's). Every rendering copies them into its context, and going through a
        chain map was half of what rendering a short message cost. The environment's
        globals are set once, in ``__init__``: a snapshot holds the same names."""
        return {**self.globals, **(d or {})}

    def add_filter(self, name: str, func: Callable[..., Any]) -> None:
        """A filter of Relais's own; it receives undefined values to say what it needed."""
        self.filters[name] = _bounded_filter(name, func, takes_undefined=True)

    # -- the sandbox's hooks -----------------------------------------------------------

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, _JINJA_OBJECTS):
            return super().is_safe_attribute(obj, attr, value)
        return attr in ATTRIBUTES

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise Forbidden(attribute)

    def wrap_str_format(self, value: Any) -> None:
        return None  # str.format is not in ATTRIBUTES: the sandbox need not wrap it

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()
        return super().getitem(obj, argument)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        if not __self.is_safe_callable(__obj):
            raise Forbidden(getattr(__obj, "__name__", "this function"))
        if getattr(__obj, "__name__", None) == "replace" and isinstance(
            getattr(__obj, "__self__", None), str
        ):
            _estimate_replace(__obj.__self__, *args, **kwargs)
        result = __context.call(__obj, *args, **kwargs)
        _tick()
        return _check_size(result)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _check_binop(operator, left, right)
        try:
            result = self.binop_table[operator](left, right)
        except TypeError:
            if isinstance(left, Undefined) or isinstance(right, Undefined):
                raise
            raise Mismatch(operator, left, right) from None
        return _check_size(result)

    def call_unop(self, context: Context, operator: str, arg: Any) -> Any:
        _tick()
        try:
            return self.unop_table[operator](arg)
        except TypeError:
            if isinstance(arg, Undefined):
                raise
            raise Mismatch(operator, None, arg) from None

    # -- called by the compiled templates (see _CodeGenerator) -----------------------

    def loop_items(self, iterable: Iterable[Any]) -> Iterator[Any]:
        spend = _BUDGET.get()
        for item in iterable:
            if spend is not None:
                spend.loops += 1
                if spend.loops > MAX_LOOPS:
                    raise TemplateLimit(TOO_REPETITIVE)
                spend.tick()  # every step: one step can be slow (a comparison of long lists)
            yield item

    def tilde(self, parts: Iterable[Any]) -> str:
        return _bounded_concat(str(_check_text(part)) for part in parts)

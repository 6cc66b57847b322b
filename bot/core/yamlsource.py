"""Parse YAML into plain Python data and keep where every value came from.

PyYAML's composer (the C one when available) builds a node tree that carries line and
column marks; we construct plain values from it ourselves and keep the tree, so that a
path such as ``("posts", 3, "at")`` can be mapped back to ``line:column`` for an error.
Plain scalars that look like timestamps stay strings: times are read by
``bot.core.times`` with the campaign's time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.core import yaml_errors

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

Path_ = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_STR = _TAG + "str"
# The first characters of a plain scalar that may be something else than text (a number,
# a boolean, null, a timestamp, a merge key…): PyYAML picks its implicit resolvers by the
# first character, and has no resolver for any other one.
_MAY_NOT_BE_TEXT = frozenset(key for key in _SafeLoader.yaml_implicit_resolvers if key is not None)
# (Should a future PyYAML add a resolver for any first character, or a path resolver, the
# shortcut below is off.)
_SHORTCUT = None not in _SafeLoader.yaml_implicit_resolvers and not _SafeLoader.yaml_path_resolvers
# A time as campaigns write it, which none of PyYAML's resolvers takes (an int or float has no
# "-" after its digits, a timestamp has seconds).
_LOCAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}")


class _Loader(_SafeLoader):
    """The safe loader, with PyYAML's resolver skipped where it cannot find anything.

    The composer asks the resolver for the tag of every node; PyYAML's tries a list of
    regular expressions in Python each time. Most of a campaign file is text that starts
    with a letter no resolver is registered for, or is quoted: its tag is ``str``, known
    at once. So is a local time (``2012-05-02 13:30``: no seconds, so not a timestamp).
    Other values are resolved once per file (keys such as ``title`` repeat). The result
    is the tag PyYAML would give (``tests/test_fast_paths.py``).
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._resolved: dict[tuple[str, tuple[bool, bool]], str] = {}

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode and _SHORTCUT:
            if not implicit[0] or (value and value[0] not in _MAY_NOT_BE_TEXT):
                return _STR
            tag = self._resolved.get((value, implicit))
            if tag is None:
                if _LOCAL_TIME.fullmatch(value):
                    return _STR
                tag = self._resolved[value, implicit] = super().resolve(kind, value, implicit)
            return tag
        return super().resolve(kind, value, implicit)

    if _SHORTCUT:  # (without path resolvers, PyYAML's own do nothing, but are called for every node)

        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            pass

        def ascend_resolver(self) -> None:
            pass


_constructor = SafeConstructor()
_SCALARS = {
    _TAG + "int": _constructor.construct_yaml_int,
    _TAG + "float": _constructor.construct_yaml_float,
    _TAG + "bool": _constructor.construct_yaml_bool,
    _TAG + "null": lambda node: None,
}


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class Located:
    """A parsed document, and its node tree to find where each value came from."""

    data: Any
    root: Node | None = None
    problems: list[tuple[Position, str]] = field(default_factory=list)
    text: str = ""

    def line(self, number: int) -> str:
        """The text of line ``number`` (1-based), or "" past the end."""
        lines = self.text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else ""

    def position(self, path: Path_, *, key: bool = False) -> Position:
        """Where ``path`` is written (its key with ``key=True``), or its nearest ancestor.

        Positions are looked up in the node tree only when a problem is reported, so
        that loading a valid file pays nothing for them.
        """
        node = self.root
        found = _pos(node) if node is not None else Position(1, 1)
        for part in path:
            child: Node | None = None
            if isinstance(node, MappingNode):
                for key_node, value_node in node.value:
                    if isinstance(key_node, ScalarNode) and key_node.value == part:
                        child = value_node
                        if key and part == path[-1]:
                            return _pos(key_node)
                        break
            elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
                child = node.value[part]
            if child is None:
                return found
            node = child
            found = _pos(node)
        return found


MAX_DEPTH = 32


class YamlSyntaxError(Exception):
    def __init__(self, position: Position, message: str) -> None:
        self.position = position
        self.message = message
        super().__init__(message)


def _pos(node: Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def parse(text: str) -> Located:
    """Parse one YAML document. Raises ``YamlSyntaxError`` with the first syntax error."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        (line, column), message = yaml_errors.explain(exc, text)
        raise YamlSyntaxError(Position(line, column), message) from None
    located = Located(data=None, root=root, text=text)
    if root is not None:
        located.data = _build(root, located.problems, set(), text)
    return located


def _build(
    node: Node, problems: list[tuple[Position, str]], seen: set[int], text: str = "", depth: int = 0
) -> Any:
    kind = type(node)
    if kind is ScalarNode:
        return node.value if node.tag == _STR else _scalar(node, problems)  # type: ignore[arg-type]
    if depth >= MAX_DEPTH:  # deeper than any campaign needs, and than Python's recursion allows
        problems.append(
            (_pos(node), f"lists and maps are nested more than {MAX_DEPTH} levels deep here; flatten them")
        )
        return None
    # An alias (*name) brings back a node already built: refused, since it can make a
    # small file expand without end ("billion laughs") or refer to itself.
    if id(node) in seen:
        problems.append(
            (_pos(node), "YAML aliases (*name) are not supported in campaign files; write the value")
        )
        return None
    seen.add(id(node))
    if kind is SequenceNode:
        return [
            item.value
            if type(item) is ScalarNode and item.tag == _STR  # (most are: no call for them)
            else _build(item, problems, seen, text, depth + 1)
            for item in node.value
        ]
    if isinstance(node, MappingNode):
        start = node.start_mark.index
        if node.flow_style and text.startswith(("{{", "{%"), start):
            # ``text: {{ titre }}``: YAML reads a map; it was meant as a template. Said once,
            # and kept as the text it was meant to be, so that nothing else complains.
            source = text[start : node.end_mark.index]
            line = text.splitlines()[node.start_mark.line]
            key = template.group(1) if (template := yaml_errors.TEMPLATE_VALUE.match(line)) else "text"
            problems.append((_pos(node), yaml_errors.template_message(key, source)))
            return source
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is not ScalarNode:
                problems.append((_pos(key_node), "a key must be a plain word, not a list or map"))
                continue
            key = key_node.value
            if key in result:
                problems.append((_pos(key_node), f"duplicate key '{key}'"))
                continue
            if type(value_node) is ScalarNode and value_node.tag == _STR:  # (most are: no call)
                result[key] = value_node.value
            else:
                result[key] = _build(value_node, problems, seen, text, depth + 1)
        return result
    raise AssertionError(f"unexpected YAML node {node!r}")  # pragma: no cover


def _scalar(node: ScalarNode, problems: list[tuple[Position, str]]) -> Any:
    construct = _SCALARS.get(node.tag)
    if construct is None:
        return node.value
    try:
        return construct(node)
    except (ConstructorError, ValueError):
        problems.append((_pos(node), f"cannot read {node.value!r}"))
        return node.value

"""Parse YAML into plain Python data while remembering where every value came from.

PyYAML's composer (the C one when available) builds a node tree that carries line and
column marks; we construct plain values from it ourselves so that each path
(``("posts", 3, "at")``) can be mapped back to ``line:column`` for error messages.
Plain scalars that look like timestamps stay strings: times are read by
``bot.core.times`` with the campaign's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
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
    """A parsed document and the position of each of its values (and mapping keys)."""

    data: Any
    values: dict[Path_, Position] = field(default_factory=dict)
    keys: dict[Path_, Position] = field(default_factory=dict)
    problems: list[tuple[Position, str]] = field(default_factory=list)

    def position(self, path: Path_, *, key: bool = False) -> Position:
        """The position of ``path``, or of its nearest ancestor that exists."""
        path = tuple(path)
        while True:
            found = (self.keys if key else self.values).get(path) or self.values.get(path)
            if found is not None:
                return found
            if not path:
                return Position(1, 1)
            path = path[:-1]


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
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
        message = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            message = f"{exc.context}, {exc.problem}"
        raise YamlSyntaxError(where, f"YAML syntax error: {message}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Position(1, 1), f"YAML error: {exc}") from None
    located = Located(data=None)
    if root is not None:
        located.data = _build(root, (), located)
    return located


def _build(node: Node, path: Path_, out: Located) -> Any:
    out.values[path] = _pos(node)
    if isinstance(node, ScalarNode):
        return _scalar(node, out)
    if isinstance(node, SequenceNode):
        return [_build(item, (*path, i), out) for i, item in enumerate(node.value)]
    if isinstance(node, MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                out.problems.append((_pos(key_node), "a key must be a plain word, not a list or map"))
                continue
            key = key_node.value
            if key in result:
                out.problems.append((_pos(key_node), f"duplicate key '{key}'"))
                continue
            out.keys[(*path, key)] = _pos(key_node)
            result[key] = _build(value_node, (*path, key), out)
        return result
    raise AssertionError(f"unexpected YAML node {node!r}")  # pragma: no cover


def _scalar(node: ScalarNode, out: Located) -> Any:
    construct = _SCALARS.get(node.tag)
    if construct is None:
        return node.value
    try:
        return construct(node)
    except (ConstructorError, ValueError):
        out.problems.append((_pos(node), f"cannot read {node.value!r}"))
        return node.value

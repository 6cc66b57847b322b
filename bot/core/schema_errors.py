"""Pydantic's validation errors, said in the words of the campaign file: where (a path
into the YAML, mapped back to line and column by the caller), what, and how to fix it."""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import BaseModel, RootModel

from bot.core.yamlsource import Path_


def explain(error: Any, data: Any, model: type[BaseModel]) -> tuple[Path_, bool, str]:
    """Turn one pydantic error into (path in the YAML, whether it points at a key, message)."""
    path = _data_path(error["loc"], data)
    kind = error["type"]
    if kind == "extra_forbidden":
        name = path[-1]
        allowed = _allowed_keys(model, path[:-1], data)
        close = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.7)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
        return path, True, f"unknown key '{name}'; {hint}"
    if kind == "missing":
        return path[:-1], False, f"missing key '{path[-1]}'"
    value = error.get("input")
    if kind == "string_pattern_mismatch":
        return (
            path,
            False,
            (
                f"{value!r} is not a valid name: use lowercase letters, digits, "
                "'-' and '_', starting with a letter or digit"
            ),
        )
    if kind == "union_tag_invalid":
        return (
            (*path, "network"),
            False,
            (f"unknown network {error['ctx']['tag']!r}; use {error['ctx']['expected_tags']}"),
        )
    if kind == "union_tag_not_found":
        return path, False, "missing key 'network' (telegram or mastodon)"
    if kind == "too_short":
        count = error["ctx"]["min_length"]
        return path, False, f"'{path[-1]}' needs at least {count} entr{'y' if count == 1 else 'ies'}"
    message = error["msg"]
    message = message[0].lower() + message[1:]
    return path, False, f"{message}, got {value!r}" if not isinstance(value, dict | list) else message


def _data_path(loc: tuple[Any, ...], data: Any) -> Path_:
    """Pydantic's ``loc`` with the parts that are not in the YAML (union tags) dropped."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        ):
            node = node[part]
        elif index == len(loc) - 1:  # a key that is missing or not allowed
            node = None
        else:  # a union tag pydantic adds, such as the channel's network
            continue
        path.append(part)
    return tuple(path)


def _allowed_keys(model: type[BaseModel], path: Path_, data: Any) -> list[str]:
    """The keys allowed at ``path`` of ``model``, for the "did you mean" hint."""
    candidates = _models_in(model)
    node = data
    for part in path:
        node = node[part] if isinstance(node, dict | list) else None
        owner = next((m for m in candidates if part in m.model_fields), None)
        if owner is not None:  # otherwise a list index or a key of a map: same models below
            candidates = _models_in(owner.model_fields[str(part)].annotation)
    network = node.get("network") if isinstance(node, dict) else None
    for candidate in candidates:
        field = candidate.model_fields.get("network")
        if network is None or field is None or network in get_args(field.annotation):
            return sorted(candidate.model_fields)
    return []


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside ``list[X]``, ``dict[K, X]``, ``X | Y``, ``Annotated[X, …]``."""
    if isinstance(annotation, type) and issubclass(annotation, RootModel):
        return _models_in(annotation.model_fields["root"].annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]

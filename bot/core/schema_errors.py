"""Pydantic's validation errors, said in the words of the campaign file: where (a path
into the YAML, mapped back to line and column by the caller), what, and how to fix it."""

from __future__ import annotations

import difflib
import re
import unicodedata
from typing import Any, get_args

from pydantic import BaseModel, RootModel

from bot import networks
from bot.core.yamlsource import Path_
from bot.problems import shown

# What an entry of each list is called: "this post", "this reminder".
_ITEM = {
    "posts": "post",
    "livestreams": "livestream",
    "media": "media entry",
    "hashtags": "hashtag",
    "remind": "reminder",
    "to": "channel name",
    "banned_words": "banned word",
    "languages": "language",
}
# The keys to show for a map that is not one.
_KEYS = {
    "posts": "id:, at:, text: …",
    "livestreams": "id:, title:, starts:, ends:, text: …",
    "media": "file:, alt:",
}
CHANNEL_EXAMPLE = '{tg: {network: telegram, chat: "@GautrinWeb2"}}'
# An example of each required key, to say what to add.
_EXAMPLE = {
    "campaign": "gouverner-ensemble",
    "timezone": "America/Montreal",
    "channels": CHANNEL_EXAMPLE,
    "id": "rapport-en-ligne",
    "at": "2012-05-02 09:00",
    "title": '"Conférence de presse"',
    "starts": "2012-05-02 13:30",
    "ends": "2012-05-02 14:30",
    "chat": '"@GautrinWeb2"',
    "file": "media/affiche.jpg",
    "alt": "what the image shows",
}
_MAPS = {
    "vars": "vars: {name: value}",
    "moderation": "moderation: {banned_words: [casino], hold_links: true}",
    "channels": f"channels: {CHANNEL_EXAMPLE}",
}
_LISTS = {
    "hashtags": "[gautrinweb2]",
    "remind": "[1d, 1h, 10m, start]",
    "banned_words": "[casino]",
    "languages": "[fr-CA, en]",
}
_DURATIONS = {"grace", "remind"}
ALT = "the alt text describes the image for people who cannot see it"


def explain(
    error: Any, data: Any, model: type[BaseModel], *, prefix: Path_ = (), comment: str | None = None
) -> tuple[Path_, bool, str]:
    """Turn one pydantic error into (path in the YAML, whether it points at a key, message).

    ``data`` was validated against ``model`` and is found at ``prefix`` in the file.
    ``comment`` is the YAML comment written where a missing value was expected
    (``hashtags: #tag``): the likely reason it is missing.
    """
    relative = _data_path(error["loc"], data)
    path = (*prefix, *relative)
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        name = path[-1]
        allowed = _allowed_keys(model, relative[:-1], data)
        close = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.7)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
        return path, True, f"unknown key '{name}'; {hint}"
    if kind == "missing":
        return path[:-1], False, _missing(str(path[-1]))
    network = value.get("network") if isinstance(value, dict) else None
    if kind == "union_tag_invalid" and network is None:
        return (*path, "network"), False, f"'network' has no value; write {_networks()}"
    if kind == "union_tag_invalid":
        return (*path, "network"), False, f"unknown network {shown(network)}; write {_networks()}"
    if kind == "union_tag_not_found":
        return path, False, f"missing key 'network'; add {_networks()}"
    message = _message(kind, path, value, error.get("ctx") or {}, comment)
    if message is None:  # a case not foreseen: pydantic's words, which at least say what
        message = error["msg"][0].lower() + error["msg"][1:]
        message = f"{message}, got {value!r}" if not isinstance(value, dict | list) else message
    return path, False, message


def _networks() -> str:
    """``network: telegram or network: mastodon``: each registered network."""
    return " or ".join(f"network: {name}" for name in networks.names())


def _missing(name: str) -> str:
    if name == "alt":
        return f"missing key 'alt': {ALT}; add it, e.g. alt: {_EXAMPLE['alt']}"
    example = _EXAMPLE.get(name)
    return f"missing key '{name}'" + (f"; add it, e.g. {name}: {example}" if example else "")


def _message(kind: str, path: Path_, value: Any, ctx: dict[str, Any], comment: str | None) -> str | None:
    """The message for one error at ``path`` (of a ``value`` that is there), or None."""
    item = _ITEM.get(str(path[-2])) if len(path) > 1 and isinstance(path[-1], int) else None
    subject = f"this {item or 'entry'}" if isinstance(path[-1], int) else f"'{path[-1]}'"
    key = next((str(p) for p in reversed(path) if isinstance(p, str)), "")
    if value is None and kind not in ("too_short", "string_pattern_mismatch"):
        return _no_value(path, subject, key, item, comment)
    if kind == "string_type":
        if key in _DURATIONS and isinstance(value, int) and not isinstance(value, bool):
            return (
                f"{subject} needs a unit; write {value}m for minutes, {value}h for hours or {value}d for days"
            )
        if isinstance(value, bool):
            return f"{subject} must be text, not true or false; put it in quotes"
        if isinstance(value, list):
            return f"{subject} must be text, not a list; put it in quotes if it starts with ["
        if isinstance(value, dict):
            return f"{subject} must be text, not a map; put it in quotes if it starts with {{"
        return (
            f'{subject} must be text; write {key}: "{value}"'
            if item is None
            else f'{subject} must be text; write "{value}"'
        )
    if kind in ("bool_type", "bool_parsing"):
        return f"{subject} must be true or false, not {shown(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{subject} must be a whole number, like 500, not {shown(value)}"
    if kind == "greater_than":
        return f"{subject} must be more than {ctx['gt']}, not {shown(value)}"
    if kind == "literal_error":
        return f"{subject} must be {ctx['expected'].replace(chr(39), '')}, not {shown(value)}"
    if kind == "list_type":
        if key == "media":
            file = value if isinstance(value, str) else _EXAMPLE["file"]
            return f"'media' must be a list, like media: [{{file: {file}, alt: {_EXAMPLE['alt']}}}]"
        if key in ("posts", "livestreams"):
            return f"'{key}' must be a list of {key}, each one starting with '- id:' on its own line"
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return f"{subject} must be a list; write {key}: [{value}]"
        return f"{subject} must be a list, like {key}: {_LISTS.get(key, '[a, b]')}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        if item is not None:
            return f"this {item} must be a map of keys ({_KEYS.get(str(path[-2]), '…')}), not {shown(value)}"
        if path[:1] == ("channels",) and len(path) == 2:
            return f"channel '{key}' must be a map, like {key}: {{network: telegram, chat: \"@name\"}}"
        return f"{subject} must be a map, like {_MAPS.get(key, key + ': {…}')}"
    if kind == "string_too_short":
        if key == "alt":
            return f"{ALT} and may not be empty; write what the image shows"
        return f"this {item} is empty; write one, or remove it" if item else f"{subject} may not be empty"
    if kind == "string_too_long":
        return f"{subject} is too long: at most {ctx['max_length']} characters"
    if kind == "string_pattern_mismatch":
        if path[0] == "hashtags":
            return _hashtag(value)
        return _id(value) if key == "id" else _name(value)
    if kind == "too_short":
        if path == ("channels",):
            return f"'channels' needs at least one channel, e.g. channels: {CHANNEL_EXAMPLE}"
        return f"{subject} needs at least {ctx['min_length']} entries"
    return None


def _no_value(path: Path_, subject: str, key: str, item: str | None, comment: str | None) -> str:
    if comment is not None:
        ignored = f"{subject} has no value: in YAML, # starts a comment, so {comment} was ignored"
        if path[0] == "hashtags":
            tag = comment.lstrip("#").split()[0] if comment.strip("# ") else "gautrinweb2"
            return f'{ignored}; write hashtags: [{tag}], or put it in quotes: hashtags: ["#{tag}"]'
        return f'{ignored}; put it in quotes: {key + ": " if item is None else ""}"{comment}"'
    if path == ("hashtags",):
        return (
            "'hashtags' has no value; list them, e.g. hashtags: [gautrinweb2], or write hashtags: [] for none"
        )
    if path[:1] == ("channels",) and len(path) == 2:
        return f"channel '{key}' has no value; write it like {key}: {{network: telegram, chat: \"@name\"}}"
    if item is not None and str(path[-2]) in _KEYS:
        return f"this {item} is empty; write its keys ({_KEYS[str(path[-2])]}) or remove the '-'"
    if item is not None:
        return f"this {item} is empty; write it, or remove the '-'"
    return f"'{key}' has no value; write one after '{key}:'"


def _hashtag(value: Any) -> str:
    text = str(value).lstrip("#")
    joined, underscored = re.sub(r"\W+", "", text), re.sub(r"\W+", "_", text).strip("_")
    fix = joined if joined == underscored else f"{joined} or {underscored}"
    return (
        f"{value!r} cannot be a hashtag: {networks.titles()} hashtags hold only letters, digits "
        f"and _; write {fix}"
    )


def _id(value: Any) -> str:
    """An id holding what Relais writes in the ids it makes: ``.`` before a language
    (``rapport.en``), ``@`` before a reminder (``conference@1h``)."""
    text = str(value)
    made = [
        f"Relais puts '{sign}' between {what}"
        for sign, what in (
            (".", "a post's id and a language (the en publication of rapport is rapport.en)"),
            ("@", "a livestream's id and a reminder (conference@1h)"),
        )
        if sign in text
    ]
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:64]
    if not made or not slug:
        return _name(value)
    return f"{value!r} cannot be an id: {' and '.join(made)}; write {slug}"


def _name(value: Any) -> str:
    message = (
        f"{value!r} is not a valid name: use lowercase letters, digits, '-' and '_', starting "
        "with a letter or digit"
    )
    folded = unicodedata.normalize("NFKD", str(value).lower()).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_-]+", "-", folded).strip("-_")[:64]
    return f"{message}; write {slug}" if slug else message


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
        if isinstance(node, list):
            node = node[part] if isinstance(part, int) else None
        elif isinstance(node, dict):
            node = node[part]
        else:
            node = None
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

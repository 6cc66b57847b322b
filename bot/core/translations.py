"""Posts in several languages: the value of each field in each language, which language
each channel takes, and the publications a post makes.

A campaign, post or livestream written in several languages says ``languages: [fr-CA,
en]``. What differs by language is then written as a map of those languages:
``text: {fr-CA: "…", en: "…"}``, and likewise ``title``, ``where``, ``url``, ``warning``,
a media ``alt`` and any ``vars`` value. A key is the language as the post gives it, or
its primary subtag (``fr`` for ``fr-CA``). A value written once is the same in every
language (a link, a place's name).

Ids, and so the exactly-once keys ``campaign/id/channel``: a post in one language keeps
its own id (``rapport``, ``conference@1h``), as it always had; in several, each
language's publication is ``<id>.<language>`` (``rapport.en``, ``conference.en@1h``,
the reminder still last). A written id cannot hold ``.`` or ``@`` (schema: ids are
lowercase letters, digits, ``-`` and ``_``), so it can never be one of these, and none
holds ``/``. With ``bilingual: together`` the languages are joined into one message,
published under the post's own id on the channels that take every language.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.markdown import Rendered
from bot.core.yamlsource import Path_
from bot.domain import Channel

# Fields of a post or livestream that may be given per language (``media[].alt`` and
# ``vars`` values too).
TRANSLATED = ("text", "title", "where", "url", "warning")
# Between the languages of a message that has them together.
SEPARATOR = "\n\n———\n\n"

Issue = tuple[Path_, str, bool]  # where (a path into the file), what, whether it is about the key


def primary(language: str) -> str:
    return language.split("-", 1)[0]


def names(key: object, language: str) -> bool:
    """Whether a key of a per-language map (``fr-CA`` or ``fr``) stands for ``language``."""
    return key == language or key == primary(language)


def channel_language(written: str, languages: Sequence[str]) -> str | None:
    """Which of ``languages`` a channel with ``language: written`` takes: the same one, or
    else the first with the same primary language (a channel in ``fr`` takes ``fr-CA``)."""
    if written in languages:
        return written
    return next((language for language in languages if primary(language) == primary(written)), None)


def listed(languages: Sequence[str]) -> str:
    """``fr-CA and en``, ``fr-CA, en and es``."""
    return " and ".join([", ".join(languages[:-1]), languages[-1]] if len(languages) > 1 else languages)


@dataclass
class Translated:
    """A post or livestream as it reads in one language."""

    view: dict[str, Any]  # the item as written, each per-language map replaced by one value
    moved: dict[Path_, Path_]  # a field's path → where its value in this language is written
    issues: list[Issue]
    complete: bool  # False: a value is missing in this language (said in ``issues``)


def translated(
    raw: dict[str, Any],
    language: str,
    languages: Sequence[str],
    path: Path_,
    *,
    vars_too: bool,
    first: bool,
    kind: str = "post",
) -> Translated:
    """``raw``, a post or livestream of ``languages`` as written at ``path``, in ``language``.

    ``vars`` values are read per language only with ``vars_too`` (a campaign in several
    languages: elsewhere a map is a map). Keys for no language of the post are said once,
    when ``first``. A missing value is said, and the view takes another language's, so
    that everything else is still checked.
    """
    result = Translated(raw, {}, [], True)

    def pick(value: dict[Any, Any], where: Path_, name: str) -> Any:
        if first:
            for key in value:
                if not any(names(key, other) for other in languages):
                    result.issues.append(
                        ((*where, key), _stranger(key, name, languages, kind), True),
                    )
        key = next((k for k in (language, primary(language)) if k in value), None)
        if key is None:
            result.complete = False
            message = f"'{name}' has no {language} version; add {language}: … under {name}"
            result.issues.append((where, message, False))
            return next(iter(value.values()), None)
        result.moved[where] = (*where, key)
        return value[key]

    view: dict[str, Any] | None = None
    for field in TRANSLATED:
        value = raw.get(field)
        if isinstance(value, dict) and value:
            view = view if view is not None else dict(raw)
            view[field] = pick(value, (*path, field), field)
    media = raw.get("media")
    if isinstance(media, list) and any(isinstance(m, dict) and isinstance(m.get("alt"), dict) for m in media):
        view = view if view is not None else dict(raw)
        view["media"] = [
            {**m, "alt": pick(m["alt"], (*path, "media", i, "alt"), "alt")}
            if isinstance(m, dict) and isinstance(m.get("alt"), dict) and m["alt"]
            else m
            for i, m in enumerate(media)
        ]
    variables = raw.get("vars")
    if vars_too and isinstance(variables, dict):
        per_language = {
            name: value
            for name, value in variables.items()
            if isinstance(value, dict) and any(names(key, other) for key in value for other in languages)
        }
        if per_language:
            view = view if view is not None else dict(raw)
            view["vars"] = {
                **variables,
                **{name: pick(value, (*path, "vars", name), name) for name, value in per_language.items()},
            }
    if view is not None:
        result.view = view
    return result


def _stranger(key: object, name: str, languages: Sequence[str], kind: str) -> str:
    codes = list(dict.fromkeys([*languages, *(primary(language) for language in languages)]))
    close = difflib.get_close_matches(str(key), codes, n=1, cutoff=0.6)
    example = ", ".join(f"{language}: …" for language in languages)
    hint = f"did you mean {close[0]}?" if close else f"write {name}: {{{example}}}"
    return f"{key!r} is not a language of this {kind} ({listed(languages)}); {hint}"


@dataclass(frozen=True)
class Edition:
    """What one post (or reminder) publishes on some channels: in one language, under
    ``<id><suffix>``, or in several joined together, under its own id."""

    suffix: str  # "" or ".en"
    languages: tuple[str, ...]
    channels: tuple[Channel, ...]


def editions(languages: tuple[str, ...], together: bool, targets: tuple[Channel, ...]) -> list[Edition]:
    """The publications of a post in ``languages`` on ``targets``, channel order kept.

    A channel without a language takes every language (each on its own, or together); a
    channel with one takes that language alone, and nothing from a post not in it. An
    edition may have no channel: it is still rendered, so that its problems are said.
    """
    if len(languages) == 1 and not any(c.language for c in targets):  # (most posts: at once)
        return [Edition("", languages, targets)]
    takes = {c.name: channel_language(c.language, languages) if c.language else None for c in targets}
    if len(languages) == 1:
        channels = tuple(c for c in targets if c.language is None or takes[c.name] == languages[0])
        return [Edition("", languages, channels)]
    made = []
    if together:
        made.append(Edition("", languages, tuple(c for c in targets if c.language is None)))
    for language in languages:
        made.append(
            Edition(
                f".{language}",
                (language,),
                tuple(c for c in targets if takes[c.name] == language or (not together and not c.language)),
            )
        )
    return made


def joined(renderings: Sequence[Rendered]) -> Rendered:
    """One message holding each language's, in order, with a rule between them."""
    return Rendered(
        SEPARATOR.join(r.html for r in renderings),
        SEPARATOR.join(r.html_shown for r in renderings),
        SEPARATOR.join(r.plain for r in renderings),
    )


def together_text(values: Sequence[str | None]) -> str | None:
    """A content warning or alt text of a message in several languages: each different
    one, in order, separated by `` / `` (the one text alone when there is one)."""
    kept = list(dict.fromkeys(v for v in values if v))
    return " / ".join(kept) if kept else None

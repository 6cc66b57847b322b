"""Load and validate campaign files, and expand them into rendered publications.

Every problem of every file is collected (never raised one at a time) and reported as
``file:line:column: message``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, RootModel, ValidationError

from bot.core import i18n, length, markdown
from bot.core.schema import (
    CampaignSpec,
    ChannelSpec,
    LivestreamSpec,
    ModerationSpec,
    PostSpec,
    TelegramChannelSpec,
)
from bot.core.template_problems import ProblemsOnce, TemplateProblem
from bot.core.templates import MessageTemplates, byte_position
from bot.core.times import TimeError, parse_duration, parse_time
from bot.core.yamlsource import Located, Path_, Position, YamlSyntaxError, parse
from bot.domain import Campaign, Channel, Media, Moderation, Network, Publication
from bot.problems import Problem

CAMPAIGN_SUFFIXES = (".yaml", ".yml")
MAX_CAMPAIGN_BYTES = 4 * 1024 * 1024
MAX_MEDIA = 4
START = "start"
# Names a template sees besides the publication's own ``vars``.
POST_VARS = frozenset({"campaign", "language", "hashtag", "hashtags", "at"})
LIVESTREAM_VARS = POST_VARS | {
    "title",
    "starts",
    "ends",
    "where",
    "url",
    "duration",
    "reminder",
    "relative",
    "live",
}
_TELEGRAM_USERNAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")
_NUMERIC = re.compile(r"^-?\d+$")


@dataclass
class LoadResult:
    campaigns: list[Campaign] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory if below it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(path)


def campaign_files(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """The campaign files named by ``paths`` (files, or directories of ``*.yaml``)."""
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in CAMPAIGN_SUFFIXES and p.is_file())
            if not found:
                problems.append(
                    Problem(display_path(path), 0, 0, "no campaign files (*.yaml) in this directory")
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(display_path(path), 0, 0, "no such file or directory"))
    return files, problems


def load_campaigns(paths: Sequence[Path], messages_dir: Path) -> LoadResult:
    """Load every campaign named by ``paths`` and check it against ``messages_dir``."""
    files, problems = campaign_files(paths)
    result = LoadResult(problems=problems)
    templates = MessageTemplates(messages_dir, display_path(messages_dir))
    if not messages_dir.is_dir():
        result.problems.append(Problem(display_path(messages_dir), 0, 0, "no such directory"))
    result.problems.extend(templates.check_all())
    seen: dict[str, str] = {}
    for path in files:
        loader = _FileLoader(path, templates)
        campaign = loader.load()
        result.problems.extend(loader.problems)
        if campaign is None:
            continue
        if campaign.slug in seen:
            where = loader.located.position(("campaign",)) if loader.located else None
            result.problems.append(
                Problem(
                    loader.shown,
                    where.line if where else 0,
                    where.column if where else 0,
                    f"campaign '{campaign.slug}' is already defined in {seen[campaign.slug]}",
                )
            )
            continue
        seen[campaign.slug] = loader.shown
        if not loader.problems:
            result.campaigns.append(campaign)
    result.problems.sort()
    return result


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


class _FileLoader:
    """Reads one campaign file, collecting its problems."""

    def __init__(self, path: Path, templates: MessageTemplates) -> None:
        self.path = path
        self.shown = display_path(path)
        self.templates = templates
        self.problems: list[Problem] = []
        self.located: Located | None = None

    # -- reporting -----------------------------------------------------------------

    def error(self, path: Path_, message: str, *, key: bool = False) -> None:
        where = self.located.position(path, key=key) if self.located else None
        self.problems.append(
            Problem(self.shown, where.line if where else 0, where.column if where else 0, message)
        )

    def _validate(self, model: type[BaseModel], data: Any, prefix: Path_) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                path, on_key, message = _explain(error, data, model)
                self.error((*prefix, *path), message, key=on_key)
            return None

    # -- loading -------------------------------------------------------------------

    def load(self) -> Campaign | None:
        text = self._read()
        if text is None:
            return None
        try:
            self.located = parse(text)
        except YamlSyntaxError as exc:
            self.problems.append(Problem(self.shown, exc.position.line, exc.position.column, exc.message))
            return None
        for position, message in self.located.problems:
            self.problems.append(Problem(self.shown, position.line, position.column, message))
        data = self.located.data
        if data is None:
            self.problems.append(
                Problem(
                    self.shown,
                    0,
                    0,
                    "the file is empty; a campaign needs at least campaign:, timezone: and channels:",
                )
            )
            return None
        if not isinstance(data, dict):
            self.error((), "a campaign file must be a map of keys (campaign:, timezone:, channels:, …)")
            return None
        spec: CampaignSpec | None = self._validate(CampaignSpec, data, ())
        posts = [
            self._validate(PostSpec, item, ("posts", i)) for i, item in enumerate(_list(data.get("posts")))
        ]
        streams = [
            self._validate(LivestreamSpec, item, ("livestreams", i))
            for i, item in enumerate(_list(data.get("livestreams")))
        ]
        campaign = self._campaign(spec or CampaignSpec.model_construct(**data), data)
        if campaign is None:
            return None
        publications: list[Publication] = []
        ids: dict[str, Path_] = {}
        for i, post in enumerate(posts):
            if post is not None and self._unique(post.id, ("posts", i, "id"), ids):
                publications.extend(self._post(campaign, post, ("posts", i)))
        for i, stream in enumerate(streams):
            if stream is not None and self._unique(stream.id, ("livestreams", i, "id"), ids):
                publications.extend(self._livestream(campaign, stream, ("livestreams", i)))
        publications.sort(key=lambda p: (p.at, p.id, p.channel.name))
        return Campaign(**{**campaign.__dict__, "publications": tuple(publications)})

    def _read(self) -> str | None:
        try:
            size = self.path.stat().st_size
            if size > MAX_CAMPAIGN_BYTES:
                self.problems.append(
                    Problem(
                        self.shown,
                        0,
                        0,
                        f"the file is {size / 1024 / 1024:.1f} MB; a campaign file may be at most "
                        f"{MAX_CAMPAIGN_BYTES // 1024 // 1024} MB (split it into several campaigns)",
                    )
                )
                return None
            raw = self.path.read_bytes()
        except OSError as exc:
            self.problems.append(Problem(self.shown, 0, 0, f"cannot read the file: {exc.strerror}"))
            return None
        try:
            return raw.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            line, column = byte_position(raw, exc.start)
            self.problems.append(
                Problem(
                    self.shown,
                    line,
                    column,
                    f"not UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8",
                )
            )
            return None

    def _campaign(self, spec: CampaignSpec, data: dict[str, Any]) -> Campaign | None:
        """The campaign's settings. After a schema error ``spec`` is built unchecked from
        ``data``: whatever is usable is kept so that the posts can still be checked."""

        def usable(name: str, kind: type) -> Any:
            value = getattr(spec, name, None)
            return value if isinstance(value, kind) else None

        zone = self._zone(spec.timezone) if usable("timezone", str) else None
        language = usable("language", str) or "en"
        try:
            i18n.locale_for(language)
        except i18n.UnknownLanguage as exc:
            self.error(("language",), str(exc))
            language = "en"
        grace = self._duration(spec.grace, ("grace",)) if usable("grace", str) else None
        raw_channels = data.get("channels")
        channels = {
            name: self._channel(name, raw)
            for name, raw in (raw_channels.items() if isinstance(raw_channels, dict) else ())
        }
        if zone is None:
            return None
        moderation = usable("moderation", ModerationSpec)
        return Campaign(
            slug=str(usable("campaign", str)),
            source=self.path,
            timezone=zone,
            language=language,
            hashtags=tuple(str(tag).lstrip("#") for tag in usable("hashtags", list) or ()),
            channels=channels,  # type: ignore[arg-type]  # None: invalid, reported
            grace=grace if grace is not None else timedelta(minutes=15),
            acknowledge=usable("acknowledge", bool) or False,
            moderation=Moderation(tuple(moderation.banned_words), moderation.hold_links)
            if moderation
            else Moderation(),
        )

    def _zone(self, name: str) -> ZoneInfo | None:
        if name in _zone_names():
            return ZoneInfo(name)
        try:
            if "/" in name or name == "UTC":
                return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
        close = difflib.get_close_matches(name, _zone_names(), n=1)
        hint = f"did you mean {close[0]}?" if close else "use an IANA name like America/Montreal"
        self.error(("timezone",), f"unknown time zone '{name}'; {hint}")
        return None

    def _duration(self, text: str, path: Path_) -> timedelta | None:
        try:
            return parse_duration(text)
        except TimeError as exc:
            self.error(path, str(exc))
            return None

    def _channel(self, name: str, raw: Any) -> Channel | None:
        root: ChannelSpec | None = self._validate(ChannelSpec, raw, ("channels", name))
        if root is None:
            return None
        spec = root.root
        if isinstance(spec, TelegramChannelSpec):
            chat = spec.chat
            if isinstance(chat, str) and _NUMERIC.match(chat):
                chat = int(chat)
            if isinstance(chat, str) and not _TELEGRAM_USERNAME.match(chat):
                self.error(
                    ("channels", name, "chat"), f"chat {chat!r} is neither an @username nor a numeric chat id"
                )
                return None
            return Channel(name, Network.TELEGRAM, chat=chat)
        return Channel(name, Network.MASTODON, visibility=spec.visibility, max_characters=spec.max_characters)

    def _unique(self, pub_id: str, path: Path_, ids: dict[str, Path_]) -> bool:
        if pub_id in ids:
            first = self.located.position(ids[pub_id]) if self.located else None
            self.error(
                path,
                f"id '{pub_id}' is already used on line {first.line if first else '?'}; "
                "ids must be unique in a campaign",
            )
            return False
        ids[pub_id] = path
        return True

    # -- publications --------------------------------------------------------------

    def _targets(self, campaign: Campaign, names: list[str] | None, path: Path_) -> list[Channel]:
        if names is None:
            return [c for c in campaign.channels.values() if c is not None]
        targets = []
        for i, name in enumerate(names):
            if name not in campaign.channels:
                known = ", ".join(sorted(campaign.channels))
                self.error((*path, "to", i), f"unknown channel '{name}' (channels: {known})")
            elif campaign.channels[name] is not None:  # an invalid channel is reported already
                targets.append(campaign.channels[name])
        return targets

    def _post(self, campaign: Campaign, post: PostSpec, path: Path_) -> list[Publication]:
        try:
            at = parse_time(post.at, campaign.timezone)
        except TimeError as exc:
            self.error((*path, "at"), str(exc))
            at = None
        targets = self._targets(campaign, post.to, path)
        if at is None:
            return []
        context = {"at": at.astimezone(campaign.timezone)}
        return self._publications(campaign, post, path, post.id, at, targets, context, None)

    def _livestream(self, campaign: Campaign, stream: LivestreamSpec, path: Path_) -> list[Publication]:
        times = []
        for key in ("starts", "ends"):
            try:
                times.append(parse_time(getattr(stream, key), campaign.timezone))
            except TimeError as exc:
                self.error((*path, key), str(exc))
        targets = self._targets(campaign, stream.to, path)
        offsets: dict[str, timedelta] = {}
        for i, reminder in enumerate(stream.remind):
            if reminder == START:
                offset: timedelta | None = timedelta(0)
            else:
                offset = self._duration(reminder, (*path, "remind", i))
            if offset is not None and reminder in offsets:
                self.error((*path, "remind", i), f"reminder '{reminder}' is listed twice")
            elif offset is not None:
                offsets[reminder] = offset
        if len(times) < 2:
            return []
        starts, ends = times
        if ends <= starts:
            self.error((*path, "ends"), "the livestream must end after it starts")
            return []
        tz = campaign.timezone
        local = {
            "title": stream.title,
            "starts": starts.astimezone(tz),
            "ends": ends.astimezone(tz),
            "where": stream.where,
            "url": stream.url,
            "duration": ends - starts,
        }
        publications = []
        for reminder, offset in offsets.items():
            at = starts - offset
            language = stream.language or campaign.language
            context = {
                **local,
                "at": at.astimezone(tz),
                "reminder": reminder,
                "live": reminder == START,
                "relative": i18n.relative(at.astimezone(tz), starts.astimezone(tz), language),
            }
            not_after = ends if reminder == START else starts
            publications.extend(
                self._publications(
                    campaign, stream, path, f"{stream.id}@{reminder}", at, targets, context, not_after
                )
            )
        return publications

    def _publications(
        self,
        campaign: Campaign,
        spec: PostSpec | LivestreamSpec,
        path: Path_,
        pub_id: str,
        at: datetime,
        targets: list[Channel],
        context: dict[str, Any],
        not_after: datetime | None,
    ) -> list[Publication]:
        language = spec.language or campaign.language
        media = self._media(spec, path)
        reserved = LIVESTREAM_VARS if isinstance(spec, LivestreamSpec) else POST_VARS
        clash = sorted(reserved & spec.vars.keys())
        if clash:
            self.error(
                (*path, "vars", clash[0]), f"'{clash[0]}' is set by Relais; choose another name", key=True
            )
            return []
        rendered = self._render(campaign, spec, path, language, {**spec.vars, **context})
        if rendered is None or media is None:
            return []
        publications = []
        for channel in targets:
            if channel.network is Network.TELEGRAM:
                text = rendered.html
                size = length.telegram_length(rendered.telegram_text)
                limit = length.TELEGRAM_CAPTION_LIMIT if media else length.TELEGRAM_TEXT_LIMIT
                what = "caption" if media else "message"
            else:
                text = rendered.plain
                size = length.mastodon_length(text, spec.warning or "")
                limit = channel.max_characters or length.MASTODON_DEFAULT_LIMIT
                what = "post"
            if size > limit:
                self.error(
                    (*path, "message" if spec.message else "text"),
                    f"'{pub_id}' is too long for {channel.name}: the {channel.network} {what} "
                    f"has {size} characters, the limit is {limit}",
                )
                continue
            publications.append(
                Publication(
                    campaign=campaign.slug,
                    id=pub_id,
                    channel=channel,
                    at=at,
                    timezone=campaign.timezone,
                    text=text,
                    length=size,
                    limit=limit,
                    language=language,
                    media=media,
                    warning=spec.warning,
                    not_after=not_after,
                )
            )
        return publications

    def _render(
        self,
        campaign: Campaign,
        spec: PostSpec | LivestreamSpec,
        path: Path_,
        language: str,
        variables: dict[str, Any],
    ) -> markdown.Rendered | None:
        if (spec.message is None) == (spec.text is None):
            self.error(
                path,
                "give either 'message:' (a template in messages/) or 'text:', not both"
                if spec.message
                else "give either 'message:' (a template in messages/) or 'text:'",
            )
            return None
        where = (*path, "message" if spec.message else "text")
        context = {
            "campaign": campaign.slug,
            "language": language,
            "hashtags": [f"#{tag}" for tag in campaign.hashtags],
            "hashtag": f"#{campaign.hashtags[0]}" if campaign.hashtags else "",
            **variables,
        }
        try:
            if spec.message is not None:
                filename = self.templates.find(spec.message, language)
                if filename is None:
                    tried = ", ".join(
                        self.templates.shown(f) for f in self.templates.candidates(spec.message, language)
                    )
                    self.error(where, f"no template '{spec.message}' (looked for {tried})")
                    return None
                template = self.templates.get(filename)
            else:
                template = self.templates.inline(spec.text)  # type: ignore[arg-type]
            source = template.render(context)
        except TemplateProblem as exc:
            once, value = self._templates_once(), self._position(where)
            for problem in exc.problems:
                if not problem.file:  # inline text: its own place in this campaign file
                    once.add(once.inline(problem, value.line, value.column))
                elif exc.rendering:  # at the template's line; what compiling finds, check_all reports
                    once.add(problem, spec.id)
            return None
        if not source.strip():
            value = self._position(where)
            name = "inline text" if spec.text is not None else template.name
            self._templates_once().add(
                Problem(self.shown, value.line, value.column, f"{name} renders to an empty message")
            )
            return None
        return markdown.render(source)

    def _templates_once(self) -> ProblemsOnce:
        """Each template problem once, however many publications hit it (templates.py)."""
        once: ProblemsOnce | None = getattr(self, "_once", None)
        if once is None:
            once = self._once = ProblemsOnce(self.problems, self.shown, self.path)
        return once

    def _position(self, path: Path_) -> Position:
        return self.located.position(path) if self.located else Position(0, 0)

    def _media(self, spec: PostSpec | LivestreamSpec, path: Path_) -> tuple[Media, ...] | None:
        if len(spec.media) > MAX_MEDIA:
            self.error((*path, "media"), f"at most {MAX_MEDIA} media files per publication")
            return None
        media = []
        for i, item in enumerate(spec.media):
            file = (self.path.parent / item.file).resolve()
            if not file.is_file():
                self.error((*path, "media", i, "file"), f"media file not found: {display_path(file)}")
                return None
            media.append(Media(file, item.alt))
        return tuple(media)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _explain(error: Any, data: Any, model: type[BaseModel]) -> tuple[Path_, bool, str]:
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

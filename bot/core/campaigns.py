"""Load and validate campaign files, and expand them into rendered publications.

Every problem of every file is collected (never raised one at a time) and reported as
``file:line:column: message``.
"""

from __future__ import annotations

import difflib
import gc
import os
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import jinja2
from pydantic import BaseModel, ValidationError

from bot.core import i18n, languages, length, markdown, zones
from bot.core import media as images
from bot.core.schema import (
    CampaignSpec,
    ChannelSpec,
    LivestreamSpec,
    ModerationSpec,
    PostSpec,
    TelegramChannelSpec,
)
from bot.core.schema_errors import explain, shown
from bot.core.templates import MessageTemplates, TemplateProblem, byte_position
from bot.core.times import START, TimeError, parse_duration, parse_reminder, parse_time
from bot.core.yamlsource import Located, Path_, YamlSyntaxError, parse
from bot.domain import Campaign, Channel, Media, Moderation, Network, Publication
from bot.problems import Problem, Severity

CAMPAIGN_SUFFIXES = (".yaml", ".yml")
MAX_CAMPAIGN_BYTES = 4 * 1024 * 1024
MAX_MEDIA = 4
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
# What ``{{ hashtag }}`` is when the campaign has none: undefined, like any name not set,
# with a message that says how to define it (``vars:`` may not set it).
_NO_HASHTAG = jinja2.StrictUndefined(
    name="hashtag",
    hint="'hashtag' is undefined: the campaign has no hashtags; add one at the top of the file, "
    "e.g. hashtags: [gautrinweb2]",
)
_TELEGRAM_USERNAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")
_NUMERIC = re.compile(r"^-?\d+$")


@dataclass
class LoadResult:
    campaigns: list[Campaign] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # errors and warnings
    # The warnings that a publication's time is past, with the keys of its publications.
    overdue: dict[Problem, tuple[str, ...]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        """No errors: warnings do not stop a campaign from running."""
        return not self.errors

    def forget_settled(self, settled: Collection[str]) -> None:
        """Drop the past-time warnings whose publications the store has settled already
        (published, failed, missed…): only a pending one would still be marked missed."""
        gone = {warning for warning, keys in self.overdue.items() if set(keys) <= set(settled)}
        self.problems = [p for p in self.problems if p not in gone]
        self.overdue = {w: keys for w, keys in self.overdue.items() if w not in gone}


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


def load_campaigns(paths: Sequence[Path], messages_dir: Path, *, now: datetime | None = None) -> LoadResult:
    """Load every campaign named by ``paths`` and check it against ``messages_dir``.

    With ``now``, a publication whose time is already past (``relais run`` would mark it
    missed) is a warning.
    """
    with _cycle_collector_paused():
        return _load_campaigns(paths, messages_dir, now)


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Loading makes some hundred thousand small objects that form no reference cycle (the
    YAML node tree and its marks, above all): Python's cycle collector would go through
    them again and again while they are made, for a third of the time of a big load.
    Paused for the load; everything is freed by reference counting as usual, and the
    collector is on again once the load is over (unless it was off before)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_campaigns(paths: Sequence[Path], messages_dir: Path, now: datetime | None) -> LoadResult:
    files, problems = campaign_files(paths)
    result = LoadResult(problems=problems)
    templates = MessageTemplates(messages_dir, display_path(messages_dir))
    if not messages_dir.is_dir():
        result.problems.append(Problem(display_path(messages_dir), 0, 0, "no such directory"))
    result.problems.extend(templates.check_all())
    seen: dict[str, str] = {}
    for path in files:
        loader = _FileLoader(path, templates, now)
        campaign = loader.load()
        result.problems.extend(loader.problems)
        result.overdue.update(loader.overdue)
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
        if not any(p.is_error for p in loader.problems):
            result.campaigns.append(campaign)
    result.problems = sorted(set(result.problems))  # once, even if found for each reminder
    return result


@dataclass(frozen=True)
class _Item:
    """A post or a livestream as its file gives it: ``specs`` holds it as it reads in
    each of its languages (its text, title, vars… in that language), in their order."""

    path: Path_
    specs: dict[str, PostSpec | LivestreamSpec]
    usable: bool = True  # False: it has a problem already reported; its times are still checked

    @property
    def first(self) -> PostSpec | LivestreamSpec:
        return next(iter(self.specs.values()))


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


class _FileLoader:
    """Reads one campaign file, collecting its problems."""

    def __init__(self, path: Path, templates: MessageTemplates, now: datetime | None = None) -> None:
        self.path = path
        self.shown = display_path(path)
        self.templates = templates
        self.now = now
        self.problems: list[Problem] = []
        self.overdue: dict[Problem, tuple[str, ...]] = {}
        self.located: Located | None = None
        self.languages: tuple[str, ...] = ("en",)

    # -- reporting -----------------------------------------------------------------

    def error(
        self, path: Path_, message: str, *, key: bool = False, severity: Severity = Severity.ERROR
    ) -> Problem:
        where = self.located.position(path, key=key) if self.located else None
        problem = Problem(
            self.shown, where.line if where else 0, where.column if where else 0, message, severity
        )
        self.problems.append(problem)
        return problem

    def warn(self, path: Path_, message: str, *, key: bool = False) -> Problem:
        return self.error(path, message, key=key, severity=Severity.WARNING)

    def _validate(self, model: type[BaseModel], data: Any, prefix: Path_) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                comment = self._comment((*prefix, *error["loc"])) if error.get("input") is None else None
                path, on_key, message = explain(
                    error, data, model, prefix=prefix, comment=comment[1] if comment else None
                )
                where = self.located.position(path, key=on_key) if self.located else None
                if comment:
                    self.problems.append(Problem(self.shown, *comment[0], message))
                elif not (where and self.located and where in {p for p, _ in self.located.problems}):
                    self.error(path, message, key=on_key)  # (else the YAML's own problem says it)
            return None

    def _comment(self, path: Path_) -> tuple[tuple[int, int], str] | None:
        """A YAML comment where the missing value at ``path`` was expected, and where it is:
        ``hashtags: #tag`` gives no value at all, as # starts a comment."""
        if self.located is None:
            return None
        where = self.located.position(path)
        line = self.located.line(where.line)
        column = len(line) - len(rest := line[where.column - 1 :].lstrip())
        if not rest.startswith("#"):
            return None
        return (where.line, column + 1), rest.rstrip()

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
        self.languages = self._campaign_languages(spec or CampaignSpec.model_construct(**data))
        posts = [self._item(PostSpec, raw, ("posts", i)) for i, raw in enumerate(_list(data.get("posts")))]
        streams = [
            self._item(LivestreamSpec, raw, ("livestreams", i))
            for i, raw in enumerate(_list(data.get("livestreams")))
        ]
        campaign = self._campaign(spec or CampaignSpec.model_construct(**data), data)
        if campaign is None:
            return None
        publications: list[Publication] = []
        ids: dict[str, Path_] = {}
        for post in posts:
            if post is not None and self._unique(post.first.id, (*post.path, "id"), ids):
                publications.extend(self._post(campaign, post))
        for stream in streams:
            if stream is not None and self._unique(stream.first.id, (*stream.path, "id"), ids):
                publications.extend(self._livestream(campaign, stream))
        publications.sort(key=lambda p: (p.at, p.id, p.channel.name))
        return Campaign(**{**campaign.__dict__, "publications": tuple(publications)})

    def _item(self, model: type[PostSpec] | type[LivestreamSpec], raw: Any, path: Path_) -> _Item | None:
        """A post or livestream, read in its language."""
        spec = self._validate(model, raw, path)
        if spec is None:
            return None
        language = spec.language or self.languages[0]
        if spec.language is not None and (wrong := languages.problem(spec.language)):
            self.error((*path, "language"), wrong)
            return _Item(path, {language: spec}, usable=False)
        return _Item(path, {language: spec})

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
            language=self.languages[0],
            hashtags=tuple(str(tag).lstrip("#") for tag in usable("hashtags", list) or ()),
            channels=channels,  # type: ignore[arg-type]  # None: invalid, reported
            grace=grace if grace is not None else timedelta(minutes=15),
            acknowledge=usable("acknowledge", bool) or False,
            moderation=Moderation(tuple(moderation.banned_words), moderation.hold_links)
            if moderation
            else Moderation(),
        )

    def _campaign_languages(self, spec: CampaignSpec) -> tuple[str, ...]:
        """The languages of the campaign's posts (``en`` when none is given, or when the
        one given is wrong: reported, and the posts are still checked)."""
        language = spec.language if isinstance(spec.language, str) else "en"
        if wrong := languages.problem(language):
            self.error(("language",), wrong)
            language = "en"
        return (language,)

    def _zone(self, name: str) -> ZoneInfo | None:
        if name in zones.NOT_PLACES:
            self.error(
                ("timezone",),
                f"'{name}' is not the time zone of a place (it depends on the computer); "
                "write an IANA name like America/Montreal",
            )
            return None
        zone = None
        if name in _zone_names():
            zone = ZoneInfo(name)
        else:
            try:
                if "/" in name or name == "UTC":
                    zone = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                pass
        if zone is not None:
            if advice := zones.advice(name):
                self.warn(("timezone",), advice)
            return zone
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
            if wrong := _chat_problem(spec.chat):
                self.error(("channels", name, "chat"), wrong)
                return None
            chat = int(spec.chat) if isinstance(spec.chat, str) and _NUMERIC.match(spec.chat) else spec.chat
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

    def _targets(self, campaign: Campaign, item: _Item) -> list[Channel]:
        names = item.first.to
        if names is None:
            return [c for c in campaign.channels.values() if c is not None]
        targets = []
        for i, name in enumerate(names):
            if name not in campaign.channels:
                known = ", ".join(sorted(campaign.channels)) or "none is defined"
                self.error((*item.path, "to", i), f"unknown channel '{name}' (channels: {known})")
            elif campaign.channels[name] is not None:  # an invalid channel is reported already
                targets.append(campaign.channels[name])
        return targets

    def _post(self, campaign: Campaign, item: _Item) -> list[Publication]:
        post = item.first
        try:
            at = parse_time(post.at, campaign.timezone)  # type: ignore[union-attr]
        except TimeError as exc:
            self.error((*item.path, "at"), str(exc))
            at = None
        targets = self._targets(campaign, item)
        if at is None:
            return []
        context = {"at": at.astimezone(campaign.timezone)}
        publications = self._publications(
            campaign, item, post.id, "", at, targets, dict.fromkeys(item.specs, context), None
        )
        if self._missed(campaign, publications):
            self._warn_past(
                (*item.path, "at"),
                f"'{post.id}' is due {_local(at, campaign)}, which is already past: relais run would "
                "mark it missed instead of publishing it; move it to a later time, or remove it",
                publications,
            )
        return publications

    def _livestream(self, campaign: Campaign, item: _Item) -> list[Publication]:
        stream: LivestreamSpec = item.first  # type: ignore[assignment]
        path = item.path
        times = []
        for key in ("starts", "ends"):
            try:
                times.append(parse_time(getattr(stream, key), campaign.timezone))
            except TimeError as exc:
                self.error((*path, key), str(exc))
        targets = self._targets(campaign, item)
        offsets: dict[str, timedelta] = {}
        for i, reminder in enumerate(stream.remind):
            try:
                offset: timedelta | None = parse_reminder(reminder)
            except TimeError as exc:
                self.error((*path, "remind", i), str(exc))
                offset = None
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
            language: {
                "title": spec.title,  # type: ignore[union-attr]
                "starts": starts.astimezone(tz),
                "ends": ends.astimezone(tz),
                "where": spec.where,  # type: ignore[union-attr]
                "url": spec.url,  # type: ignore[union-attr]
                "duration": ends - starts,
            }
            for language, spec in item.specs.items()
        }
        publications = []
        missed: dict[str, list[Publication]] = {}
        for reminder, offset in offsets.items():
            at = starts - offset
            contexts = {
                language: {
                    **context,
                    "at": at.astimezone(tz),
                    "reminder": reminder,
                    "live": reminder == START,
                    "relative": i18n.relative(at.astimezone(tz), starts.astimezone(tz), language),
                }
                for language, context in local.items()
            }
            not_after = ends if reminder == START else starts
            made = self._publications(
                campaign, item, stream.id, f"@{reminder}", at, targets, contexts, not_after
            )
            publications.extend(made)
            if self._missed(campaign, made):
                missed[reminder] = made
        if missed and len(missed) == len(offsets):
            self._warn_past(
                (*path, "starts"),
                f"'{stream.id}' starts {_local(starts, campaign)}, which is already past: relais run "
                "would mark its reminders missed instead of publishing them; move it to a later "
                "time, or remove it",
                publications,
            )
            return publications
        for reminder, made in missed.items():
            where = (*path, "remind", stream.remind.index(reminder))
            self._warn_past(
                where if "remind" in stream.model_fields_set else (*path, "starts"),
                f"the {reminder} reminder of '{stream.id}' is due {_local(made[0].at, campaign)}, which "
                "is already past: relais run would mark it missed instead of publishing it; remove "
                f"{reminder} from remind:, or move the livestream",
                made,
            )
        return publications

    def _missed(self, campaign: Campaign, publications: list[Publication]) -> bool:
        """Whether ``relais run`` would mark these publications missed if it started now
        (the rule of ``bot.services.publisher.lateness``)."""
        if self.now is None or not publications:
            return False
        first = publications[0]  # all share their time: they differ by channel only
        if first.not_after is not None and self.now > first.not_after:
            return True
        return self.now - first.at >= campaign.grace

    def _warn_past(self, path: Path_, message: str, publications: list[Publication]) -> None:
        warning = self.warn(path, message)
        self.overdue[warning] = tuple(p.key for p in publications)

    def _publications(
        self,
        campaign: Campaign,
        item: _Item,
        base_id: str,
        tail: str,
        at: datetime,
        targets: list[Channel],
        contexts: dict[str, dict[str, Any]],
        not_after: datetime | None,
    ) -> list[Publication]:
        """The publications of one post (or one reminder of a livestream): its rendering in
        each language, for each channel. ``contexts`` holds each language's variables;
        an id is ``base_id`` and ``tail`` (a reminder's ``@1h``)."""
        if not item.usable:
            return []
        (language, spec), *_ = item.specs.items()
        made = self._rendering(campaign, spec, item.path, language, contexts[language], targets)
        if made is None:
            return []
        rendered, media = made
        pub_id = f"{base_id}{tail}"
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
                    (*item.path, "message" if spec.message else "text"),
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

    def _rendering(
        self,
        campaign: Campaign,
        spec: PostSpec | LivestreamSpec,
        path: Path_,
        language: str,
        context: dict[str, Any],
        targets: list[Channel],
    ) -> tuple[markdown.Rendered, tuple[Media, ...]] | None:
        """The message of ``spec`` in ``language``, and its media, checked."""
        media = self._media(spec, path, targets)
        reserved = LIVESTREAM_VARS if isinstance(spec, LivestreamSpec) else POST_VARS
        clash = sorted(reserved & spec.vars.keys())
        if clash:
            self.error(
                (*path, "vars", clash[0]), f"'{clash[0]}' is set by Relais; choose another name", key=True
            )
            return None
        rendered = self._render(campaign, spec, path, language, {**spec.vars, **context})
        if rendered is None or media is None:
            return None
        return rendered, media

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
        except TemplateProblem as exc:
            if exc.problem.file:  # the template file's own problem is reported once, by check_all
                return None
            position = self.located.position(where) if self.located else None
            line = (position.line if position else 0) + exc.problem.line
            self.problems.append(Problem(self.shown, line, 1, exc.problem.message))
            return None
        context = {
            "campaign": campaign.slug,
            "language": language,
            "hashtags": [f"#{tag}" for tag in campaign.hashtags],
            "hashtag": f"#{campaign.hashtags[0]}" if campaign.hashtags else _NO_HASHTAG,
            **variables,
        }
        try:
            source = template.render(context)
        except jinja2.UndefinedError as exc:
            self.error(where, f"{template.name}: {exc.message}; define it under vars:")
            return None
        except Exception as exc:  # a template is code: any error it raises is the template's problem
            self.error(where, f"{template.name}: {exc.__class__.__name__}: {exc}")
            return None
        if not source.strip():
            self.error(where, f"{template.name} renders to an empty message")
            return None
        return markdown.render(source)

    def _media(
        self, spec: PostSpec | LivestreamSpec, path: Path_, targets: list[Channel]
    ) -> tuple[Media, ...] | None:
        if len(spec.media) > MAX_MEDIA:
            self.error((*path, "media"), f"at most {MAX_MEDIA} media files per publication")
            return None
        media = []
        for i, item in enumerate(spec.media):
            where = (*path, "media", i, "file")
            file = self._media_file(item.file, where)
            if file is None:
                continue
            shown = display_path(file)
            try:
                info = images.inspect(file, shown)
            except images.MediaProblem as exc:
                self.error(where, str(exc))
                continue
            wrong = [
                m
                for network in sorted({t.network for t in targets})
                for m in images.problems(info, network, shown)
            ]
            for message in wrong:
                self.error(where, message)
            if not wrong:
                media.append(Media(file, item.alt))
        return tuple(media) if len(media) == len(spec.media) else None

    def _media_file(self, name: str, where: Path_) -> Path | None:
        """The file a media entry names, if it is inside the campaign repository.

        The campaign repository is the directory that holds the schedules directory (the
        campaign file's directory): media may be anywhere in it (``schedules/media/``,
        ``media/`` beside ``schedules/``), never outside it, neither by an absolute path,
        nor by ``..``, nor through a symbolic link. A campaign file from anyone must not
        be able to publish ``/etc/hostname``.
        """
        folder = self.path.parent.resolve()
        repository = f"the campaign repository (the directory that holds {folder.name}/)"
        if Path(name).is_absolute():
            self.error(
                where,
                f"{name!r} is an absolute path; write the path from the campaign file's directory, "
                "e.g. media/affiche.jpg, and keep the file in the campaign repository",
            )
            return None
        if not Path(os.path.normpath(folder / name)).is_relative_to(folder.parent):
            self.error(where, f"{name!r} leads outside {repository}; keep media files inside it")
            return None
        file = (folder / name).resolve()
        if not file.is_relative_to(folder.parent):
            self.error(
                where,
                f"{name!r} is a link to a file outside {repository}; copy the file into the "
                "repository instead",
            )
            return None
        if not file.is_file():
            self.error(
                where, f"media file not found: {display_path(file)} (paths are relative to the campaign file)"
            )
            return None
        return file


def _chat_problem(chat: Any) -> str | None:
    """What is wrong with a Telegram ``chat:``, or None. Never coerced: ``true`` is not user 1."""
    if chat is None:
        return (
            "'chat' has no value; write an @username in quotes, like \"@GautrinWeb2\", or a numeric "
            "chat id, like -1001234567890"
        )
    if isinstance(chat, bool) or not isinstance(chat, str | int):
        return (
            "'chat' must be an @username in quotes, like \"@GautrinWeb2\", or a numeric chat id, "
            f"like -1001234567890; not {shown(chat)}"
        )
    if isinstance(chat, str) and not (_NUMERIC.match(chat) or _TELEGRAM_USERNAME.match(chat)):
        return (
            f"chat {chat!r} is neither an @username nor a numeric chat id; write "
            f'"@{chat.lstrip("@")}" for a public channel or group, or its numeric id, like -1001234567890'
        )
    return None


def _local(moment: datetime, campaign: Campaign) -> str:
    return f"{moment.astimezone(campaign.timezone):%Y-%m-%d %H:%M}"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []

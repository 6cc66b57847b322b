"""Load and validate campaign files, and expand them into rendered publications.

Every problem of every file is collected (never raised one at a time) and reported as
``file:line:column: message``.
"""

from __future__ import annotations

import difflib
import gc
import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ValidationError

from bot import networks
from bot.core import i18n, languages, markdown, translations, zones
from bot.core import media as images
from bot.core.schema import CampaignSpec, Hashtags, LivestreamSpec, ModerationSpec, PostSpec
from bot.core.schema_errors import explain
from bot.core.template_problems import ProblemsOnce, TemplateProblem
from bot.core.templates import SUFFIX, MessageTemplates, byte_position
from bot.core.times import START, TimeError, parse_duration, parse_reminder, parse_time
from bot.core.yamlsource import Located, Path_, Position, YamlSyntaxError, parse
from bot.domain import Campaign, Channel, Media, Moderation, Publication
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
_SEPARATE = "bilingual: separate"


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


@dataclass(slots=True)
class _Item:
    """A post or a livestream as its file gives it: ``specs`` holds it as it reads in
    each of its languages (its text, title, vars… in that language), in their order."""

    path: Path_
    specs: dict[str, PostSpec | LivestreamSpec]
    usable: bool = True  # False: it has a problem already reported; its times are still checked
    together: bool = False  # its languages in one message (bilingual: together)
    languages: tuple[str, ...] = field(init=False)
    first: PostSpec | LivestreamSpec = field(init=False)  # as it reads in its first language

    def __post_init__(self) -> None:
        self.languages = tuple(self.specs)
        self.first = self.specs[self.languages[0]]

    @property
    def kind(self) -> str:
        return "livestream" if isinstance(self.first, LivestreamSpec) else "post"


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
        self.languages: tuple[str, ...] = ("en",)  # the campaign's
        self.languages_known = True  # False: the campaign's languages: are wrong (said)
        self.together = False  # the campaign's bilingual: together
        self.hashtags: dict[str, tuple[str, ...]] | None = None  # hashtags: given per language
        self._hashtag_context: dict[str, dict[str, Any]] = {}  # see _hashtag_vars
        self._every_channel: tuple[Channel, ...] | None = None  # see _targets

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

    def _validate(
        self, model: type[BaseModel], data: Any, prefix: Path_, moved: dict[Path_, Path_] | None = None
    ) -> Any:
        """``data`` (found at ``prefix``) checked against ``model``, or None after saying what
        is wrong. ``moved``: where the values of a post in one of its languages are written
        (``title`` → ``title.en``), so that a problem is shown where the value is."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                comment = self._comment((*prefix, *error["loc"])) if error.get("input") is None else None
                path, on_key, message = explain(
                    error, data, model, prefix=prefix, comment=comment[1] if comment else None
                )
                if moved:
                    path = next(
                        ((*to, *path[len(at) :]) for at, to in moved.items() if path[: len(at)] == at), path
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
        tags = data.get("hashtags")
        top = {**data, "hashtags": []} if isinstance(tags, dict) else data  # a map: checked below
        spec: CampaignSpec | None = self._validate(CampaignSpec, top, ())
        problems = len(self.problems)
        self.languages = self._campaign_languages(spec or CampaignSpec.model_construct(**top))
        self.languages_known = len(self.problems) == problems
        self.together = (spec.bilingual if spec else data.get("bilingual")) == "together"
        self.hashtags = self._hashtags_by_language(tags) if isinstance(tags, dict) else None
        posts = [self._item(PostSpec, raw, ("posts", i)) for i, raw in enumerate(_list(data.get("posts")))]
        streams = [
            self._item(LivestreamSpec, raw, ("livestreams", i))
            for i, raw in enumerate(_list(data.get("livestreams")))
        ]
        campaign = self._campaign(spec or CampaignSpec.model_construct(**top), data)
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
        """A post or livestream, read in each of its languages."""
        if not isinstance(raw, dict):
            self._validate(model, raw, path)
            return None
        written, known = self._item_languages(raw, path)
        usable = known
        several = len(written) > 1 or len(self.languages) > 1  # vars: a map may be per language
        kind = "livestream" if model is LivestreamSpec else "post"
        specs: dict[str, PostSpec | LivestreamSpec] = {}
        valid = True
        for n, language in enumerate(written):
            reading = translations.translated(
                raw, language, written, path, vars_too=several, first=n == 0, kind=kind
            )
            if known:  # (else its languages are wrong: what it lacks in those is beside the point)
                for where, message, on_key in reading.issues:
                    self.error(where, message, key=on_key)
            usable = usable and reading.complete
            spec = self._validate(model, reading.view, path, reading.moved)
            if spec is None:
                valid = False
            else:
                specs[language] = spec
        if not valid:
            return None
        if len(written) > 1 and known:
            usable = self._translated_message(raw, specs, path, kind) and usable
        first = next(iter(specs.values()))
        together = (first.bilingual == "together") if first.bilingual else self.together
        return _Item(path, specs, usable, together)

    def _item_languages(self, raw: dict[str, Any], path: Path_) -> tuple[tuple[str, ...], bool]:
        """The languages of a post or livestream (the campaign's unless it gives its own),
        and whether they are usable (if not, it is still checked in the campaign's)."""
        one, several = raw.get("language"), raw.get("languages")
        if one is None and several is None:
            return self.languages, self.languages_known
        if one is not None and several is not None:
            self.error(
                (*path, "languages"),
                "give either language: (one language) or languages: (several), not both",
                key=True,
            )
            return self.languages, False
        if several is not None:
            found = self._language_list(several, (*path, "languages"))
            return (found, True) if found else (self.languages, False)
        if isinstance(one, str):
            if wrong := languages.problem(one):
                self.error((*path, "language"), wrong)
                return self.languages, False
            return (one,), True
        return self.languages, one is None  # (anything else than text: the schema says so)

    def _language_list(self, value: Any, path: Path_) -> tuple[str, ...] | None:
        """``languages:``, checked: codes Babel knows, each once. None if it is not usable."""
        codes = [value] if isinstance(value, str) else value
        if not isinstance(codes, list) or not all(isinstance(code, str) and code for code in codes):
            return None  # the schema says what is wrong
        if not codes:
            self.error(path, f"'{path[-1]}' is empty; list at least one, e.g. languages: [fr-CA, en]")
            return None
        usable = True
        for i, code in enumerate(codes):
            where = (*path, i) if isinstance(value, list) else path
            if wrong := languages.problem(code):
                self.error(where, wrong)
                usable = False
            elif code in codes[:i]:
                self.error(where, f"language '{code}' is listed twice")
                usable = False
        return tuple(codes) if usable else None

    def _translated_message(
        self, raw: dict[str, Any], specs: dict[str, PostSpec | LivestreamSpec], path: Path_, kind: str
    ) -> bool:
        """Whether a post in several languages has its message in each: a template per
        language (``annonce.fr.md`` and ``annonce.en.md``), or ``text:`` per language."""
        languages_ = tuple(specs)
        if isinstance(raw.get("text"), str):
            self.error(
                (*path, "text"),
                f"this {kind} is in {translations.listed(languages_)}: give its text in each, like "
                f"text: {{{', '.join(f'{lang}: …' for lang in languages_)}}}",
            )
            return False
        name = next(iter(specs.values())).message
        if name is None:
            return True
        complete = True
        for language in languages_:
            found = self.templates.find(name, language)
            if found is None or found == f"{name}{SUFFIX}":
                own = self.templates.candidates(name, language)[:-1]  # (the last has no language)
                create = " or ".join(self.templates.shown(f) for f in own)
                neutral = (
                    f" ({self.templates.shown(found)} has no language: each language needs its own)"
                    if found
                    else ""
                )
                self.error(
                    (*path, "message"),
                    f"no {language} template for '{name}', and this {kind} is in "
                    f"{translations.listed(languages_)}: create {create}{neutral}",
                )
                complete = False
        return complete

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
            hashtags=tuple(dict.fromkeys(tag for tags in self.hashtags.values() for tag in tags))
            if self.hashtags is not None
            else tuple(str(tag).lstrip("#") for tag in usable("hashtags", list) or ()),
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
        one, several = spec.language, spec.languages
        if one is not None and several is not None:
            self.error(
                ("languages",),
                f"give either language: {one} (every post in one language) or languages: "
                "[fr-CA, en] (every post in each), not both",
                key=True,
            )
            return (one,) if isinstance(one, str) and languages.known(one) else ("en",)
        if several is not None:
            return self._language_list(several, ("languages",)) or ("en",)
        language = one if isinstance(one, str) else "en"
        if wrong := languages.problem(language):
            self.error(("language",), wrong)
            language = "en"
        return (language,)

    def _hashtags_by_language(self, value: dict[Any, Any]) -> dict[str, tuple[str, ...]]:
        """``hashtags: {fr-CA: [gautrinweb2], en: [gautrinweb2]}``, checked."""
        found = {}
        for language, tags in value.items():
            if not isinstance(language, str) or (wrong := languages.problem(language)):
                message = wrong if isinstance(language, str) else f"unknown language {language!r}"
                self.error(("hashtags", language), f"{message} (keys of hashtags: are languages)", key=True)
                continue
            checked = self._validate(Hashtags, tags, ("hashtags", language))
            if checked is not None:
                found[language] = tuple(str(tag).lstrip("#") for tag in checked.root)
        return found

    def _zone(self, name: str) -> ZoneInfo | None:
        if name in zones.NOT_PLACES:
            self.error(
                ("timezone",),
                f"'{name}' is not the time zone of a place (it depends on the computer); "
                "write an IANA name like America/Montreal",
            )
            return None
        zone = None
        if "/" in name or name == "UTC":  # tried as written (listing every zone reads them all)
            with suppress(ZoneInfoNotFoundError, ValueError):
                zone = ZoneInfo(name)
        elif name in _zone_names():  # another name only if the tz database lists it
            zone = ZoneInfo(name)
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
        root = self._validate(networks.channel_spec(), raw, ("channels", name))
        if root is None:
            return None
        spec = root.root
        if spec.language is not None and (wrong := languages.problem(spec.language)):
            self.error(("channels", name, "language"), wrong)
            return None
        try:
            return networks.profile(spec.network).channel(name, spec)
        except networks.ChannelProblem as problem:
            self.error(("channels", name, problem.key), problem.message)
            return None

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

    def _targets(self, campaign: Campaign, item: _Item) -> tuple[Channel, ...]:
        names = item.first.to
        if names is None:  # (most posts: every channel, made once)
            if self._every_channel is None:
                self._every_channel = tuple(c for c in campaign.channels.values() if c is not None)
            return self._every_channel
        targets = []
        for i, name in enumerate(names):
            if name not in campaign.channels:
                known = ", ".join(sorted(campaign.channels)) or "none is defined"
                self.error((*item.path, "to", i), f"unknown channel '{name}' (channels: {known})")
            elif (channel := campaign.channels[name]) is not None:  # (else reported already)
                taken = channel.language and translations.channel_language(channel.language, item.languages)
                if channel.language and not taken:
                    self.error(
                        (*item.path, "to", i),
                        f"channel '{name}' takes only {channel.language}, and this {item.kind} is in "
                        f"{translations.listed(item.languages)}; remove it from to:, or add "
                        f"{channel.language} to its languages",
                    )
                targets.append(channel)
        return tuple(targets)

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
        targets: tuple[Channel, ...],
        contexts: dict[str, dict[str, Any]],
        not_after: datetime | None,
    ) -> list[Publication]:
        """The publications of one post (or one reminder of a livestream): its rendering in
        each language, for each channel. ``contexts`` holds each language's variables;
        an id is ``base_id`` and ``tail`` (a reminder's ``@1h``)."""
        if not item.usable:
            return []
        made: dict[str, tuple[markdown.Rendered, tuple[Media, ...]] | None] = {}
        publications = []
        for edition in translations.editions(item.languages, item.together, targets):
            for language in edition.languages:
                if language not in made:
                    made[language] = self._rendering(
                        campaign, item.specs[language], item.path, language, contexts[language], targets
                    )
            renderings = [r for language in edition.languages if (r := made[language]) is not None]
            if len(renderings) < len(edition.languages):
                continue
            pub_id = f"{base_id}{edition.suffix}{tail}"
            publications.extend(self._edition(campaign, item, pub_id, edition, renderings, at, not_after))
        return publications

    def _edition(
        self,
        campaign: Campaign,
        item: _Item,
        pub_id: str,
        edition: translations.Edition,
        renderings: list[tuple[markdown.Rendered, tuple[Media, ...]]],
        at: datetime,
        not_after: datetime | None,
    ) -> list[Publication]:
        """The publications of one edition of a post, one per channel, each checked
        against its network's length limit. Several languages together make one message;
        its media are the first language's files, with each language's alt text."""
        spec = item.specs[edition.languages[0]]
        rendered, media = renderings[0]
        warning = spec.warning
        if len(renderings) > 1:
            rendered = translations.joined([r for r, _ in renderings])
            media = tuple(
                Media(m.path, translations.together_text([other[i].alt for _, other in renderings]) or m.alt)
                for i, m in enumerate(media)
            )
            warning = translations.together_text([item.specs[lang].warning for lang in edition.languages])
        publications = []
        html = networks.Flavour.HTML  # (an enum member is slow to look up: once, not per channel)
        for channel in edition.channels:
            network = networks.profile(channel.network)
            if network.flavour is html:
                text, displayed = rendered.html, rendered.html_shown
            else:
                text = displayed = rendered.plain
            size = network.length(displayed, warning)
            limit = network.limit(channel, bool(media))
            if size > limit:
                what = network.what(bool(media))
                both = translations.listed(edition.languages) if len(edition.languages) > 1 else ""
                self.error(
                    (*item.path, "message" if spec.message else "text"),
                    f"'{pub_id}' is too long for {channel.name}: the {channel.network} {what} "
                    + (f"with {both} together " if both else "")
                    + f"has {size} characters, the limit is {limit}"
                    + (f"; shorten it, or publish each language on its own ({_SEPARATE})" if both else ""),
                )
                continue
            publications.append(
                _publication(
                    campaign=campaign.slug,
                    id=pub_id,
                    channel=channel,
                    at=at,
                    timezone=campaign.timezone,
                    text=text,
                    length=size,
                    limit=limit,
                    language=edition.languages[0],
                    media=media,
                    warning=warning,
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
        targets: tuple[Channel, ...],
    ) -> tuple[markdown.Rendered, tuple[Media, ...]] | None:
        """The message of ``spec`` in ``language``, and its media, checked."""
        media = self._media(spec, path, targets) if spec.media else ()
        reserved = LIVESTREAM_VARS if isinstance(spec, LivestreamSpec) else POST_VARS
        if not reserved.isdisjoint(spec.vars) and (clash := sorted(reserved & spec.vars.keys())):
            self.error(
                (*path, "vars", clash[0]), f"'{clash[0]}' is set by Relais; choose another name", key=True
            )
            return None
        rendered = self._render(campaign, spec, path, language, context)
        if rendered is None or media is None:
            return None
        return rendered, media

    def _render(
        self,
        campaign: Campaign,
        spec: PostSpec | LivestreamSpec,
        path: Path_,
        language: str,
        context: dict[str, Any],
    ) -> markdown.Rendered | None:
        """``spec``'s message rendered in ``language``; its ``vars``, then ``context`` (what
        Relais sets: its time, a livestream's title…), over the campaign's names."""
        if (spec.message is None) == (spec.text is None):
            self.error(
                path,
                "give either 'message:' (a template in messages/) or 'text:', not both"
                if spec.message
                else "give either 'message:' (a template in messages/) or 'text:'",
            )
            return None
        where = (*path, "message" if spec.message else "text")
        variables = {**self._hashtag_vars(campaign, language), **spec.vars, **context}
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
            source = template.render(variables)
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

    def _hashtag_vars(self, campaign: Campaign, language: str) -> dict[str, Any]:
        """The names every template in ``language`` sees: ``campaign``, ``language``, and
        ``hashtags`` and ``hashtag``: the campaign's, or that language's when ``hashtags:``
        is given per language. Made once per language (templates cannot change them: the
        sandbox is immutable, and rendering copies them)."""
        if language not in self._hashtag_context:
            if self.hashtags is None:
                tags = campaign.hashtags
            else:
                key = next((k for k in self.hashtags if translations.names(k, language)), None)
                tags = self.hashtags[key] if key else ()
            shown = [f"#{tag}" for tag in tags]
            # Without one, ``hashtag`` is undefined like any name not set (template_problems
            # says to add one).
            self._hashtag_context[language] = {
                "campaign": campaign.slug,
                "language": language,
                "hashtags": shown,
                **({"hashtag": shown[0]} if shown else {}),
            }
        return self._hashtag_context[language]

    def _media(
        self, spec: PostSpec | LivestreamSpec, path: Path_, targets: Sequence[Channel]
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


# What ``_publication`` may skip: a Publication's __init__ does nothing but set its fields.
_PUBLICATION_FIELDS = frozenset(Publication.__dataclass_fields__)
_PUBLICATION_PLAIN = not hasattr(Publication, "__post_init__") and "__slots__" not in vars(Publication)


def _publication(**fields: Any) -> Publication:
    """``Publication(**fields)``, three times faster. A frozen dataclass's __init__ sets each
    field through ``object.__setattr__`` (the cost Python's documentation gives for
    ``frozen=True``), and a big plan makes 10,000 of them: when every field is given and
    the class still has nothing else for __init__ to do, they are put in place at once
    (``tests/test_fast_paths.py`` compares both ways)."""
    if not _PUBLICATION_PLAIN or fields.keys() != _PUBLICATION_FIELDS:
        return Publication(**fields)
    made = object.__new__(Publication)
    made.__dict__.update(fields)
    return made


def _local(moment: datetime, campaign: Campaign) -> str:
    return f"{moment.astimezone(campaign.timezone):%Y-%m-%d %H:%M}"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []

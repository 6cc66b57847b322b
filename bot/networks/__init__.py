"""What each network means to Relais, written once: the registry of network profiles.

A profile says, for one network, how a campaign file names it and its channels (checked at
validation), which text flavour it takes, how it counts length and what its limits are,
which images it takes, whether a send that may have gone out can be sent again safely and
for how long, how its secrets look (for redaction), which settings it takes (its credentials),
whether the staff's alerts can go through it, what ``relais check`` judges of it, which
libraries' loggers are quieted, and which adapter package talks to it.
Everything that differs between networks asks the registry; nothing outside a network's
profile and its adapter package names it.

Adding a network: a profile module here, an adapter package in ``bot/adapters/``, and one
``register`` line at the bottom of this module. Looking up a network that is not registered
is an error (``UnknownNetwork``), never a fallback to another network's rules.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints, create_model

from bot.domain import Campaign, Channel

if TYPE_CHECKING:
    from bot.findings import Finding


class Flavour(StrEnum):
    """The text a network takes; the renderer (``bot.core.markdown``) makes both."""

    HTML = "html"  # escaped text with <b>, <i>, <a href>; counted once the markup is parsed
    PLAIN = "plain"  # a link written "text (url)"


class UnknownNetwork(LookupError):
    """A network no profile is registered for."""

    def __init__(self, name: object) -> None:
        super().__init__(f"unknown network {name!r}; the networks Relais knows are {', '.join(names())}")
        self.name = name


class ChannelProblem(ValueError):
    """What is wrong with one key of a channel in a campaign file (``key``), said so that the
    user knows what to write instead."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class ChannelSpec(BaseModel):
    """The base of each network's channel model: every key checked, unknown keys refused.
    Each subclass declares ``network: Literal["<its name>"]`` first."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ImageInfo:
    """What an image file really is (read by ``bot.core.media``)."""

    format: str  # Pillow's name: JPEG, PNG, GIF, WEBP, BMP…
    size: int  # bytes
    width: int
    height: int


@dataclass(frozen=True)
class Pacing:
    """How fast a network's acknowledgements may go: ``burst`` back to back after a quiet
    while, then one every ``every`` seconds."""

    burst: int
    every: float


class Profile(ABC):
    """One network, as the rest of Relais needs to know it. Subclasses set the attributes
    and implement the methods; one instance of each is registered."""

    name: str  # as campaign files write it: ``network: telegram``
    title: str  # as people write it, in messages: "Telegram"
    flavour: Flavour
    adapter: str  # the module of its adapter package, imported by composition alone
    channel_spec: type[ChannelSpec]  # the keys of one of its channels in a campaign file
    # How long after a request that may have published a post it can be sent again without
    # publishing it twice (the server remembers its idempotency key that long); None: never.
    repeat_window: timedelta | None = None
    acknowledgements: Pacing = Pacing(burst=5, every=3.0)
    # Its settings (``RELAIS_<NAME>``: credentials, servers), each field checked as it is read;
    # ``bot.settings`` reads them with its own, and a ``SecretStr`` field is a secret to redact.
    settings: type[BaseModel] | None = None
    # Loggers of the libraries its adapter uses that are chatty below WARNING, some of them
    # with secrets in what they say (``bot.logs`` quiets them).
    quiet_loggers: tuple[str, ...] = ()
    # Whether a reply can be looked up again, one by one, as it is now (its reader is then a
    # ``ports.TimelineSource``): an export looks each one up before writing it.
    lookups: bool = False
    # The settings it cannot work without, as messages name them.
    credentials: tuple[str, ...] = ()
    # What to do for the staff to be told of publications gone wrong through this network
    # (the fix ``relais check`` gives when no network has an alert chat); None: it tells none.
    alert_setup: str | None = None

    @abstractmethod
    def channel(self, name: str, spec: Any) -> Channel:
        """The channel ``name`` a campaign file describes with ``spec`` (an instance of
        ``channel_spec``, checked already); raises ``ChannelProblem``."""

    @abstractmethod
    def length(self, shown: str, warning: str | None = None) -> int:
        """How long the network counts a message: ``shown`` is its text as people see it (an
        HTML flavour's text once the markup is parsed), ``warning`` its content warning."""

    @abstractmethod
    def limit(self, channel: Channel, media: bool) -> int:
        """The longest message ``channel`` takes (with media: its caption)."""

    def what(self, media: bool) -> str:
        """What one message is called, in a message about its length."""
        return "message"

    def image_problems(self, info: ImageInfo, shown: str) -> list[str]:
        """What the network would refuse in this image (``shown``: its path, for the user),
        each with what to do."""
        return []

    @abstractmethod
    async def check(self, inspector: Any, campaigns: Sequence[Campaign], settings: Any) -> list[Finding]:
        """``relais check`` of this network: ``inspector`` (its adapter's, from ``settings``)
        answers questions that publish nothing, and this judges the answers against what
        ``campaigns`` need, each problem with its fix."""

    def copy_fingerprint(self, text: str) -> str | None:
        """What a publication's ``text`` (as rendered) says in the copy the network makes of the
        post where the bot reads (a channel post forwarded into its discussion group): a send in
        doubt is settled by looking for it (``bot.services.doubts``). None: no such copy."""
        return None

    def message_url(self, chat: str | int | None, remote_id: str) -> str | None:
        """The public link of message ``remote_id`` in ``chat``, where one can be made."""
        return None

    def linked_id(self, url: str) -> str | None:
        """The remote id of the post ``url`` links to, where a link says it (None: it does not)."""
        return None

    def author_url(self, handle: str) -> str | None:
        """The address of an author's profile, from their handle, where it says one."""
        return None

    def alert_chat(self, settings: Any) -> str | None:
        """The chat ``settings`` (the bot's) name for the staff's alerts on this network, or None."""
        return None

    def redact(self, text: str) -> str:
        """``text`` with the network's secrets, recognised by their shape, replaced by
        ``bot.redact.REDACTED`` (``bot.logs`` applies it to every log record)."""
        return text

    def __repr__(self) -> str:
        return f"<network profile {self.name}>"


_profiles: dict[str, Profile] = {}


def register(profile: Profile) -> None:
    """Make ``profile`` known (its name must be new)."""
    if profile.name in _profiles:
        raise ValueError(f"network {profile.name!r} is registered already")
    _profiles[profile.name] = profile
    channel_spec.cache_clear()
    settings_model.cache_clear()


def unregister(name: str) -> None:
    """Forget a network (for tests that register one of their own)."""
    del _profiles[name]
    channel_spec.cache_clear()
    settings_model.cache_clear()


def profile(name: str) -> Profile:
    """The profile of the network called ``name``; ``UnknownNetwork`` if there is none."""
    try:
        return _profiles[name]
    except (KeyError, TypeError):
        raise UnknownNetwork(name) from None


def find(name: str) -> Profile | None:
    """The profile of ``name``, or None: for what the store holds of a network that may no
    longer be registered (what comes from campaigns goes through ``profile``)."""
    return _profiles.get(name)


def registered() -> tuple[Profile, ...]:
    """Every profile, in the order they were registered."""
    return tuple(_profiles.values())


def names() -> tuple[str, ...]:
    return tuple(_profiles)


def with_lookups() -> tuple[Profile, ...]:
    """The networks whose replies can be looked up again (``Profile.lookups``)."""
    return tuple(p for p in _profiles.values() if p.lookups)


def titles(profiles: Iterable[Profile] | None = None) -> str:
    """The networks (``profiles``, or every one) as a message names them: "Telegram and Mastodon"."""
    shown = [p.title for p in (_profiles.values() if profiles is None else profiles)]
    return " and ".join(shown) if len(shown) < 3 else f"{', '.join(shown[:-1])} and {shown[-1]}"


@lru_cache(maxsize=1)
def channel_spec() -> type[RootModel[Any]]:
    """A channel of any registered network: the union of their models, told apart by
    ``network`` (pydantic then says which network is unknown, or missing)."""
    specs = tuple(p.channel_spec for p in _profiles.values())
    one: Any = specs[0] if len(specs) == 1 else Annotated[Union[specs], Field(discriminator="network")]  # noqa: UP007
    model: type[RootModel[Any]] = RootModel[one]
    return model


@lru_cache(maxsize=1)
def settings_model() -> type[BaseModel]:
    """The settings of every registered network in one model, in the order they were
    registered (``bot.settings.Settings`` reads them with its own)."""
    models = [p.settings for p in _profiles.values() if p.settings is not None]
    if not models:
        return BaseModel
    # Pydantic orders fields from the last base to the first: the first network's come first.
    return create_model("NetworkSettings", __base__=tuple(reversed(models)))


# The networks Relais knows, one line each.
from bot.networks import mastodon, telegram  # noqa: E402 (they subclass Profile, above)

register(telegram.PROFILE)
register(mastodon.PROFILE)

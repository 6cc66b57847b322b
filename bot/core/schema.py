"""The shape of a campaign file, as pydantic models. Meaning is checked in ``campaigns``; a
channel's shape is its network's (``bot.networks``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, StringConstraints

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MediaSpec(_Strict):
    file: NonEmpty
    alt: NonEmpty


def _one_or_many(value: Any) -> Any:
    """``to: telegram`` means ``to: [telegram]``."""
    return [value] if isinstance(value, str) else value


Languages = Annotated[list[NonEmpty] | None, BeforeValidator(_one_or_many)]
# ``separate``: each language its own publication; ``together``: one message with them all.
Bilingual = Literal["separate", "together"]


class _Publishable(_Strict):
    id: Slug
    to: Annotated[list[str] | None, BeforeValidator(_one_or_many)] = None
    message: NonEmpty | None = None
    text: NonEmpty | None = None
    # (Factories rather than ``{}`` and ``[]``: a mutable default is deep-copied for each
    # post, which showed in the profile of a 10,000-publication campaign.)
    vars: dict[str, Any] = Field(default_factory=dict)
    media: list[MediaSpec] = Field(default_factory=list)
    warning: str | None = None
    language: str | None = None
    languages: Languages = None  # this one's languages, instead of the campaign's
    bilingual: Bilingual | None = None


class PostSpec(_Publishable):
    at: str


class LivestreamSpec(_Publishable):
    title: NonEmpty
    starts: str
    ends: str
    where: str | None = None
    url: str | None = None
    remind: list[str] = Field(default_factory=lambda: ["1d", "1h", "10m", "start"])


Hashtag = Annotated[str, StringConstraints(pattern=r"^#?\w+$")]


class Hashtags(RootModel[Annotated[list[Hashtag], BeforeValidator(_one_or_many)]]):
    """The hashtags of one language, in ``hashtags: {fr-CA: [...], en: [...]}``."""


class ModerationSpec(_Strict):
    banned_words: list[NonEmpty] = []
    hold_links: bool = True


class CampaignSpec(_Strict):
    """The top of a campaign file; ``posts`` and ``livestreams`` items are checked one by
    one (``PostSpec``, ``LivestreamSpec``) so that one bad post hides nothing else."""

    campaign: Slug
    timezone: NonEmpty
    language: NonEmpty | None = None  # one language (en when neither this nor languages is given)
    languages: Languages = None  # or several: each post is written in each
    bilingual: Bilingual = "separate"
    # Or a map of languages to lists: checked by the loader, as Hashtags each.
    hashtags: list[Hashtag] = Field(default_factory=list)
    channels: Annotated[dict[Slug, Any], Field(min_length=1)]  # each one is a ChannelSpec
    posts: list[Any] = []
    livestreams: list[Any] = []
    grace: str = "15m"
    acknowledge: bool = False
    moderation: ModerationSpec = ModerationSpec()

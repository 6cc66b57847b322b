"""``relais check`` for Mastodon: what the adapter's inspector answers (``MastodonInspector``:
questions to the instance that post nothing, facts only), judged against what the campaigns
need: the token and its scopes, the account's bot flag, the instance's limits against what
the campaigns post."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from bot.domain import Campaign, Publication
from bot.findings import Finding, Level, Unreachable, ask
from bot.networks import mastodon as mastodon_profile

T = TypeVar("T")
SERVER = "RELAIS_MASTODON_URL"  # the setting a server that does not answer is named by
_SHOWN = 5  # publications named in one finding; the rest counted


@dataclass(frozen=True)
class MastodonAccountInfo:
    acct: str
    bot: bool  # marked as an automated account


@dataclass(frozen=True)
class MastodonLimits:
    """The instance's configuration (``GET /api/v2/instance``); None where it says nothing."""

    version: str | None
    max_characters: int | None
    characters_reserved_per_url: int | None
    max_media_attachments: int | None
    image_size_limit: int | None
    video_size_limit: int | None
    supported_mime_types: tuple[str, ...] | None


class MastodonInspector(Protocol):
    """Questions to the instance that post nothing. A refused token comes back as
    ``PermanentError``; an unreachable server as ``TemporaryError``."""

    async def account(self) -> MastodonAccountInfo: ...

    async def scopes(self) -> tuple[str, ...] | None:
        """The token's scopes; None when the instance does not say (before Mastodon 4.3)."""
        ...

    async def limits(self) -> MastodonLimits | None:
        """None when the instance has no ``/api/v2/instance`` (before Mastodon 4.0)."""
        ...

    async def close(self) -> None: ...


READ_SCOPES = ("read:accounts", "read:statuses", "read:notifications")


def mastodon_scopes(campaigns: Sequence[Campaign]) -> list[str]:
    """The scopes Relais uses with these campaigns: reading the account, the hashtags, the
    mentions and the replies; posting; uploading media if a post has some; favouriting if a
    campaign acknowledges replies."""
    pubs = _mastodon_publications(campaigns)
    needed = [*READ_SCOPES, "write:statuses"]
    if any(p.media for p in pubs):
        needed.append("write:media")
    ours = [c for c in campaigns if any(ch.network == mastodon_profile.NAME for ch in c.channels.values())]
    if any(c.acknowledge for c in ours):
        needed.append("write:favourites")
    return needed


async def check_mastodon(inspector: MastodonInspector, campaigns: Sequence[Campaign]) -> list[Finding]:
    """The token and its scopes, the account's bot flag, the instance's limits against what
    the campaigns post."""
    try:
        account = await _ask("mastodon", inspector.account)
    except Unreachable as error:
        return [error.finding]
    findings = [Finding(Level.OK, "mastodon", f"the token works: @{account.acct}")]
    if not account.bot:
        findings.append(
            Finding(
                Level.WARNING,
                "mastodon",
                f"@{account.acct} is not marked as a bot",
                'tick "This is an automated account" in Preferences > Profile on the instance, so '
                "that people know posts and favourites come from a bot",
            )
        )
    try:
        scopes = await _ask("mastodon", inspector.scopes)
        limits = await _ask("mastodon", inspector.limits)
    except Unreachable as error:
        return [*findings, error.finding]
    findings.append(_scopes(scopes, mastodon_scopes(campaigns)))
    findings += _limits(limits, _mastodon_publications(campaigns))
    return findings


def _scopes(granted: tuple[str, ...] | None, needed: Sequence[str]) -> Finding:
    if granted is None:
        return Finding(
            Level.WARNING,
            "mastodon",
            "the instance does not say which scopes the token has (Mastodon before 4.3)",
            f"make sure the token's application has {' '.join(needed)} (or read and write)",
        )
    missing = [s for s in needed if s not in granted and s.split(":", 1)[0] not in granted]
    if not missing:
        return Finding(Level.OK, "mastodon", f"the token has the scopes Relais uses ({' '.join(granted)})")
    return Finding(
        Level.ERROR,
        "mastodon",
        f"the token lacks the scope(s) {', '.join(missing)}",
        "in Preferences > Development on the instance, give the application the scopes "
        f"{' '.join(needed)} (or read and write), then put its new access token in RELAIS_MASTODON_TOKEN",
    )


def _limits(limits: MastodonLimits | None, pubs: Sequence[Publication]) -> list[Finding]:
    if limits is None:
        return [
            Finding(
                Level.WARNING,
                "mastodon",
                "the instance does not publish its limits (no /api/v2/instance: Mastodon before 4.0)",
                "check by hand that it takes 500 characters a post and the campaigns' media",
            )
        ]
    findings: list[Finding] = []
    url_length = limits.characters_reserved_per_url or mastodon_profile.URL_LENGTH
    maximum = limits.max_characters or mastodon_profile.DEFAULT_LIMIT
    assumed = {p.channel.max_characters or mastodon_profile.DEFAULT_LIMIT for p in pubs}
    too_long = [
        (p, n) for p in pubs if (n := mastodon_profile.length(p.text, p.warning or "", url_length)) > maximum
    ]
    if too_long:
        findings.append(
            Finding(
                Level.ERROR,
                "mastodon",
                f"the instance takes {maximum} characters a post (a link counts {url_length}) and "
                f"{len(too_long)} post(s) are longer: " + _named([f"{p.key} ({n})" for p, n in too_long]),
                "shorten them, or set the channel's max_characters to the instance's limit so that "
                "relais validate checks it",
            )
        )
    elif assumed and max(assumed) > maximum:
        findings.append(
            Finding(
                Level.WARNING,
                "mastodon",
                f"the campaigns assume {max(assumed)} characters a post; the instance takes {maximum}",
                f"set the channel's max_characters to {maximum}",
            )
        )
    most = limits.max_media_attachments
    crowded = [p.key for p in pubs if most is not None and len(p.media) > most]
    if crowded:
        findings.append(
            Finding(
                Level.ERROR,
                "mastodon",
                f"the instance takes {most} media a post; more in: " + _named(crowded),
                f"keep at most {most} media in each",
            )
        )
    findings += _media(limits, pubs)
    if not findings:
        summary = f"{maximum} characters a post (a link counts {url_length})"
        if most is not None:
            summary += f", {most} media"
        if limits.image_size_limit:
            summary += f", images up to {limits.image_size_limit // 2**20} MB"
        findings.append(Finding(Level.OK, "mastodon", f"the instance takes every post: {summary}"))
    return findings


def _media(limits: MastodonLimits, pubs: Sequence[Publication]) -> list[Finding]:
    refused: dict[Path, str] = {}
    for p in pubs:
        for item in p.media:
            if item.path in refused:
                continue
            kind = mimetypes.guess_type(item.path.name)[0]
            if limits.supported_mime_types is not None and kind not in limits.supported_mime_types:
                refused[item.path] = (
                    f"{item.path.name} ({kind or 'unknown type'}: the instance does not take it)"
                )
                continue
            cap = limits.video_size_limit if kind and kind.startswith("video/") else limits.image_size_limit
            try:
                size = os.stat(item.path).st_size
            except OSError:
                continue  # relais validate says so
            if cap is not None and size > cap:
                refused[item.path] = (
                    f"{item.path.name} ({size // 2**20} MB, the instance takes {cap // 2**20} MB)"
                )
    if not refused:
        return []
    return [
        Finding(
            Level.ERROR,
            "mastodon",
            "the instance refuses media of the campaigns: " + _named(list(refused.values())),
            "make them smaller or convert them (JPEG, PNG, MP4)",
        )
    ]


def _mastodon_publications(campaigns: Sequence[Campaign]) -> list[Publication]:
    return [p for c in campaigns for p in c.publications if p.channel.network == mastodon_profile.NAME]


def _named(items: Sequence[str]) -> str:
    more = len(items) - _SHOWN
    return ", ".join(items[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


async def _ask(subject: str, question: Callable[[], Awaitable[T]]) -> T:
    return await ask(subject, question, server=SERVER, fixes=_fix_for)


def _fix_for(message: str) -> str | None:
    if "RELAIS_MASTODON_TOKEN" in message:
        return "create an access token in Preferences > Development, put it in RELAIS_MASTODON_TOKEN"
    if "outside the authorized scopes" in message:
        return "give the token's application the scopes read and write (Preferences > Development)"
    return None

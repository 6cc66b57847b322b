"""The light part of composition: a network's adapter by name, the error that says the
setup must be fixed, and what looks an export's replies up again.

``bot.app`` builds the running bot on these. ``relais export`` and the desk need only them,
and import this module rather than ``bot.app``, which brings the scheduler, the campaigns
and the templates with it: a third of ``relais export``'s start.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from bot import networks
from bot.clock import SystemClock
from bot.ports import Adapter

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.store.handle import Store


class SetupError(Exception):
    """The bot cannot start; the message says what to fix."""


class StoreBusy(SetupError):
    """Another ``relais run`` holds this SQLite store."""


def adapter(network: str) -> Adapter:
    """The adapter package of a registered network (``UnknownNetwork`` for any other),
    imported when first needed: nothing of a network's library is loaded before. Its
    functions are taken from its ``ADAPTER`` where it has one (a submodule named like one of
    them replaces the package's attribute once imported)."""
    package = importlib.import_module(networks.profile(network).adapter)
    return cast(Adapter, getattr(package, "ADAPTER", package))


def export_checker(settings: Settings) -> Callable[..., Any]:
    """What looks an export's replies up again before it is written (``relais export``, the
    desk): ``await check(store, comments, progress)`` gives ``bot.services.export.verify``'s
    answer, with the reader the settings give for each network whose replies can be looked
    up (``Profile.lookups``), the gone replies removed from ``store``. Raises ``SetupError``
    when some need looking up and there is no account to do it with, or one cannot be
    looked up."""

    async def check(
        store: Store, comments: list[Any], progress: Callable[[int, int], None] = lambda done, total: None
    ) -> Any:
        from bot.services.export import NotVerified, Verified, verify

        kept, checked, removed = list(comments), 0, 0
        for profile in networks.with_lookups():
            if not any(c.network == profile.name for c in kept):
                continue
            source = adapter(profile.name).reader(settings)
            if source is None:
                unset = " or ".join(profile.credentials)
                raise SetupError(
                    f"the export holds {profile.title} replies, which are looked up again before an export, "
                    f"but {unset} is not set: set {'them' if len(profile.credentials) > 1 else 'it'}, "
                    "or export with --no-verify"
                )
            try:
                verified = await verify(store, kept, cast(Any, source), SystemClock(), progress=progress)
            except NotVerified as error:
                raise SetupError(str(error)) from None
            finally:
                await source.close()
            kept, checked, removed = verified.comments, checked + verified.checked, removed + verified.removed
        return Verified(kept, checked=checked, removed=removed)

    return check


async def verify_export(
    settings: Settings, url: str, comments: list[Any], progress: Callable[[int, int], None]
) -> Any:
    """``export_checker`` on the store at ``url``: the replies of ``comments`` still there."""
    from bot.store.handle import Store

    with Store.open(url) as store:
        return await export_checker(settings)(store, comments, progress)

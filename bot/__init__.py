"""Relais: publishes campaign posts to Telegram and Mastodon and collects the replies.

Layers, from the bottom up; a module imports only from its own layer or those below
(``tests/test_layers.py`` checks it):

1. ``bot.domain``, ``bot.clock``, ``bot.problems``, ``bot.channels``: plain typed
   objects and the protocols networks are seen through (``Sender``, ``MastodonSource``,
   ``TelegramSource``), no I/O.
2. ``bot.core``: loading and validating ``schedules/``, rendering ``messages/``.
   ``bot.store``: the ledger of publications, the comment store and the acknowledgement
   queue (SQLAlchemy, Alembic).
3. ``bot.services``: publishing, timers, collecting, moderation rules, acknowledging,
   export; they see networks only through the protocols of ``bot.channels``.
4. ``bot.adapters``: one module per network (plus the console); each is the only module
   that imports its network's library, and none imports the store or a service.
5. ``bot.settings``, ``bot.logs``, ``bot.app`` and ``bot.cli``: read settings once and
   wire it all up.
"""

__version__ = "0.1.0"

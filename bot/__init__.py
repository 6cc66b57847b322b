"""Relais: publishes campaign posts to Telegram and Mastodon and collects the replies.

Layers; a module imports only from its own layer or those below it (``tests/test_layers.py``
checks it):

1. The base: ``bot.domain``, ``bot.clock``, ``bot.problems`` (plain typed objects, no I/O)
   and ``bot.ports``, what the services need from a network: the ``Sender`` protocol, the
   sources replies are read from, ``OnWire``, and the errors a network's failures become.
2. ``bot.core``: loading and validating ``schedules/``, rendering ``messages/``.
   ``bot.store``: the ledger of publications, the comment store and the acknowledgement
   queue (SQLAlchemy, Alembic).
3. The two sides of the ports, which never import each other:
   ``bot.services`` (publishing, timers, collecting, moderation rules, acknowledging,
   export) use networks only through ``bot.ports``; ``bot.adapters`` (one module per
   network, plus the console) implement them, each the only module that imports its
   network's library, and none imports the store or a service.
4. ``bot.settings``, ``bot.logs``, ``bot.app`` and ``bot.cli``: read settings once and
   wire it all up.
"""

__version__ = "0.1.0"

"""Relais: publishes campaign posts to Telegram and Mastodon and collects the replies.

Layers; a module imports only from its own layer or those below it (``tests/test_layers.py``
checks it):

1. The base: ``bot.domain``, ``bot.clock``, ``bot.problems``, ``bot.findings`` (plain typed
   objects, no I/O) and ``bot.ports``, what the services need from a network: the ``Sender``
   protocol, the sources replies are read from, ``OnWire``, and the errors a network's
   failures become.
2. ``bot.networks``: what each network means (its limits and how it counts length, its text
   flavour, whether a send may be repeated and for how long, its channels' keys, the shape
   of its secrets), one profile each, in a registry; an unknown network is an error.
3. ``bot.core``: loading and validating ``schedules/``, rendering ``messages/``.
   ``bot.store``: the ledger of publications, the comment store and the acknowledgement
   queue (SQLAlchemy, Alembic).
4. The two sides of the ports, which never import each other:
   ``bot.services`` (publishing, timers, collecting, moderation rules, acknowledging,
   export) use networks only through ``bot.ports``; ``bot.adapters`` implement them, one
   package per network (plus the console), each the only one that imports its network's
   library, none importing the store or a service.
5. ``bot.settings``, ``bot.logs``, ``bot.wiring``, ``bot.app`` and ``bot.cli``: read
   settings once and wire it all up. ``bot.wiring`` is the part that needs neither the
   scheduler nor the campaigns (an adapter by name, the export's lookups); ``bot.app``
   iterates the registered networks, asking each one's adapter package (``ports.Adapter``)
   for its sender, its reader, its collecting loop, its alerts and its inspector, and each
   one's profile what ``relais check`` makes of the answers.

Adding a network: a profile in ``bot/networks/`` (with its settings, its credentials; its
``relais check`` there too, or in a ``<name>_check`` module beside it), an adapter package
in ``bot/adapters/``, and a line in ``bot/networks/__init__.py`` that registers it. Nothing
else names it (``tests/test_layers.py`` checks it).
"""

__version__ = "0.1.0"
